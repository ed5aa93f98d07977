/**
 * Each invariant can fail: a deliberately broken variant of each mechanism is caught by the
 * generic invariants and generators, with a replayable counterexample for every invariant it is
 * known to break. The sound design, under the same budget, is not flagged.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { violates } from '../../src/execute.js';
import { designs } from '../../properties/registry.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';

const budget = { seed: 11, runs: 500 };

describe('meta: broken mechanisms are caught', () => {
  test.for(xenGtMutants)('$id is caught by $breaks', (mutant) => {
    const check = checkDesign(mutant, { ...budget, report: mutant.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.violations.map((found) => found.invariant).sort()).toEqual([...mutant.breaks].sort());
    for (const found of check.violations) {
      expect(violates(mutant, found.steps, found.invariant), `${found.invariant} replays`).toBe(true);
      expect(violates(xenMap, found.steps, found.invariant), `${found.invariant} is the mutant's doing`).toBe(false);
    }
  });

  test('every XenGT invariant is broken by some flawed design or mutant', () => {
    const flawed = [...designs.filter((design) => design.expected === 'violates'), ...xenGtMutants];
    const broken = new Set(flawed.flatMap((design) => design.breaks));
    const unbroken = xenMap.invariants.map((invariant) => invariant.name).filter((name) => !broken.has(name));
    expect(unbroken).toEqual([]);
  });

  test('the sound design holds under the same budget', () => {
    expect(checkDesign(xenMap, budget).verdict).toBe('holds');
  });
});
