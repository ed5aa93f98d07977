/**
 * The explore scopes of the VFIO, passthrough and vIOMMU stacks with their phased templates (each
 * phased command also started, an advance per operation in flight) and without: a sound design
 * holds either way, and the interleavings add states. Depths 2–3 keep it to a second or two; the depth-4
 * figures are in docs/reference/vtd.md §3.9 and viommu.md §7.6 (`DMAPROP_DEEP=1` checks them; VFIO's and
 * the vIOMMU's with frames renamed, docs/reference/vfio-type1.md §1.21).
 */
import { describe, expect, test } from 'vitest';
import { iommuStrict } from '../../properties/passthrough/designs.js';
import { passthroughExploreScope } from '../../properties/passthrough/explore-scope.js';
import { vfioType1 } from '../../properties/vfio/designs.js';
import { vfioExploreScope } from '../../properties/vfio/explore-scope.js';
import { viommuShadow } from '../../properties/viommu/designs.js';
import { viommuScope } from '../../properties/viommu/explore-scope.js';
import type { AnyDesign } from '../../src/design.js';
import { exploreDesign } from '../../src/explore.js';
import { DEEP } from '../helpers.js';

const cases: { design: AnyDesign; atomic: AnyDesign; depth: number; states?: [number, number] }[] = [
  {
    design: vfioType1,
    atomic: { ...vfioType1, explore: vfioExploreScope(vfioType1.world, { interleavings: false }) } as AnyDesign,
    depth: DEEP ? 4 : 3,
    ...(DEEP ? { states: [346, 2586] as [number, number] } : {}),
  },
  {
    design: iommuStrict,
    atomic: { ...iommuStrict, explore: passthroughExploreScope(iommuStrict.world, false, { interleavings: false }) },
    depth: DEEP ? 4 : 2,
    ...(DEEP ? { states: [1189, 5000] as [number, number] } : {}),
  },
  {
    design: viommuShadow,
    atomic: { ...viommuShadow, explore: viommuScope(false) },
    depth: DEEP ? 4 : 3,
    ...(DEEP ? { states: [167, 317] as [number, number] } : {}),
  },
];

describe('explore scopes with and without interleavings', () => {
  test.for(cases)('$design.id', ({ design, atomic, depth, states }) => {
    const without = exploreDesign(atomic, { depth });
    const withPhases = exploreDesign(design, { depth });
    for (const result of [without, withPhases]) {
      expect(result).toMatchObject({ verdict: 'holds', depthReached: depth, limitReached: false });
    }
    expect(withPhases.states).toBeGreaterThan(without.states);
    if (states !== undefined) expect([without.states, withPhases.states]).toEqual(states);
  });
});
