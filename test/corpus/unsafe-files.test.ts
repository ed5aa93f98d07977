/**
 * What is on disk is never trusted: a symlink (to /dev/zero, to nothing, to itself), a FIFO, an
 * oversized file, an unreadable file or an unlistable directory in the corpus is a problem of that
 * file, named, and every other entry is still replayed. Nothing blocks, nothing grows unbounded,
 * no fs error escapes `replayCorpus`.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { ENTRY_LIMIT_BYTES, replayCorpus } from '../../src/corpus.js';
import type { CorpusReplay } from '../../src/corpus.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';
import { failingOn, fifoUnblocker, withFs } from './fs-fixture.js';

const linux = process.platform === 'linux';

/** A corpus with one good entry; returns the root and the directory the entry is in. */
function corpusWithGoodEntry(): { root: string; dir: string } {
  const root = temporaryCorpus();
  const { path } = savedLookupEntry(root);
  return { root, dir: join(path, '..') };
}

const named = (path: string): string => relative(process.cwd(), path);

/** The good entry passed, and the only problem is `message` for `path`. */
function expectOnlyProblem(replay: CorpusReplay, path: string, message: string | RegExp): void {
  expect(replay.passed).toBe(1);
  expect(replay.problems).toHaveLength(1);
  expect(replay.problems[0]?.file).toBe(named(path));
  if (typeof message === 'string') expect(replay.problems[0]?.message).toBe(message);
  else expect(replay.problems[0]?.message).toMatch(message);
}

describe.runIf(linux)('unsafe corpus files', () => {
  test('a symlink to /dev/zero is reported, not read', () => {
    const { root, dir } = corpusWithGoodEntry();
    const link = join(dir, 'zero.json');
    symlinkSync('/dev/zero', link);
    const replay = replayCorpus(root, designs);
    expect(replay.files).toBe(2);
    expectOnlyProblem(replay, link, "a symbolic link to '/dev/zero', not a regular file (links are not followed)");
  });

  test('a FIFO is reported without blocking', () => {
    const { root, dir } = corpusWithGoodEntry();
    const fifo = join(dir, 'pipe.json');
    execFileSync('mkfifo', [fifo]);
    // Code that opens the FIFO blocking would hang; this writer releases it after a second, so it
    // fails the test instead (it reads an empty file).
    const unblocker = fifoUnblocker(fifo);
    try {
      expectOnlyProblem(replayCorpus(root, designs), fifo, 'a FIFO (named pipe), not a regular file');
    } finally {
      unblocker.kill();
    }
  });

  test('a dangling symlink is reported', () => {
    const { root, dir } = corpusWithGoodEntry();
    const link = join(dir, 'gone.json');
    symlinkSync(join(dir, 'no-such-entry.json'), link);
    expectOnlyProblem(
      replayCorpus(root, designs),
      link,
      /^a symbolic link to '.*no-such-entry\.json', not a regular file/,
    );
  });

  test('a symlink loop is reported', () => {
    const { root, dir } = corpusWithGoodEntry();
    const link = join(dir, 'loop.json');
    symlinkSync(link, link);
    expectOnlyProblem(replayCorpus(root, designs), link, /^a symbolic link to '.*loop\.json', not a regular file/);
  });

  test('a symlinked directory is reported, not walked', () => {
    const { root, dir } = corpusWithGoodEntry();
    const link = join(root, 'elsewhere');
    symlinkSync(dir, link);
    expectOnlyProblem(replayCorpus(root, designs), link, /^a symbolic link to '.*', not a regular file/);
  });
});

describe('oversized and unreadable corpus files', () => {
  test('a file over the size limit is reported, not parsed', () => {
    const { root, dir } = corpusWithGoodEntry();
    const big = join(dir, 'big.json');
    writeFileSync(big, `{"pad": "${'x'.repeat(ENTRY_LIMIT_BYTES)}"}`);
    expectOnlyProblem(
      replayCorpus(root, designs),
      big,
      `${ENTRY_LIMIT_BYTES + 11} bytes, over the ${ENTRY_LIMIT_BYTES}-byte limit of a corpus entry`,
    );
  });

  test('a file that is not UTF-8 is reported', () => {
    const { root, dir } = corpusWithGoodEntry();
    const binary = join(dir, 'binary.json');
    writeFileSync(binary, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]));
    expectOnlyProblem(replayCorpus(root, designs), binary, 'not UTF-8 text');
  });

  test('an unreadable entry is a problem of that file; the others still replay', () => {
    const { root, dir } = corpusWithGoodEntry();
    const secret = join(dir, 'secret.json');
    writeFileSync(secret, '{}');
    // As root a chmod 000 file is still readable: the failure is injected where the file is opened.
    const replay = withFs(
      failingOn((path) => path.endsWith('secret.json'), 'EACCES', 'permission denied', ['openSync', 'readFileSync']),
      () => replayCorpus(root, designs),
    );
    expectOnlyProblem(replay, secret, 'cannot read: EACCES: permission denied');
  });

  test.runIf(linux && process.getuid?.() !== 0)('a chmod 000 entry is reported (not as root)', () => {
    const { root, dir } = corpusWithGoodEntry();
    const secret = join(dir, 'secret.json');
    writeFileSync(secret, '{}');
    chmodSync(secret, 0);
    expectOnlyProblem(replayCorpus(root, designs), secret, 'cannot read: EACCES: permission denied');
  });

  test('a subdirectory that cannot be listed is a problem of that directory; the rest still replays', () => {
    const { root } = corpusWithGoodEntry();
    const locked = join(root, 'locked');
    mkdirSync(locked);
    writeFileSync(join(locked, 'entry.json'), '{}');
    const replay = withFs(
      failingOn((path) => path === locked, 'EACCES', 'permission denied', ['readdirSync']),
      () => replayCorpus(root, designs),
    );
    expect(replay.files).toBe(1);
    expect(replay.passed).toBe(1);
    expect(replay.problems).toEqual([
      { file: named(locked), message: 'cannot list directory: EACCES: permission denied' },
    ]);
  });

  test('a corpus root that does not exist is an empty corpus', () => {
    expect(replayCorpus(join(temporaryCorpus(), 'none'), designs)).toEqual({
      files: 0,
      passed: 0,
      problems: [],
      removed: [],
    });
  });
});
