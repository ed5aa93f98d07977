/** Save a counterexample, replay it, and see the corpus report an entry that stops applying. */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { parseEntry, replayCorpus, replayEntry, saveEntry } from '../../src/corpus.js';
import { CORPUS_FORMAT_VERSION } from '../../src/corpus-entry.js';
import { savedLookupEntry, temporaryCorpus } from './corpus-fixture.js';

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
    expect(replayCorpus(root, designs)).toEqual({ files: 1, passed: 1, problems: [] });
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
    writeFileSync(path, JSON.stringify(data));
    const replay = replayCorpus(root, designs);
    expect(replay.passed).toBe(0);
    expect(replay.problems).toEqual([
      {
        file: expect.stringContaining('xen-lookup--no-dma-to-foreign-frame--') as unknown,
        message: 'no longer applies: step 3 was accepted, now refused with EBUSY',
      },
    ]);
  });

  test('an entry that no longer reproduces its violation is reported', () => {
    const root = temporaryCorpus();
    const { path } = savedLookupEntry(root);
    const data = JSON.parse(readFileSync(path, 'utf8')) as { design: string };
    data.design = 'xen/map';
    writeFileSync(path, JSON.stringify(data));
    const [problem] = replayCorpus(root, designs).problems;
    expect(problem?.message).toBe('no longer reproduces: no-dma-to-foreign-frame holds after all 4 steps');
  });
});
