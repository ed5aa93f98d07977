/**
 * Each invariant can fail: a deliberately broken variant of each mechanism is caught by the
 * generic invariants and generators, with a replayable counterexample for every invariant it is
 * known to break, and the same trace is harmless in the stack's sound design.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import type { AnyDesign } from '../../src/design.js';
import { violates } from '../../src/execute.js';
import { designs } from '../../properties/registry.js';
import { vfioMutants } from '../../properties/vfio/mutants.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';

const budget = { seed: 11, runs: 300 };
const mutants: readonly AnyDesign[] = [...xenGtMutants, ...vfioMutants];
const stacks = [...new Set(designs.map((design) => design.stack))];

/** The registered sound design of a stack: the baseline a mutant is a broken copy of. */
function soundDesignOf(stack: string): AnyDesign {
  const sound = designs.find((design) => design.stack === stack && design.expected === 'holds');
  if (sound === undefined) throw new Error(`no sound design registered for stack ${stack}`);
  return sound;
}

describe('meta: broken mechanisms are caught', () => {
  test.for(mutants)('$id is caught by $breaks', (mutant) => {
    const check = checkDesign(mutant, { ...budget, report: mutant.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.violations.map((found) => found.invariant).sort()).toEqual([...mutant.breaks].sort());
    const sound = soundDesignOf(mutant.stack);
    for (const found of check.violations) {
      expect(violates(mutant, found.steps, found.invariant), `${found.invariant} replays`).toBe(true);
      expect(violates(sound, found.steps, found.invariant), `${found.invariant} is the mutant's doing`).toBe(false);
    }
  });

  test.for(stacks)('every invariant of the %s stack is broken by some flawed design or mutant', (stack) => {
    // Stacks built on the same models share an invariant set (passthrough and mediated both
    // check the VFIO invariants), so coverage counts every flawed design with the same set.
    const names = (design: AnyDesign): string => design.invariants.map((invariant) => invariant.name).join(',');
    const sound = soundDesignOf(stack);
    const flawed = [...designs, ...mutants].filter(
      (design) => design.expected === 'violates' && names(design) === names(sound),
    );
    const broken = new Set(flawed.flatMap((design) => design.breaks));
    const unbroken = sound.invariants.map((invariant) => invariant.name).filter((name) => !broken.has(name));
    expect(unbroken).toEqual([]);
  });

  test.for(stacks)('the sound %s design holds under the same budget', (stack) => {
    expect(checkDesign(soundDesignOf(stack), budget).verdict).toBe('holds');
  });
});
