/**
 * The parallel search (`ExploreOptions.workers`) gives the sequential search's result: the same
 * states and transitions, verdicts, shortest counterexamples (the same traces, by the sequential
 * tie-break), crash, and cut-off at the state limit or once every invariant is broken. The workers
 * run the compiled code (dist/, built by `npm test` before the suite).
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import { findDesign } from '../../properties/registry.js';
import type { AnyDesign } from '../../src/design.js';
import { exploreDesign } from '../../src/explore.js';
import type { ExploreOptions, ExploreResult } from '../../src/explore.js';
import { DEEP } from '../helpers.js';
import {
  counter,
  invariantThrowsAtFour,
  pairBreaksLate,
  pairThrowsLate,
  stepThrowsAtThree,
} from './parallel-designs.js';

const withoutTime = (result: ExploreResult): unknown =>
  JSON.parse(
    JSON.stringify({
      ...result,
      elapsedMs: 0,
      crash: result.crash === null ? null : { ...result.crash, crash: { ...result.crash.crash, stack: null } },
    }),
  ) as unknown;

function design(id: string): AnyDesign {
  const found = findDesign(id);
  if (found === undefined) throw new Error(`no design ${id}`);
  return found;
}

function expectSameAsSequential(
  subject: AnyDesign,
  options: ExploreOptions,
  workers: readonly number[] = [2, 3],
): ExploreResult {
  const sequential = exploreDesign(subject, options);
  for (const count of workers) {
    const parallel = exploreDesign(subject, { ...options, workers: count });
    expect(withoutTime(parallel), `${subject.id} with ${count} workers`).toEqual(withoutTime(sequential));
  }
  return sequential;
}

// Each worker loads the registry once (about half a CPU-second): the default tier runs the built-in
// designs on two workers, the toy designs (a small module) on two and three.
const BUILT_IN_WORKERS = DEEP ? [2, 3] : [2];

describe('the parallel search gives the sequential result', () => {
  // Flawed and sound designs of seven stacks, at a depth where each takes a few milliseconds.
  const cases: readonly (readonly [string, number])[] = [
    ['xen/lookup', 1],
    ['xengt/no-ggtt-reset', 1],
    ['iommu/lazy', 2],
    ['iommu/strict', 1],
    ['vfio/noiommu', 1],
    ['kvmgt/ignores-unmap', 1],
    ['viommu/shadow-unmap-skips-flush', 1],
    ['xenpt/no-quarantine', 1],
  ];
  test.each(cases)('%s at depth %i', (id, depth) => {
    expectSameAsSequential(design(id), { depth }, BUILT_IN_WORKERS);
  });

  test('cut by the state limit in the middle of a level', () => {
    const result = expectSameAsSequential(design('iommu/lazy'), { depth: 2, maxStates: 100 }, BUILT_IN_WORKERS);
    expect(result.limitReached).toBe(true);
    expect(result.states).toBe(100);
  });

  test('a time limit stops the workers within a level: inconclusive, with the depth explored in full', () => {
    // A millisecond runs out within the first levels (depth 4 takes seconds). The workers drop the
    // level they are cut in (the stop flag); the sequential search keeps what it found of it.
    for (const workers of [1, 2]) {
      const result = exploreDesign(design('xen/map'), { depth: 64, timeLimitMs: 1, workers });
      expect(result).toMatchObject({ verdict: 'inconclusive', timeLimited: true, interrupted: false, met: false });
      expect(result.depthReached).toBeLessThan(4);
      expect(result.message).toMatch(
        /^time limit 1 ms reached at depth \d+; every sequence of \d+ commands? explored$/,
      );
    }
    // The workers cut short are whole again for the next search.
    expectSameAsSequential(design('xen/map'), { depth: 2 }, [2]);
  });

  test('every invariant on every transition, and a chosen few', () => {
    expectSameAsSequential(design('xen/lookup'), { depth: 1, everyTransition: true }, BUILT_IN_WORKERS);
    expectSameAsSequential(
      design('xen/lookup'),
      { depth: 2, invariants: ['shadow-frame-held-by-backend'] },
      BUILT_IN_WORKERS,
    );
  });

  test.runIf(DEEP).each([
    ['xen/lookup', 3],
    ['xen/map', 3],
    ['xengt/no-ggtt-reset', 3],
    ['iommu/lazy', 4],
    ['viommu/shadow', 5],
    ['xenpt/hvm-shared-pt', 2],
    ['xenpt/no-quarantine', 3],
    ['kvmgt/ignores-unmap', 2],
    ['iommufd/lazy', 3],
    ['iommufd/differential', 3],
  ] as const)('deeper: %s at depth %i', (id, depth) => {
    expectSameAsSequential(design(id), { depth }, [2, 3]);
  });
});

describe('toy designs the workers load from a module: crashes and early stops', () => {
  const module = pathToFileURL(resolve('dist/test/explore/parallel-designs.js')).href;
  test('a step that throws', () => {
    const result = expectSameAsSequential(stepThrowsAtThree(), {
      depth: 5,
      designSource: { module, export: 'stepThrowsAtThree' },
    });
    expect(result.verdict).toBe('crashed');
  });
  test('stopped in the middle of a level once every invariant is broken', () => {
    const invariants = ['below-three', 'no-add-two-from-one', 'starts-above-zero'];
    const result = expectSameAsSequential(counter(), {
      depth: 4,
      invariants,
      designSource: { module, export: 'counter' },
    });
    expect(result.violations.map((found) => found.invariant)).toEqual(invariants);
    expect(result.depthReached).toBeLessThan(2);
  });
  test('an invariant that throws after another broke', () => {
    const result = expectSameAsSequential(invariantThrowsAtFour(), {
      depth: 5,
      designSource: { module, export: 'invariantThrowsAtFour' },
    });
    expect(result.verdict).toBe('crashed');
    expect(result.crash?.crash.invariant).toBe('throws-at-four');
  });
  // At the last level each worker checks the successors it sees first (`expand`), not the new
  // states stepped again: the verdict must be that of the first arrival, renamings apart.
  test.each([4, 5, 6])('a state-only invariant first broken on the last level or before (depth %i)', (depth) => {
    const result = expectSameAsSequential(pairBreaksLate(), {
      depth,
      designSource: { module, export: 'pairBreaksLate' },
    });
    expect(result.violations.map((found) => found.invariant)).toEqual(depth < 5 ? [] : ['sum-below-five']);
  });
  test.each([5, 6])('a state-only invariant that throws on the last level or before (depth %i)', (depth) => {
    const result = expectSameAsSequential(pairThrowsLate(), {
      depth,
      designSource: { module, export: 'pairThrowsLate' },
    });
    expect(result.verdict).toBe('crashed');
    expect(result.crash?.crash.message).toMatch(/^at \(\d, \d\)$/);
  });
});

// Here rather than in cli-explore.test.ts: this file's workers are already started.
describe('explore --workers', () => {
  async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
    let out = '';
    let err = '';
    const code = await main(argv, { out: (text) => (out += text), err: (text) => (err += text) });
    return { code, out, err };
  }
  test('the same JSON as one thread, and no combining with --shard or --partial-order', async () => {
    const argv = ['explore', '--design', 'xen/lookup', '--depth', '1', '--json'];
    const one = await run(argv);
    const two = await run([...argv, '--workers', '2']);
    const strip = (text: string): unknown =>
      JSON.parse(text, (key, value: unknown) => (key === 'elapsedMs' ? 0 : value)) as unknown;
    expect(two.code).toBe(one.code);
    expect(strip(two.out)).toEqual(strip(one.out));
    for (const extra of [['--shard', '1/2'], ['--partial-order']]) {
      const refused = await run([...argv, '--workers', '2', ...extra]);
      expect(refused.code, extra.join(' ')).toBe(2);
      expect(refused.err).toMatch(/do not combine/);
    }
  });
});
