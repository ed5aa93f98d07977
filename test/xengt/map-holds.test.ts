/**
 * The map alternative of the XenGT debate (docs/debates.md#xengt-lookup-or-map): mapping with a
 * reference keeps every invariant. The suite runs 250 sequences of seed 2024 (the statistics test runs its default 1,000 on
 * another seed; the deeper tier
 * the full 10,000: `dmaprop check --design xen/map --seed 2024 --runs 10000`, about 20 s here), and
 * `npm run bench` measures the rate.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { defaultGeneration } from '../../src/generate.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { DEEP } from '../helpers.js';

const RUNS = DEEP ? 10_000 : 250;

describe('xen/map', () => {
  test(`holds over ${RUNS} generated sequences of up to 100 commands`, () => {
    const check = checkDesign(xenMap, { seed: 2024, runs: RUNS });
    expect(defaultGeneration.maxCommands).toBeGreaterThanOrEqual(100);
    expect(check.violations).toEqual([]);
    expect(check.verdict).toBe('holds');
    expect(check.runs).toBe(RUNS);
    expect(check.interrupted).toBe(false);
  });
});
