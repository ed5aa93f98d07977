/** Shared test helpers: fixed seeds, and check results with wall-clock fields removed. */
import { expect } from 'vitest';
import type { DesignCheck } from '../src/check.js';

/**
 * The deeper tier (`npm run test:deep`, `DMAPROP_DEEP=1`): more seeds and deeper searches than
 * `npm test`, which stays under two minutes on two cores.
 */
export const DEEP = process.env['DMAPROP_DEEP'] === '1';

/**
 * The fixed seed set the suite runs on (Standards: tests run on fixed seeds): the first 6 of 20 in
 * `npm test`, all 20 in the deeper tier. (The benchmark measures every flawed design on 20 fresh
 * seeds: `bench/declared-breaks.ts`.)
 */
export const FIXED_SEEDS: readonly number[] = Array.from({ length: DEEP ? 20 : 6 }, (_, index) => 1001 + index);

/**
 * The first four fixed seeds (all twenty in the deeper tier): for the stacks whose flawed designs
 * shrink dearly (KVMGT, VFIO: 15 to 20 s of the suite on six seeds).
 */
export const FEWER_FIXED_SEEDS: readonly number[] = FIXED_SEEDS.slice(0, DEEP ? undefined : 4);

/** A check result without its timings, for comparing two runs. */
export function withoutTimings(check: DesignCheck): unknown {
  return JSON.parse(
    JSON.stringify(check, (key, value: unknown) => (key === 'elapsedMs' ? undefined : value)),
  ) as unknown;
}

/**
 * What a short budget can say about a sound design: nothing broke and nothing threw. It may not
 * have executed every command kind, and is then inconclusive, never "holds" by omission; the
 * statistics test runs each sound design over a default budget, where it must hold.
 */
export function expectNothingFound(check: DesignCheck): void {
  expect(check.brokenAt, `${check.design}: broken invariants`).toEqual([]);
  expect(check.crashedAt, `${check.design}: crash`).toBeNull();
  expect(['holds', 'inconclusive']).toContain(check.verdict);
}
