/**
 * Saving an entry without trusting what is already on disk.
 *
 * The entry is written to a temporary file in its directory and synced, then hard-linked to its
 * name: link(2) fails with EEXIST when the name exists, so of several processes saving the same
 * entry at once exactly one adds it and the others find it present. Whatever is at the entry's
 * path is read with the corpus's safe reader and counts as present only if it parses and is the
 * same finding (same canonical identity); anything else there (empty, truncated, another entry,
 * a symlink, a FIFO, an empty directory) is damaged, and is replaced atomically by rename(2),
 * reported as `repaired` with the reason. Stale temporary files of killed saves in the directory
 * are removed and reported.
 *
 * Left out: two processes repairing the same damaged file at once both report `repaired` (they
 * write the same bytes). On a filesystem without hard links the save falls back to rename(2), and
 * concurrent savers may then both report `added`.
 */
import {
  closeSync,
  fsyncSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  renameSync,
  rmdirSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { canonicalIdentity, entryPath } from './corpus-entry.js';
import type { CorpusEntry } from './corpus-entry.js';
import { describeFsError, readEntryText } from './corpus-file.js';
import { CorpusError, parseEntryShape } from './corpus-parse.js';
import { removeStaleTemporaries, temporaryPath } from './corpus-temp.js';

export interface SaveOutcome {
  readonly path: string;
  /**
   * `added`: a new file. `exists`: the same finding is already there. `repaired`: something else
   * was at the entry's path (see `reason`) and was replaced by the entry.
   */
  readonly status: 'added' | 'exists' | 'repaired';
  /** What was wrong with the file a `repaired` entry replaced. */
  readonly reason?: string;
  /** Stale temporary files of killed saves removed from the entry's directory. */
  readonly removed: readonly string[];
}

type Present =
  | { readonly kind: 'absent' }
  | { readonly kind: 'same' }
  | { readonly kind: 'damaged'; readonly reason: string; readonly directory: boolean };

/** What is at `path` now, compared with `entry`. */
function present(path: string, entry: CorpusEntry): Present {
  let directory: boolean;
  try {
    directory = lstatSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    return { kind: 'damaged', reason: `cannot read: ${describeFsError(error)}`, directory: false };
  }
  const read = readEntryText(path);
  if ('problem' in read) return { kind: 'damaged', reason: read.problem, directory };
  try {
    const existing = parseEntryShape(read.text, path);
    if (canonicalIdentity(existing) === canonicalIdentity(entry)) return { kind: 'same' };
    return {
      kind: 'damaged',
      reason: `holds another finding (${existing.design}, expect ${existing.expect})`,
      directory,
    };
  } catch (error) {
    if (!(error instanceof CorpusError)) throw error;
    return { kind: 'damaged', reason: `${error.field}: ${error.problem}`, directory };
  }
}

function writeTemporary(dir: string, text: string): string {
  const path = temporaryPath(dir);
  try {
    const descriptor = openSync(path, 'wx', 0o644);
    try {
      const bytes = Buffer.from(text, 'utf8');
      for (let written = 0; written < bytes.length;) written += writeSync(descriptor, bytes, written);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
  } catch (error) {
    try {
      unlinkSync(path);
    } catch {
      // Never created.
    }
    throw new CorpusError(dir, '(directory)', `cannot write an entry: ${describeFsError(error)}`);
  }
  return path;
}

/** Makes a link or rename in `dir` durable; best effort (not every platform can sync a directory). */
function syncDirectory(dir: string): void {
  try {
    const descriptor = openSync(dir, 'r');
    try {
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
  } catch {
    // Windows cannot open a directory; the rename itself is still atomic.
  }
}

const noHardLinks = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

/** Links `temporary` to `path`: true when this call created it, false when it already existed. */
function linkNew(temporary: string, path: string): boolean {
  try {
    linkSync(temporary, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!noHardLinks.has(code)) throw error;
    renameSync(temporary, path);
    return true;
  }
}

/** Replaces whatever is at `path` (damaged) with `temporary`, atomically. */
function replace(temporary: string, path: string, damaged: { reason: string; directory: boolean }): void {
  if (damaged.directory) {
    // rename(2) cannot replace a directory; an empty one is removed first, a full one is not ours to delete.
    try {
      rmdirSync(path);
    } catch (error) {
      throw new CorpusError(
        path,
        '(file)',
        `${damaged.reason}, and it cannot be removed (${describeFsError(error)}); move it away and save again`,
      );
    }
  }
  renameSync(temporary, path);
}

/** Writes an entry under `root`; an entry already present (the same finding, intact) is left alone. */
export function saveEntry(root: string, entry: CorpusEntry): SaveOutcome {
  const path = join(root, entryPath(entry));
  const dir = dirname(path);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (error) {
    throw new CorpusError(dir, '(directory)', `cannot create: ${describeFsError(error)}`);
  }
  // One that cannot be removed is left for replay to report; it does not stop this save.
  const { removed } = removeStaleTemporaries(dir);
  let now = present(path, entry);
  if (now.kind === 'same') return { path, status: 'exists', removed };
  const temporary = writeTemporary(dir, `${JSON.stringify(entry, null, 2)}\n`);
  try {
    // Looked at again only when another process changes the path between our look and our link.
    for (let attempt = 0; attempt < 3; attempt++) {
      if (now.kind === 'same') return { path, status: 'exists', removed };
      if (now.kind === 'damaged') {
        replace(temporary, path, now);
        syncDirectory(dir);
        return { path, status: 'repaired', reason: now.reason, removed };
      }
      if (linkNew(temporary, path)) {
        syncDirectory(dir);
        return { path, status: 'added', removed };
      }
      // Another save created it since we looked: one winner, and it is not us. Check what it wrote.
      now = present(path, entry);
    }
    throw new CorpusError(path, '(file)', 'keeps changing while being saved; save again');
  } finally {
    try {
      unlinkSync(temporary);
    } catch {
      // Renamed into place already: nothing left to remove.
    }
  }
}
