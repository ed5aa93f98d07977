/**
 * The generators reach the refusals: invalid requests are generated on purpose so the real
 * errors are exercised (that every kind also executes is test/engine/stats.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { defaultGeneration, traceArbitrary } from '../../src/generate.js';
import { xenMap } from '../../properties/xengt/designs.js';

function outcomes(): { errors: Map<string, number>; lengths: number[] } {
  const errors = new Map<string, number>();
  const lengths: number[] = [];
  const traces = fc.sample(traceArbitrary(xenMap.commands, defaultGeneration), { seed: 3, numRuns: 300 });
  for (const templates of traces) {
    lengths.push(templates.length);
    for (const step of runTrace(xenMap, templates, { invariants: [] }).steps) {
      if (!step.result.ok) errors.set(String(step.result.error), (errors.get(String(step.result.error)) ?? 0) + 1);
    }
  }
  return { errors, lengths };
}

describe('XenGT generators', () => {
  const { errors, lengths } = outcomes();

  test.for([
    'GNTST_bad_gntref',
    'GNTST_bad_domain',
    'GNTST_general_error',
    'GNTST_bad_handle',
    'GNTST_bad_page',
    'ENOENT',
    'ENXIO',
    'ESRCH',
    'EPERM',
  ])('invalid requests reach the refusal %s', (error) => {
    expect(errors.get(error) ?? 0).toBeGreaterThan(0);
  });

  test('sequences are long, not fast-check’s default of at most ten', () => {
    const sorted = [...lengths].sort((left, right) => left - right);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeGreaterThan(20);
    expect(sorted[sorted.length - 1]).toBeGreaterThan(80);
  });
});
