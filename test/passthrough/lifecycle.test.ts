/**
 * The passthrough lifecycle designs (docs/reference/vtd.md §3.10) on fixed seeds: the sound one
 * holds; each flawed `blockTranslation` hook is caught by the two lifecycle invariants, in at most
 * four steps (close the device, map, DMA, the group out; two for the kept context entry: close,
 * out). A second or two per design: the deeper tier only (`DMAPROP_DEEP=1`), on every fixed
 * seed with every declared break; the default tier has the step-by-step unit tests
 * (`test/models/passthrough/lifecycle.test.ts`).
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import {
  iommuContextClearFlushesClearedDid,
  iommuDetachKeepsContext,
  iommuStrictRegroup,
} from '../../properties/passthrough/lifecycle-designs.js';
import { DEEP, expectNothingFound, FIXED_SEEDS } from '../helpers.js';

const lifecycle = ['unowned-device-reaches-nothing', 'reused-did-carries-no-earlier-translations'];
const seeds = FIXED_SEEDS;

describe.skipIf(!DEEP)(`passthrough lifecycle on ${seeds.length} fixed seeds`, () => {
  test.for(seeds)('iommu/strict-regroup, seed %i: nothing breaks', (seed) => {
    expectNothingFound(checkDesign(iommuStrictRegroup, { seed, runs: 1000 }));
  });

  test.for(
    seeds.flatMap((seed) =>
      [iommuContextClearFlushesClearedDid, iommuDetachKeepsContext].map((design) => ({ design, seed })),
    ),
  )('$design.id, seed $seed: the lifecycle invariants catch it in at most four steps', ({ design, seed }) => {
    const report = design.breaks;
    const check = checkDesign(design, { seed, runs: 1000, report });
    expect(check.verdict).toBe('violated');
    const found = Object.fromEntries(check.violations.map((violation) => [violation.invariant, violation.length]));
    for (const name of lifecycle) expect(found[name], name).toBeLessThanOrEqual(4);
    if (DEEP) expect(Object.keys(found).sort()).toEqual(expect.arrayContaining([...design.breaks].sort()));
  });
});
