/**
 * A verdict is never wrong by omission: an exception is a crash (shrunk, with its error and
 * stack), a flawed design meets its expectation only by breaking every invariant it declares,
 * and a search that could not decide says inconclusive, never holds.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { crashesLike } from '../../src/execute.js';
import { DesignError, designProblems } from '../../src/design.js';
import { designs, mutants } from '../../properties/registry.js';
import {
  invariantThrows,
  partialDeclaration,
  reachingCounter,
  resetNeverRuns,
  resolveThrows,
  soundCounter,
  stepMutates,
  stepThrows,
  wrongDeclaration,
} from './fixtures.js';

const budget = { seed: 7, runs: 300 };

describe('crashes', () => {
  test('a step that throws is a crash, shrunk to the shortest trace that throws it, never "holds"', () => {
    const check = checkDesign(stepThrows, budget);
    expect(check).toMatchObject({ verdict: 'crashed', met: false, outcome: 'crashed' });
    expect(check.crashedRuns).toBeGreaterThan(0);
    const report = check.crash!;
    expect(report.crash).toMatchObject({
      site: 'step',
      invariant: null,
      name: 'TypeError',
      message: 'counter reached 3',
    });
    expect(report.crash.stack).toContain('counter reached 3');
    // Generated: add 1 and add 2, two steps; the minimizer may merge them into one add of 3. The
    // last step throws and has no result.
    expect(report.length).toBeGreaterThanOrEqual(1);
    expect(report.length).toBeLessThanOrEqual(2);
    expect(report.steps.length).toBeLessThan(check.crash!.foundLength + 1);
    expect(report.executed).toHaveLength(report.length - 1);
    expect(report.crash.atStep).toBe(report.length);
    expect(crashesLike(stepThrows, report.steps, report.crash)).toBe(true);
    expect(check.reason).toContain("the design's code threw at step");
  });

  test('an invariant that throws is a crash at that invariant', () => {
    const check = checkDesign(invariantThrows, budget);
    expect(check.verdict).toBe('crashed');
    expect(check.crash!.crash).toMatchObject({ site: 'invariant', invariant: 'throws-at-four', name: 'RangeError' });
    // The invariant throws after the step that reached 4 returned: every step has its result.
    expect(check.crash!.length).toBeLessThanOrEqual(2);
    expect(check.crash!.executed).toHaveLength(check.crash!.length);
  });

  test('a resolve that throws is a crash at resolve', () => {
    const check = checkDesign(resolveThrows, budget);
    expect(check.verdict).toBe('crashed');
    expect(check.crash!.crash).toMatchObject({ site: 'resolve', name: 'Error', message: 'cannot resolve a reset' });
    expect(check.crash!.steps).toEqual([{ kind: 'add', by: 1 }, { kind: 'reset' }]);
  });

  test('the purity guard: a step that writes into the state it was given is a crash in strict mode', () => {
    const check = checkDesign(stepMutates, { ...budget, strict: true });
    expect(check.verdict).toBe('crashed');
    expect(check.crash!.crash).toMatchObject({ site: 'step', name: 'PurityError' });
    expect(check.crash!.crash.message).toMatch(/^step changed the state it was given: n: [01] → 2$/);
    expect(check.budget.strict).toBe(true);
  });

  test('the same design without the throw holds', () => {
    expect(checkDesign(soundCounter, budget)).toMatchObject({ verdict: 'holds', met: true, outcome: 'met' });
  });
});

describe('expectations mean what they say', () => {
  test('a flawed design that breaks others but not what it declares does not meet its expectation', () => {
    const check = checkDesign(wrongDeclaration, budget);
    expect(check).toMatchObject({ verdict: 'violated', met: false, outcome: 'unmet', missing: ['at-most-four'] });
    expect(check.undeclared).toEqual(['below-three', 'no-add-two-from-one', 'starts-above-zero']);
    expect(check.reason).toBe('declared breaks not found in 300 runs: at-most-four');
  });

  test('breaking every declared invariant meets it; an undeclared break is reported, not a failure', () => {
    const check = checkDesign(partialDeclaration, budget);
    expect(check).toMatchObject({ verdict: 'violated', met: true, outcome: 'met', missing: [] });
    expect(check.undeclared).toEqual(['no-add-two-from-one']);
  });

  test('a declared break missed before a time limit is undecided, not contradicted', () => {
    const check = checkDesign(wrongDeclaration, { seed: 7, runs: 1_000_000, timeLimitMs: 50 });
    expect(check.cutShort).toBe('time limit');
    expect(check).toMatchObject({ verdict: 'violated', met: false, outcome: 'inconclusive' });
  });
});

describe('declarations are checked before anything runs', () => {
  test('every registered design and mutant is well formed', () => {
    expect([...designs, ...mutants].flatMap(designProblems)).toEqual([]);
  });

  test('a flawed design that declares nothing, names an unknown invariant, or a sound one that breaks something, is refused', () => {
    const silent = { ...wrongDeclaration, id: 'toy/silent', breaks: [] };
    const typo = { ...wrongDeclaration, id: 'toy/typo', breaks: ['below-tree'] };
    const boastful = { ...soundCounter, id: 'toy/boastful', breaks: ['at-most-four'] };
    expect(designProblems(silent)).toEqual([
      'toy/silent: a flawed design must declare the invariants it breaks (breaks is empty)',
    ]);
    expect(designProblems(typo)).toEqual(["toy/typo: breaks names 'below-tree', which is not one of its invariants"]);
    expect(designProblems(boastful)).toEqual([
      'toy/boastful: a sound design breaks nothing, but breaks lists at-most-four',
    ]);
    expect(() => checkDesign(silent, budget)).toThrow(DesignError);
  });
});

describe('inconclusive', () => {
  test('a command kind that never executes leaves the check undecided, whatever else held', () => {
    const check = checkDesign(resetNeverRuns, budget);
    expect(check).toMatchObject({
      verdict: 'inconclusive',
      met: false,
      outcome: 'inconclusive',
      unexecuted: ['reset'],
    });
    expect(check.reason).toBe('1 command kind never executed in 300 runs: reset');
  });

  test('a reach label below its floor leaves the check undecided; the floor scales with the budget', () => {
    // Floor 1 per 1,000 by default: nothing required of 300 runs, 1 of 1,000.
    expect(checkDesign(reachingCounter(), budget)).toMatchObject({ verdict: 'holds', met: true, unreached: [] });
    const thousand = checkDesign(reachingCounter(), { seed: 7, runs: 1000 });
    expect(thousand).toMatchObject({
      verdict: 'inconclusive',
      met: false,
      outcome: 'inconclusive',
      unreached: [{ label: 'past the top', runs: 0, required: 1 }],
    });
    expect(thousand.reason).toBe('1 reach label below its floor in 1000 runs: past the top (0 of the 1 required)');
    // A floor of 10 per 1,000 asks 3 of 300 runs; one the runs meet asks nothing more.
    const reached = checkDesign(reachingCounter({ 'past the top': 0 }), { seed: 7, runs: 1000 });
    expect(reached).toMatchObject({ verdict: 'holds', unreached: [] });
    const tops = reached.stats.reachRuns['at the top'] ?? 0;
    expect(tops).toBeGreaterThan(0);
    const demanding = checkDesign(
      reachingCounter({ 'past the top': 10, 'at the top': (tops + 1) * (1000 / 300) }),
      budget,
    );
    expect(demanding.unreached.map((row) => [row.label, row.required])).toEqual([
      ['at the top', Math.floor((tops + 1) * (1000 / 300) * 0.3)],
      ['past the top', 3],
    ]);
  });

  test('a request to stop ends the search with what it found, marked interrupted', () => {
    let asked = 0;
    const check = checkDesign(soundCounter, { seed: 7, runs: 1_000_000, shouldStop: () => ++asked > 50 });
    expect(check).toMatchObject({ verdict: 'inconclusive', cutShort: 'interrupted', interrupted: true });
    expect(check.runs).toBe(50);
    expect(check.reason).toBe('interrupted after 50 runs with nothing found');
  });

  test('a request to stop after a failure keeps the failure, unshrunk', () => {
    let asked = 0;
    const check = checkDesign(stepThrows, { seed: 7, runs: 1_000_000, shouldStop: () => ++asked > 200 });
    expect(check.verdict).toBe('crashed');
    expect(check.crashedAt).not.toBeNull();
    expect(check.crash).toBeNull();
  });
});
