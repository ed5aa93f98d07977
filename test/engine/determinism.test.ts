import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';
import { withoutTimings } from '../helpers.js';

describe('same seed, same result', () => {
  // Two of xen/lookup's invariants, shrunk and minimized: the whole pipeline, without minimizing
  // every invariant it breaks twice over (3.7 s of the default tier).
  const budget = { seed: 77, runs: 200, report: ['no-dma-to-free-frame', 'shadow-frame-held-by-backend'] };
  // xen/map holds: every run goes to its end, so 60 of them (7 s of the loaded suite for 200).
  test.for([
    { design: xenLookup, runs: 200 },
    { design: xenMap, runs: 60 },
  ])('$design.id: two checks with one seed agree step for step', ({ design, runs }) => {
    const first = checkDesign(design, { ...budget, runs });
    const second = checkDesign(design, { ...budget, runs });
    expect(withoutTimings(second)).toEqual(withoutTimings(first));
  });

  test('a different seed explores different sequences', () => {
    const first = checkDesign(xenLookup, { seed: 1, runs: 50, report: [] });
    const second = checkDesign(xenLookup, { seed: 2, runs: 50, report: [] });
    expect(first.firstFailure).not.toEqual(second.firstFailure);
  });

  test('replaying a counterexample reproduces its steps and results exactly', () => {
    const check = checkDesign(xenLookup, { seed: 5, runs: 300, report: ['no-dma-to-free-frame'] });
    const counterexample = check.violations[0]!;
    const replay = runTrace(xenLookup, counterexample.steps, { invariants: ['no-dma-to-free-frame'] });
    expect(replay.steps).toEqual(counterexample.executed);
    expect(replay.violations.map((found) => found.violation)).toEqual([counterexample.violation]);
  });
});

describe('budgets', () => {
  test('a time limit stops the search early and says so', () => {
    const check = checkDesign(xenMap, { seed: 1, runs: 1_000_000, timeLimitMs: 300 });
    expect(check.interrupted).toBe(true);
    expect(check.runs).toBeGreaterThan(0);
    expect(check.runs).toBeLessThan(1_000_000);
    // Nothing found in part of the budget decides nothing.
    expect(check.verdict).toBe('inconclusive');
    expect(check.cutShort).toBe('time limit');
    expect(check.outcome).toBe('inconclusive');
    expect(check.reason).toBe(`time limit reached after ${check.runs} runs with nothing found`);
  });

  test('the run budget is exact when no time limit is set', () => {
    expect(checkDesign(xenMap, { seed: 1, runs: 123 }).runs).toBe(123);
  });
});

describe('early stop', () => {
  test('a non-empty report list ends the search once each named invariant is broken', () => {
    // Nothing to report: the whole budget runs, with no minimization to pay for.
    const full = checkDesign(xenLookup, { seed: 4, runs: 300, report: [] });
    const early = checkDesign(xenLookup, { seed: 4, runs: 300, report: ['shadow-frame-held-by-backend'] });
    expect(full.runs).toBe(300);
    expect(early.runs).toBe(early.brokenAt.find((broken) => broken.invariant === 'shadow-frame-held-by-backend')!.run);
    expect(early.runs).toBeLessThan(300);
    expect(early.verdict).toBe('violated');
  });

  test('an empty report list still runs the whole budget', () => {
    expect(checkDesign(xenMap, { seed: 4, runs: 300, report: [] }).runs).toBe(300);
  });
});
