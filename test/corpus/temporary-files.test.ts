/**
 * Temporary files of saves (`.<pid>-<hex>.tmp`): one left by a killed save (its writer is dead, or
 * it is older than any save takes) is removed by the next save or replay, which says so; one being
 * written by a live process is left alone. Any other dot-file is reported.
 */
import { existsSync, mkdirSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { formatSaveOutcome } from '../../src/cli-saved.js';
import { replayCorpus, saveEntry } from '../../src/corpus.js';
import { STALE_AFTER_MS } from '../../src/corpus-temp.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';

/** Above any pid_max Linux allows (2^22): no process has it. */
const DEAD_PID = 2 ** 31 - 2;

/** A corpus with one entry and three temporary files: a dead writer's, an old one, and a live one. */
function withTemporaries(): { root: string; dir: string; dead: string; old: string; live: string } {
  const root = temporaryCorpus();
  const { path } = savedLookupEntry(root);
  const dir = join(path, '..');
  const dead = join(dir, `.${DEAD_PID}-0123456789ab.tmp`);
  const old = join(dir, `.${process.pid}-00000000000a.tmp`);
  const live = join(dir, `.${process.pid}-00000000000b.tmp`);
  for (const file of [dead, old, live]) writeFileSync(file, '{ "format": "dmaprop-regr');
  const longAgo = (Date.now() - STALE_AFTER_MS - 60_000) / 1000;
  utimesSync(old, longAgo, longAgo);
  return { root, dir, dead, old, live };
}

describe('temporary files of saves', () => {
  test('saving removes the stale ones in the entry directory and reports them', () => {
    const { root, dir, dead, old, live } = withTemporaries();
    const { entry } = savedLookupEntry(temporaryCorpus(), 'no-dma-to-free-frame');
    const outcome = saveEntry(root, entry);
    expect(outcome.status).toBe('added');
    expect(outcome.removed).toEqual([dead, old].sort());
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(dir).filter((name) => name.startsWith('.'))).toEqual([live.slice(dir.length + 1)]);
    expect(formatSaveOutcome(outcome).split('\n').slice(1)).toEqual(
      [dead, old].sort().map((path) => `  removed a stale temporary file of a killed save: ${path}`),
    );
  });

  test('replaying removes the stale ones, lists them, and leaves a save in progress alone', () => {
    const { root, dead, old, live } = withTemporaries();
    const replay = replayCorpus(root, designs);
    expect(replay).toEqual({
      files: 1,
      passed: 1,
      problems: [],
      removed: [dead, old].sort().map((path) => relative(process.cwd(), path)),
    });
    expect(existsSync(live)).toBe(true);
  });

  test('a dot-file that is not a temporary file of ours is reported, not skipped', () => {
    const root = temporaryCorpus();
    const { path } = savedLookupEntry(root);
    const dir = join(path, '..');
    writeFileSync(join(dir, '.notes'), 'mine');
    mkdirSync(join(dir, `.${DEAD_PID}-ab.tmp`));
    const replay = replayCorpus(root, designs);
    expect(replay.files).toBe(3);
    expect(replay.passed).toBe(1);
    const ours = "not a corpus entry (only dmaprop's own temporary files, .<pid>-<hex>.tmp, start with '.')";
    expect(replay.problems).toEqual([
      {
        file: relative(process.cwd(), join(dir, `.${DEAD_PID}-ab.tmp`)),
        message: `a directory, not a regular file: ${ours}`,
      },
      { file: relative(process.cwd(), join(dir, '.notes')), message: `a dot-file: ${ours}` },
    ]);
  });
});
