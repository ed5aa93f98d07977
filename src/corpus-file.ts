/**
 * Reading one corpus file without trusting the filesystem. Only a regular file is read (lstat,
 * then the opened descriptor checked again: a name swapped for a FIFO or a symlink between the two
 * is caught), opened with O_NONBLOCK so a FIFO cannot block and O_NOFOLLOW so a symlink (to
 * `/dev/zero`, to itself, to nothing) is never followed, and at most `limitBytes + 1` bytes are
 * read, so nothing at an entry's path can make dmaprop hang or grow without bound. Every failure is
 * an answer naming what is wrong, never an exception.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readlinkSync, readSync } from 'node:fs';
import type { Stats } from 'node:fs';

/** Entries are a few kilobytes; a megabyte is far past any real one and cheap to read. */
export const ENTRY_LIMIT_BYTES = 1024 * 1024;

export type FileRead = { readonly text: string } | { readonly problem: string };

/** An fs error in words, without the path (the caller names the file): `EACCES: permission denied`. */
export function describeFsError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.message.replace(/, \w+ '.*'$/s, '');
}

function kindOf(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isSymbolicLink()) return 'a symbolic link';
  if (stats.isFIFO()) return 'a FIFO (named pipe)';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isSocket()) return 'a socket';
  return 'not a regular file';
}

/** Why the object at `path` (whose lstat is `stats`) is not read: what it is instead. */
export function notRegularFile(path: string, stats: Stats): string {
  if (stats.isSymbolicLink()) {
    let target: string;
    try {
      target = `'${readlinkSync(path)}'`;
    } catch (error) {
      target = `unknown (${describeFsError(error)})`;
    }
    return `a symbolic link to ${target}, not a regular file (links are not followed)`;
  }
  return `${kindOf(stats)}, not a regular file`;
}

function tooLarge(sizeBytes: number | string, limitBytes: number): string {
  return `${sizeBytes} bytes, over the ${limitBytes}-byte limit of a corpus entry`;
}

// Absent on Windows; there a symlink or FIFO is still caught by lstat and fstat.
const O_NOFOLLOW = constants.O_NOFOLLOW ?? 0;
const O_NONBLOCK = constants.O_NONBLOCK ?? 0;
const CHUNK_BYTES = 64 * 1024;

/** The text of the regular file at `path`, or why it cannot be a corpus entry. */
export function readEntryText(path: string, limitBytes = ENTRY_LIMIT_BYTES): FileRead {
  let stats: Stats;
  try {
    stats = lstatSync(path);
  } catch (error) {
    return { problem: `cannot read: ${describeFsError(error)}` };
  }
  if (!stats.isFile()) return { problem: notRegularFile(path, stats) };
  if (stats.size > limitBytes) return { problem: tooLarge(stats.size, limitBytes) };
  let descriptor: number;
  try {
    descriptor = openSync(path, constants.O_RDONLY | O_NONBLOCK | O_NOFOLLOW);
  } catch (error) {
    return { problem: `cannot read: ${describeFsError(error)}` };
  }
  try {
    const opened = fstatSync(descriptor);
    if (!opened.isFile()) return { problem: `${kindOf(opened)}, not a regular file (replaced while being opened)` };
    const chunks: Buffer[] = [];
    let total = 0;
    // Read to the end, but never past limit + 1 bytes: a file that grows while read is still bounded.
    while (total <= limitBytes) {
      const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, limitBytes + 1 - total));
      const count = readSync(descriptor, chunk, 0, chunk.length, null);
      if (count === 0) break;
      chunks.push(chunk.subarray(0, count));
      total += count;
    }
    if (total > limitBytes) return { problem: tooLarge(`more than ${limitBytes}`, limitBytes) };
    try {
      return { text: new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, total)) };
    } catch {
      return { problem: 'not UTF-8 text' };
    }
  } catch (error) {
    return { problem: `cannot read: ${describeFsError(error)}` };
  } finally {
    closeSync(descriptor);
  }
}
