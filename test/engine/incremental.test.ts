/**
 * Incremental checking skips an invariant whose `reads` parts a step left untouched. The full
 * check is the reference: on the same generated traces, every design and mutant gets exactly the
 * same violations (invariant and step) both ways.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import type { AnyDesign } from '../../src/design.js';
import { runTrace } from '../../src/execute.js';
import { defaultGeneration, traceArbitrary } from '../../src/generate.js';
import { designs, mutants } from '../../properties/registry.js';

const subjects: readonly AnyDesign[] = [...designs, ...mutants];
const TRACES = 40;

describe('incremental checking agrees with the full check', () => {
  test.for(subjects)('$id', (design) => {
    const generation = { ...defaultGeneration, ...design.generation };
    const traces = fc.sample(traceArbitrary(design.commands, generation), { seed: 404, numRuns: TRACES });
    for (const templates of traces) {
      const found = (incremental: boolean) =>
        runTrace(design, templates, { stopAtFirst: false, incremental }).violations.map(
          (violation) => `${violation.invariant}@${violation.afterStep}`,
        );
      expect(found(true)).toEqual(found(false));
    }
    // The mechanism is in use wherever a stack declares what its invariants read. Effect and
    // differential invariants read the step's result, which no part of the state shows.
    const declared = design.invariants.filter((invariant) => invariant.reads !== undefined).length;
    const stateOnly = design.invariants.some(
      (invariant) => invariant.class !== 'effect' && invariant.class !== 'differential',
    );
    if (stateOnly) expect(declared).toBeGreaterThan(0);
  });
});
