/** Seed 004's alternative: mapping with a reference keeps every invariant over 10,000 sequences. */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { defaultGeneration } from '../../src/generate.js';
import { xenMap } from '../../properties/xengt/designs.js';

describe('xen/map', () => {
  test('holds over 10,000 generated sequences of up to 100 commands', () => {
    const check = checkDesign(xenMap, { seed: 2024, runs: 10_000 });
    expect(defaultGeneration.maxCommands).toBeGreaterThanOrEqual(100);
    expect(check.violations).toEqual([]);
    expect(check.verdict).toBe('holds');
    expect(check.runs).toBe(10_000);
    expect(check.interrupted).toBe(false);
  });
});
