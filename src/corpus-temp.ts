/**
 * The temporary files of in-progress saves, `.<pid>-<hex>.tmp` next to the entry they become.
 * A save killed between writing and linking its temporary file leaves it behind; saving and
 * replaying remove those (the writer is no longer alive, or the file is older than any save takes)
 * and say so. Any other dot-file in the corpus is not ours and is reported, never skipped.
 */
import { randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describeFsError } from './corpus-file.js';

const TEMPORARY = /^\.(\d+)-[0-9a-f]+\.tmp$/;

/**
 * A save takes milliseconds; a temporary file this old is left over even if its pid is alive
 * again (reused, or a live process in another pid namespace sharing the directory).
 */
export const STALE_AFTER_MS = 10 * 60 * 1000;

/** A fresh temporary name in `dir` for this process. */
export function temporaryPath(dir: string): string {
  return join(dir, `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
}

/** The writer's pid when `name` is one of our temporary files' names, else null. */
export function temporaryPid(name: string): number | null {
  const match = TEMPORARY.exec(name);
  return match === null ? null : Number(match[1]);
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid >= 2 ** 31) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export type TemporaryState = 'in-progress' | 'stale' | 'foreign';

/** Ours and being written, ours and left by a dead save, or not ours at all (not a regular file). */
export function temporaryState(path: string, pid: number, nowMs = Date.now()): TemporaryState {
  let modifiedMs: number;
  try {
    const stats = lstatSync(path);
    if (!stats.isFile()) return 'foreign';
    modifiedMs = stats.mtimeMs;
  } catch {
    // Gone already: its save finished (or another cleaner was first).
    return 'in-progress';
  }
  return !alive(pid) || nowMs - modifiedMs > STALE_AFTER_MS ? 'stale' : 'in-progress';
}

export interface Cleanup {
  /** The stale temporary files removed. */
  readonly removed: string[];
  /** Stale ones that could not be removed, and why. */
  readonly failed: { readonly path: string; readonly message: string }[];
}

/** Removes a stale temporary file; `removed` when it was, the reason when it could not be. */
export function removeStale(path: string): 'removed' | 'gone' | string {
  try {
    unlinkSync(path);
    return 'removed';
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    return `stale temporary file of a killed save could not be removed: ${describeFsError(error)}`;
  }
}

/** Removes the stale temporary files directly in `dir` (a directory that cannot be listed has none to remove). */
export function removeStaleTemporaries(dir: string): Cleanup {
  const cleanup: Cleanup = { removed: [], failed: [] };
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return cleanup;
  }
  for (const name of names) {
    const pid = temporaryPid(name);
    if (pid === null) continue;
    const path = join(dir, name);
    if (temporaryState(path, pid) !== 'stale') continue;
    const outcome = removeStale(path);
    if (outcome === 'removed') cleanup.removed.push(path);
    else if (outcome !== 'gone') cleanup.failed.push({ path, message: outcome });
  }
  return cleanup;
}
