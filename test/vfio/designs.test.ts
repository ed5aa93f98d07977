/**
 * The VFIO designs on the fixed seed set: nothing breaks the sound ones, flawed ones are caught with a
 * counterexample for each invariant they break, none longer than six steps.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import {
  mdevIgnoresUnmap,
  mdevUnmapCallback,
  vfioMixed,
  vfioMixedUnmapSkipsUnpin,
  vfioNoiommu,
  vfioType1,
} from '../../properties/vfio/designs.js';
import { expectNothingFound, FEWER_FIXED_SEEDS } from '../helpers.js';

const cases = [
  vfioType1,
  vfioNoiommu,
  mdevUnmapCallback,
  mdevIgnoresUnmap,
  vfioMixed,
  vfioMixedUnmapSkipsUnpin,
].flatMap((design) => FEWER_FIXED_SEEDS.map((seed) => ({ design, seed })));

describe(`VFIO designs on ${FEWER_FIXED_SEEDS.length} fixed seeds`, () => {
  test.for(cases)(
    '$design.id, seed $seed: nothing breaks a sound design, a flawed one is caught',
    ({ design, seed }) => {
      // Sound designs: each fixed seed × 30 sequences (the statistics test runs each for a default thousand); flawed ones are caught within the first few dozen.
      const check = checkDesign(design, { seed, runs: design.expected === 'holds' ? 30 : 200, report: design.breaks });
      if (design.expected === 'holds') {
        expectNothingFound(check);
        return;
      }
      expect(check.met).toBe(true);
      expect(check.violations.map((found) => found.invariant).sort()).toEqual([...design.breaks].sort());
      for (const found of check.violations) expect(found.length, found.invariant).toBeLessThanOrEqual(6);
    },
  );
});
