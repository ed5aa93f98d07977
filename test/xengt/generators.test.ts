/**
 * The generators reach the refusals: invalid requests are generated on purpose so the real
 * errors are exercised (that every kind also executes is test/engine/stats.test.ts).
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { defaultGeneration, traceArbitrary } from '../../src/generate.js';
import { xenMap } from '../../properties/xengt/designs.js';

function outcomes(): { errors: Map<string, number>; lengths: number[]; halves: Map<string, number> } {
  const errors = new Map<string, number>();
  const lengths: number[] = [];
  // GTT writes of a 4-byte half, by what the mediator did: kept the first half, paired the second.
  const halves = new Map<string, number>();
  const traces = fc.sample(traceArbitrary(xenMap.commands, defaultGeneration), { seed: 3, numRuns: 300 });
  for (const templates of traces) {
    lengths.push(templates.length);
    for (const step of runTrace(xenMap, templates, { invariants: [] }).steps) {
      if (!step.result.ok) errors.set(String(step.result.error), (errors.get(String(step.result.error)) ?? 0) + 1);
      if (step.command.kind === 'gttWrite' && step.command.sizeBytes === 4 && step.result.ok) {
        const detail = step.result.detail ?? {};
        const half = detail['partial'] === true ? 'first' : 'shadow' in detail ? 'paired' : 'ignored';
        halves.set(half, (halves.get(half) ?? 0) + 1);
      }
    }
  }
  return { errors, lengths, halves };
}

describe('XenGT generators', () => {
  const { errors, lengths, halves } = outcomes();

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

  test('the guest writes GTT entries in 4-byte halves: first halves kept, second halves paired', () => {
    expect(halves.get('first') ?? 0).toBeGreaterThan(0);
    expect(halves.get('paired') ?? 0).toBeGreaterThan(0);
  });

  test('sequences are long, not fast-check’s default of at most ten', () => {
    const sorted = [...lengths].sort((left, right) => left - right);
    expect(sorted[Math.floor(sorted.length / 2)]).toBeGreaterThan(20);
    expect(sorted[sorted.length - 1]).toBeGreaterThan(80);
  });
});
