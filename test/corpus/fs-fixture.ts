/**
 * Filesystem conditions for the corpus tests that a test cannot otherwise produce on demand: an
 * fs call failing (the suite may run as root, which reads a chmod 000 file anyway), and a FIFO's
 * writer that unblocks a reader stuck in open(2), so that code which blocks on a FIFO fails its
 * test instead of hanging the suite.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';

/** An fs error as node makes them: `EACCES: permission denied, open '/path'`, with its code. */
export function fsError(code: string, text: string, syscall: string, path: string): NodeJS.ErrnoException {
  const error: NodeJS.ErrnoException = new Error(`${code}: ${text}, ${syscall} '${path}'`);
  error.code = code;
  error.syscall = syscall;
  error.path = path;
  return error;
}

type FsFunction = (...args: never[]) => unknown;

/**
 * Runs `body` with some `node:fs` functions replaced, for every module's named imports too
 * (`syncBuiltinESMExports`). Each replacement gets the original as its last argument.
 * Synchronous only: nothing else runs in this worker meanwhile.
 */
export function withFs<T>(patches: Record<string, (original: FsFunction) => FsFunction>, body: () => T): T {
  const target = fs as unknown as Record<string, FsFunction>;
  const saved = new Map<string, FsFunction>();
  for (const [name, patch] of Object.entries(patches)) {
    const original = target[name];
    if (original === undefined) throw new Error(`fs has no ${name}`);
    saved.set(name, original);
    target[name] = patch(original);
  }
  syncBuiltinESMExports();
  try {
    return body();
  } finally {
    for (const [name, original] of saved) target[name] = original;
    syncBuiltinESMExports();
  }
}

/** Fails `syscalls` on paths for which `matches` is true with `code`; everything else as usual. */
export function failingOn(
  matches: (path: string) => boolean,
  code: string,
  text: string,
  syscalls: readonly string[],
): Record<string, (original: FsFunction) => FsFunction> {
  return Object.fromEntries(
    syscalls.map((name) => [
      name,
      (original: FsFunction): FsFunction =>
        ((path: unknown, ...rest: never[]) => {
          if (typeof path === 'string' && matches(path)) throw fsError(code, text, name.replace(/Sync$/, ''), path);
          return (original as (...args: unknown[]) => unknown)(path, ...rest);
        }) as FsFunction,
    ]),
  );
}

/**
 * A separate process that, after a second, opens the FIFO at `path` for writing (without
 * blocking: it succeeds only while a reader waits) and closes it, so a reader blocked in open(2)
 * sees end-of-file. It gives up after ten seconds; kill it when done.
 */
export function fifoUnblocker(path: string): ChildProcess {
  const script = `
    const fs = require('node:fs');
    const until = Date.now() + 10000;
    const attempt = () => {
      try {
        fs.closeSync(fs.openSync(process.argv[1], fs.constants.O_WRONLY | fs.constants.O_NONBLOCK));
        process.exit(0);
      } catch {
        if (Date.now() > until) process.exit(1);
        setTimeout(attempt, 50);
      }
    };
    setTimeout(attempt, 1000);`;
  return spawn(process.execPath, ['-e', script, path], { stdio: 'ignore' });
}
