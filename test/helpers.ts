/** Shared test helpers: fixed seeds, and check results with wall-clock fields removed. */
import type { DesignCheck } from '../src/check.js';

/** The fixed seed set the suite runs on (Standards: tests run on fixed seeds). */
export const FIXED_SEEDS: readonly number[] = Array.from({ length: 20 }, (_, index) => 1001 + index);

/** A check result without its timings, for comparing two runs. */
export function withoutTimings(check: DesignCheck): unknown {
  return JSON.parse(
    JSON.stringify(check, (key, value: unknown) => (key === 'elapsedMs' ? undefined : value)),
  ) as unknown;
}
