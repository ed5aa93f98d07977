/**
 * Sharding that CI can use: any n works with the defaults, the shards agree on the seed, and the
 * shards together are exactly the unsharded run.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import type { DesignCheck } from '../../src/check.js';
import { mergeChecks } from '../../src/merge.js';
import type { AnyDesign } from '../../src/design.js';
import { planShard } from '../../src/shard.js';
import { sharedSeed } from '../../src/seed.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';
import { partialDeclaration, stepThrows } from './fixtures.js';
import { runCli } from './cli-run.js';

/** A check without what depends on the clock or on how the work was split. */
function comparable(check: DesignCheck): unknown {
  return JSON.parse(
    JSON.stringify({ ...check, budget: { ...check.budget, shard: null } }, (key, value: unknown) =>
      // Stacks name the caller, which differs between the two ways of calling.
      key === 'elapsedMs' || key === 'stack' ? undefined : value,
    ),
  ) as unknown;
}

describe('run shards', () => {
  test.for<{ id: string; design: AnyDesign; runs: number; count: number }>([
    { id: xenLookup.id, design: xenLookup, runs: 60, count: 3 },
    { id: partialDeclaration.id, design: partialDeclaration, runs: 300, count: 3 },
    { id: xenMap.id, design: xenMap, runs: 60, count: 2 },
    { id: stepThrows.id, design: stepThrows, runs: 200, count: 4 },
  ])('$id in $count shards: they merge into exactly the unsharded check', ({ design, runs, count }) => {
    const whole = checkDesign(design, { seed: 11, runs });
    const parts = Array.from({ length: count }, (_, index) =>
      checkDesign(design, { seed: 11, runs, shard: { index: index + 1, count } }),
    );
    expect(parts.reduce((sum, part) => sum + part.runs, 0)).toBe(runs);
    expect(comparable(mergeChecks(design, parts))).toEqual(comparable(whole));
  });

  test('a shard runs every n-th sequence of the seed and reports run numbers of the whole', () => {
    const part = checkDesign(partialDeclaration, { seed: 11, runs: 240, shard: { index: 2, count: 3 } });
    expect(part.runs).toBe(80);
    expect(part.brokenAt.length).toBeGreaterThan(0);
    for (const broken of part.brokenAt) expect((broken.run - 2) % 3).toBe(0);
  });

  test('plans: seeds split whole when there are enough, runs otherwise, and an empty shard is refused', () => {
    expect(planShard(40, 5, 1000, { index: 2, count: 3 })).toMatchObject({ seeds: [41, 44], runShard: null });
    expect(planShard(40, 1, 1000, { index: 2, count: 3 })).toMatchObject({
      seeds: [40],
      runShard: { index: 2, count: 3 },
    });
    expect(() => planShard(40, 1, 2, { index: 3, count: 3 })).toThrow('shard 3/3 is empty');
  });
});

describe('the CLI', () => {
  test("--shard 2/2 with the default seeds checks half of each design's runs, not nothing", async () => {
    const { code, out } = await runCli(['check', '--design', 'vfio/noiommu', '--shard', '2/2', '--json'], {
      env: { DMAPROP_SEED: '5' },
    });
    expect(code).toBe(0);
    const json = JSON.parse(out) as { seed: number; results: { runs: number; shard: unknown }[] };
    expect(json.seed).toBe(5);
    expect(json.results).toHaveLength(1);
    expect(json.results[0]).toMatchObject({ runs: 500, shard: { index: 2, count: 2 } });
  });

  test('shards agree on the seed: --seed, DMAPROP_SEED, or the CI run id; none is a usage error', async () => {
    const none = await runCli(['check', '--shard', '1/2']);
    expect(none.code).toBe(2);
    expect(none.err).toContain('--shard needs a seed every shard agrees on');
    const fromCi = sharedSeed({ GITHUB_RUN_ID: '123456789' });
    expect(fromCi).toEqual(sharedSeed({ GITHUB_RUN_ID: '123456789', GITHUB_RUN_ATTEMPT: '2' }));
    expect(fromCi!.source).toBe('GITHUB_RUN_ID=123456789');
    const shards = await Promise.all(
      ['1/2', '2/2'].map((shard) =>
        runCli(['check', '--design', 'vfio/noiommu', '--runs', '10', '--shard', shard, '--json'], {
          env: { GITHUB_RUN_ID: '123456789' },
        }),
      ),
    );
    const seeds = shards.map((shard) => (JSON.parse(shard.out) as { seed: number }).seed);
    expect(seeds).toEqual([fromCi!.seed, fromCi!.seed]);
    const bad = await runCli(['check', '--shard', '1/2'], { env: { DMAPROP_SEED: 'soon' } });
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('DMAPROP_SEED must be a whole number');
  });

  test('an empty shard is a usage error', async () => {
    const { code, err } = await runCli(['check', '--runs', '2', '--seed', '1', '--shard', '3/3']);
    expect(code).toBe(2);
    expect(err).toContain('shard 3/3 is empty');
  });
});
