/**
 * Partial-order reduction (`src/partial-order.ts`) loses nothing: with and without it, the
 * explorer visits the same states and finds the same verdicts and shortest lengths; the
 * transitions it skips are exactly those it no longer steps. Checked on a toy with independent
 * CPUs and on every built-in design whose scope declares footprints.
 */
import { describe, expect, test } from 'vitest';
import { exploreDesign } from '../../src/explore.js';
import type { ExploreResult } from '../../src/explore.js';
import type { AnyDesign, Step } from '../../src/design.js';
import { footprintProblems, independent } from '../../src/partial-order.js';
import { designs, mutants } from '../../properties/registry.js';
import { DEEP } from '../helpers.js';
import { countersDesign, lockedCounters, unlockedCounters } from '../interleave/por-toy.js';
import type { Counters, CountersCommand } from '../interleave/por-toy.js';

function summary(result: ExploreResult): unknown {
  return {
    states: result.states,
    verdict: result.verdict,
    depthReached: result.depthReached,
    lengths: result.violations.map((counterexample) => [counterexample.invariant, counterexample.length]),
  };
}

function compare(design: AnyDesign, depth: number): { reduced: ExploreResult; full: ExploreResult } {
  const reduced = exploreDesign(design, { depth, partialOrder: true });
  const full = exploreDesign(design, { depth });
  expect(reduced.partialOrder).toBe(true);
  expect(full.partialOrder).toBe(false);
  expect(full.slept).toBe(0);
  expect(summary(reduced)).toEqual(summary(full));
  return { reduced, full };
}

describe('partial-order reduction', () => {
  test('footprints: independent when neither writes what the other reads or writes; unknown conflicts', () => {
    const own0 = { reads: ['cpu0 busy'], writes: ['cpu0 own'] };
    const own1 = { reads: ['cpu1 busy'], writes: ['cpu1 own'] };
    const readsOwn0 = { reads: ['cpu0 own'], writes: [] };
    expect(independent(own0, own1)).toBe(true);
    expect(independent(own0, readsOwn0)).toBe(false);
    expect(independent(readsOwn0, own0)).toBe(false);
    expect(independent(readsOwn0, readsOwn0)).toBe(true);
    expect(independent(own0, own0)).toBe(false);
    expect(independent(null, own1)).toBe(false);
  });

  test('toy: independent CPUs are tried in one order; states, verdicts and shortest lengths unchanged', () => {
    for (const design of [lockedCounters, unlockedCounters]) {
      const { reduced, full } = compare(design, 6);
      expect(reduced.slept).toBeGreaterThan(0);
      // Every (state, command) pair is either stepped or skipped, whichever way is taken.
      if (design.expected === 'holds') expect(reduced.transitions + reduced.slept).toBe(full.transitions);
      expect(reduced.transitions).toBeLessThan(full.transitions);
    }
    const lost = exploreDesign(unlockedCounters, { depth: 6, partialOrder: true });
    expect(lost.violations.map((counterexample) => counterexample.length)).toEqual([3]);
  });

  test('footprintProblems: the toy keeps its promise; a footprint that hides a conflict is caught', () => {
    expect(footprintProblems(unlockedCounters, { depth: 3 })).toEqual([]);
    expect(footprintProblems(lockedCounters, { depth: 3 })).toEqual([]);
    // Claims an atomic shared add touches only its CPU's own counter: it conflicts with the other CPU's work on the shared one.
    const wrong = countersDesign({ id: 'toy/wrong-footprint', locked: false, expected: 'violates' });
    const scope = wrong.explore!;
    const lying = {
      ...wrong,
      explore: {
        ...scope,
        footprint: (state: Counters, command: CountersCommand, step: Step<Counters>) =>
          command.kind === 'addShared' && command.phased !== true
            ? { reads: [`cpu${command.cpu} busy`], writes: [`cpu${command.cpu} own`] }
            : scope.footprint!(state, command, step),
      },
    };
    const problems = footprintProblems(lying, { depth: 2 });
    expect(problems.length).toBeGreaterThan(0);
    // A start reads the shared counter the atomic add writes: the orders end apart.
    expect(problems[0]?.problem).toBe('the two orders end in different states');
  });

  // xen/map in `npm test`; in the deeper tier every built-in design and mutant with footprints,
  // the two registered XenGT designs a level deeper (about 11 minutes all at depth 3).
  const withFootprints = [...designs, ...mutants].filter(
    (design) => design.explore?.footprint !== undefined && (DEEP || design.id === 'xen/map'),
  );
  const depthOf = (design: AnyDesign): number => (DEEP && design.id.startsWith('xen/') ? 3 : 2);
  test.each(withFootprints.map((design) => [design.id, depthOf(design), design] as const))(
    '%s: footprints keep their promise; the same states, verdicts and shortest lengths at depth %i',
    (_id, depth, design) => {
      expect(footprintProblems(design, { depth: depth - 1, maxStates: DEEP ? 2_000 : 15 })).toEqual([]);
      const { reduced, full } = compare(design, depth);
      expect(reduced.transitions).toBeLessThan(full.transitions);
    },
  );
});
