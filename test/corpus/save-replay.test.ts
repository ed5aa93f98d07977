/** Save a counterexample, replay it, and see the corpus report an entry that stops applying. */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { checkDesign } from '../../src/check.js';
import { entryFor, parseEntry, replayCorpus, replayEntry, saveEntry } from '../../src/corpus.js';
import { unlockedCounter } from '../interleave/toy.js';
import { CORPUS_FORMAT_VERSION, entryPath } from '../../src/corpus-entry.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';

/** Replaces the entry at `path` by `data`, under the name its content gives it (as a model change would leave it). */
function rewriteEntry(root: string, path: string, data: unknown): void {
  rmSync(path);
  const renamed = join(root, entryPath(parseEntry(JSON.stringify(data), path, designs).entry));
  mkdirSync(dirname(renamed), { recursive: true });
  writeFileSync(renamed, JSON.stringify(data));
}

describe('saving and replaying', () => {
  test('a saved counterexample replays and reproduces its violation', () => {
    const root = temporaryCorpus();
    const { path, entry } = savedLookupEntry(root);
    expect(path).toMatch(/xengt\/xen-lookup--no-dma-to-foreign-frame--[0-9a-f]{16}\.json$/);
    const loaded = parseEntry(readFileSync(path, 'utf8'), path, designs);
    expect(loaded.entry).toEqual(entry);
    expect(loaded.entry.formatVersion).toBe(CORPUS_FORMAT_VERSION);
    expect(loaded.entry.steps.length).toBe(4);
    expect(loaded.entry.found.seed).toBe(3);
    expect(replayEntry(loaded.entry, loaded.design)).toBeNull();
    expect(replayCorpus(root, designs)).toEqual({ files: 1, passed: 1, problems: [], removed: [] });
  });

  test('saving the same trace again adds nothing', () => {
    const root = temporaryCorpus();
    const { entry } = savedLookupEntry(root);
    expect(saveEntry(root, { ...entry, found: { ...entry.found, seed: 99 } }).status).toBe('exists');
    expect(replayCorpus(root, designs).files).toBe(1);
  });

  test('an entry whose step is now refused is reported as no longer applying, with its file', () => {
    const root = temporaryCorpus();
    const { path } = savedLookupEntry(root);
    const data = JSON.parse(readFileSync(path, 'utf8')) as { steps: { kind: string; gfn?: number; domid?: number }[] };
    // Populate a gfn dom0 already has: the model refuses it (EBUSY) where it used to accept it.
    data.steps[2] = { kind: 'populatePhysmap', domid: 0, gfn: 0 };
    rewriteEntry(root, path, data);
    const replay = replayCorpus(root, designs);
    expect(replay.passed).toBe(0);
    expect(replay.problems).toEqual([
      {
        file: expect.stringContaining('xen-lookup--no-dma-to-foreign-frame--') as unknown,
        message: 'no longer applies: step 3 was accepted, now refused with EBUSY',
      },
    ]);
  });

  test('an entry edited without renaming is reported: its name does not match its content', () => {
    const root = temporaryCorpus();
    const { path } = savedLookupEntry(root);
    const data = JSON.parse(readFileSync(path, 'utf8')) as { design: string };
    data.design = 'xen/map';
    writeFileSync(path, JSON.stringify(data));
    const expected = entryPath(parseEntry(JSON.stringify(data), path, designs).entry);
    const [name, replay] = replayCorpus(root, designs).problems;
    expect(name).toEqual({
      file: expect.stringContaining('xen-lookup--no-dma-to-foreign-frame--') as unknown,
      field: '(name)',
      message: `does not match the entry's content: it should be ${expected} (relative to the corpus root)`,
    });
    expect(expected).toMatch(/^xengt\/xen-map--no-dma-to-foreign-frame--[0-9a-f]{16}\.json$/);
    // The replay itself is still reported.
    expect(replay?.message).toBe('no longer reproduces: no-dma-to-foreign-frame holds after all 4 steps');
  });

  test('an entry that no longer reproduces its violation is reported', () => {
    const root = temporaryCorpus();
    const { path } = savedLookupEntry(root);
    const data = JSON.parse(readFileSync(path, 'utf8')) as { design: string };
    data.design = 'xen/map';
    rewriteEntry(root, path, data);
    const [problem] = replayCorpus(root, designs).problems;
    expect(problem?.message).toBe('no longer reproduces: no-dma-to-foreign-frame holds after all 4 steps');
  });
});

describe('interleaved counterexamples', () => {
  test('a trace with started operations and advances is saved, parsed and replayed as is', () => {
    const root = temporaryCorpus();
    const check = checkDesign(unlockedCounter, { seed: 1, runs: 200 });
    const [counterexample] = check.violations;
    expect(counterexample?.steps.some((step) => step.kind === 'advance')).toBe(true);
    const saved = saveEntry(root, entryFor(unlockedCounter, counterexample!, 1));
    expect(saved.status).toBe('added');
    const loaded = parseEntry(readFileSync(saved.path, 'utf8'), saved.path, [unlockedCounter]);
    expect(loaded.entry.steps).toEqual(counterexample?.steps);
    expect(replayEntry(loaded.entry, loaded.design)).toBeNull();
    expect(replayCorpus(root, [unlockedCounter]).passed).toBe(1);
  });
});
