/**
 * Two saves of the same entry at once: exactly one reports `added`, the other finds it present.
 * The interleaving is made deterministic in-process: while the first save writes its temporary
 * file, a second save of the same entry runs to completion (as another process would).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { replayCorpus, saveEntry } from '../../src/corpus.js';
import type { SaveOutcome } from '../../src/corpus.js';
import type { CorpusEntry } from '../../src/corpus-entry.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';
import { withFs } from './fs-fixture.js';

/** Saves `entry` into `root` while, during its first write, `other` is saved there too. */
function raced(root: string, entry: CorpusEntry, other: CorpusEntry): { first: SaveOutcome; second: SaveOutcome } {
  let second: SaveOutcome | undefined;
  const first = withFs(
    {
      writeSync: (original) =>
        ((...args: unknown[]) => {
          if (second === undefined) {
            second = { path: '', status: 'exists', removed: [] }; // Marks the race as run: no recursion.
            second = saveEntry(root, other);
          }
          return (original as (...args: unknown[]) => number)(...args);
        }) as never,
    },
    () => saveEntry(root, entry),
  );
  if (second === undefined) throw new Error('the save wrote nothing');
  return { first, second };
}

describe('concurrent saves of the same entry', () => {
  test('exactly one of two saves adds it; the other reports it present', () => {
    const { entry } = savedLookupEntry(temporaryCorpus());
    const root = temporaryCorpus();
    const { first, second } = raced(root, entry, { ...entry, found: { ...entry.found, seed: 8 } });
    expect(second.status).toBe('added');
    expect(first.status).toBe('exists');
    expect(first.path).toBe(second.path);
    // The winner's file stays (its seed), and no temporary file is left.
    expect(readdirSync(dirname(first.path))).toEqual([first.path.slice(dirname(first.path).length + 1)]);
    expect((JSON.parse(readFileSync(first.path, 'utf8')) as CorpusEntry).found.seed).toBe(8);
    expect(replayCorpus(root, designs)).toMatchObject({ files: 1, passed: 1, problems: [] });
  });
});
