/**
 * VFIO over VT-d on the fixed seed set: strict and lazy-held hold; lazy is caught on every seed,
 * each counterexample at most six steps. The latent invariants (a freed frame reachable through a
 * stale IOTLB entry) break within a few dozen runs on every seed; the effect invariants need the
 * DMA itself after the frame's reuse and take hundreds of runs, so one longer check shows them.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { iommuLazy, iommuLazyHeld, iommuStrict } from '../../properties/passthrough/designs.js';
import { DEEP, expectNothingFound, FIXED_SEEDS } from '../helpers.js';

// Three of the fixed seeds in the default tier (all of them in the deeper tier, `DEEP`). The flawed
// design's shrinking costs 3 to 4 s a seed under load: the default tier keeps one of them, beside
// the longer check at seed 1001 below.
const seeds = DEEP ? FIXED_SEEDS : FIXED_SEEDS.slice(0, 3);
const flawedSeeds = DEEP ? FIXED_SEEDS : FIXED_SEEDS.slice(2, 3);
const cases = [iommuStrict, iommuLazy, iommuLazyHeld].flatMap((design) =>
  (design.expected === 'holds' ? seeds : flawedSeeds).map((seed) => ({ design, seed })),
);

const latentBreaks = iommuLazy.breaks.filter(
  (name) => iommuLazy.invariants.find((invariant) => invariant.name === name)?.class === 'latent',
);

describe(`VFIO over VT-d on ${seeds.length} fixed seeds`, () => {
  test.for(cases)(
    '$design.id, seed $seed: nothing breaks a sound design, a flawed one is caught',
    ({ design, seed }) => {
      const report = design.expected === 'holds' ? [] : latentBreaks;
      const check = checkDesign(design, { seed, runs: design.expected === 'holds' ? 20 : 150, report });
      if (design.expected === 'holds') {
        expectNothingFound(check);
        return;
      }
      // The pass stops once the latent breaks are found: the effect ones are left undecided here.
      expect(check.verdict).toBe('violated');
      expect(check.violations.map((found) => found.invariant).sort()).toEqual([...latentBreaks].sort());
      for (const found of check.violations) expect(found.length, found.invariant).toBeLessThanOrEqual(6);
    },
  );

  // 4 to 6 s (1,000 runs, four traces shrunk): in the deeper tier; the default tier's seed above
  // shows the latent breaks, and the explorer's comparison (test/explore/meta-cases.ts) the lengths.
  test.runIf(DEEP)(
    'iommu/lazy: the stale IOTLB entry carries a DMA into a free frame and into a frame of another owner',
    () => {
      const check = checkDesign(iommuLazy, { seed: 1001, runs: 1000, report: iommuLazy.breaks });
      expect(check.violations.map((found) => found.invariant).sort()).toEqual([...iommuLazy.breaks].sort());
      const lengths = Object.fromEntries(check.violations.map((found) => [found.invariant, found.length]));
      expect(lengths).toEqual({
        'reachable-frame-pinned': 3,
        'reachable-frame-owned-by-guest': 4,
        'no-dma-to-free-frame': 5,
        'no-dma-to-foreign-frame': 6,
      });
    },
  );
});
