/**
 * Output paths are checked before any search starts, so a run never finds out after an hour of
 * work that its results cannot be written. A directory (the corpus, an HTML report) must be one,
 * or be creatable, and take a new file; a file (bench results) must be a regular file we can
 * write, or creatable in a directory that takes one. The probe really creates and removes a file:
 * permission bits do not tell about read-only mounts, `/proc` or `/sys`.
 */
import { closeSync, constants, lstatSync, openSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, resolve } from 'node:path';

/** Why an output path cannot be used, in words; the CLI prints it and exits 2. */
export class OutputPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OutputPathError';
  }
}

function describe(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ELOOP':
      return 'a symbolic link loop';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'a read-only file system';
    case 'ENOTDIR':
      return 'a path through something that is not a directory';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return (error as Error).message;
  }
}

/** Creates and removes a file in `dir`: the only sure test that it takes new files. */
function probeDirectory(dir: string, what: string, path: string): void {
  const probe = join(dir, `.dmaprop-probe-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    closeSync(openSync(probe, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY, 0o600));
  } catch (error) {
    throw new OutputPathError(`${what} ${path}: cannot write in ${dir}: ${describe(error)}`);
  }
  rmSync(probe, { force: true });
}

/** The path, or its nearest ancestor that exists, as a directory that takes new files. */
function existingAncestor(path: string, what: string, shown: string): string {
  let dir = path;
  for (;;) {
    let kind;
    try {
      kind = statSync(dir);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && dirname(dir) !== dir) {
        // A dangling symlink is not a missing directory: nothing can be created through it.
        try {
          lstatSync(dir);
          throw new OutputPathError(`${what} ${shown}: ${dir} is a dangling symbolic link`);
        } catch (inner) {
          if (inner instanceof OutputPathError) throw inner;
        }
        dir = dirname(dir);
        continue;
      }
      throw new OutputPathError(`${what} ${shown}: ${dir} is ${describe(error)}`);
    }
    if (!kind.isDirectory()) throw new OutputPathError(`${what} ${shown}: ${dir} is not a directory`);
    return dir;
  }
}

/** Checks that `path` is, or can become, a directory that takes new files. */
export function checkOutputDirectory(path: string, what: string): void {
  const absolute = resolve(path);
  probeDirectory(existingAncestor(absolute, what, path), what, path);
}

/** Checks that `path` is a regular file we can write, or can be created as one. */
export function checkOutputFile(path: string, what: string): void {
  const absolute = resolve(path);
  let kind;
  try {
    kind = statSync(absolute);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new OutputPathError(`${what} ${path}: ${describe(error)}`);
    }
    try {
      lstatSync(absolute);
      throw new OutputPathError(`${what} ${path}: a dangling symbolic link`);
    } catch (inner) {
      if (inner instanceof OutputPathError) throw inner;
    }
    probeDirectory(existingAncestor(dirname(absolute), what, path), what, path);
    return;
  }
  if (!kind.isFile()) throw new OutputPathError(`${what} ${path}: not a regular file`);
  try {
    // Opened for writing without truncating: the results are written in full later.
    closeSync(openSync(absolute, constants.O_WRONLY | constants.O_APPEND));
  } catch (error) {
    throw new OutputPathError(`${what} ${path}: cannot write: ${describe(error)}`);
  }
}
