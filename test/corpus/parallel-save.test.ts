/**
 * Four `dmaprop check --save` processes writing into one corpus at once lose nothing and
 * duplicate nothing: the directory ends with exactly the distinct entries, and no temporary file.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { entryFor } from '../../src/corpus.js';
import { entryPath } from '../../src/corpus-entry.js';
import { exitStatus } from '../../src/exit-codes.js';
import { xenLookup } from '../../properties/xengt/designs.js';
import { temporaryCorpus } from './corpus-fixture.js';
import { DEEP } from '../helpers.js';

// Four saving processes at once, in the deeper tier: each spawn costs a node start-up, and the
// default tier's other corpus tests save from one process (cli-corpus.test.ts).
const SEEDS = [501, 502, 503, 504];
const RUNS = 60;

function saveRun(corpus: string, seed: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        'bin/dmaprop.js',
        'check',
        '--design',
        'xen/lookup',
        '--seed',
        String(seed),
        '--runs',
        String(RUNS),
        '--save',
        '--corpus',
        corpus,
        '--json',
      ],
      { stdio: 'ignore' },
    );
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

describe.runIf(DEEP)('concurrent saves', () => {
  test(`${SEEDS.length} parallel --save runs produce exactly the distinct entries`, async () => {
    const corpus = temporaryCorpus();
    const codes = await Promise.all(SEEDS.map((seed) => saveRun(corpus, seed)));
    const checks = SEEDS.map((seed) => checkDesign(xenLookup, { seed, runs: RUNS }));
    // Each process exits as its check does in-process (60 runs may leave a declared break unfound: 1).
    expect(codes).toEqual(checks.map((check) => exitStatus([check.outcome])));

    const expected = new Set<string>();
    checks.forEach((check, index) => {
      const seed = SEEDS[index]!;
      for (const counterexample of check.violations) expected.add(entryPath(entryFor(xenLookup, counterexample, seed)));
    });
    const files = readdirSync(join(corpus, 'xengt')).map((name) => `xengt/${name}`);
    expect(files.sort()).toEqual([...expected].sort());
    expect(files.every((name) => !name.includes('.tmp'))).toBe(true);
  });
});
