/**
 * Deliberately broken variants of the vIOMMU stack, for the meta-tests. Each names the invariants
 * expected to catch it.
 *
 * - A host that never unpins (VFIO's `unmap-skips-unpin`): frame accounting, and the shadow round
 *   trip (the guest's clear and invalidation give no pin back).
 * - A host whose failed MAP_DMA gives its slot back twice (VFIO's `map-unwind-returns-slot-twice`),
 *   in a world whose VMM may lock one page only, so that the shadow MAP_DMAs fail: the host's
 *   dma_avail above dma_entry_limit (`counters-in-range`), and a round trip that leaves it raised.
 * - VMM bugs that only hurt the guest — a shadow VMM that misses the guest's unmaps, a nested VMM
 *   that drops the guest's invalidations: the host still pins every frame the device can reach, so
 *   no isolation invariant fails (`test/viommu` shows it). The differential pair, which compares
 *   the two designs on the same well-behaved program, catches them; so does the guest's contract,
 *   `invalidated-giova-unreachable`, on a single design.
 */
import type { ViommuDifferentialDesign } from './differential/design.js';
import { viommuDifferentialDesign } from './differential/design.js';
import type { ViommuDesign } from './design.js';
import { viommuDesign } from './design.js';

export const viommuMutants: readonly ViommuDesign[] = [
  viommuDesign({
    id: 'mutant/viommu-shadow/unmap-skips-unpin',
    mode: 'shadow',
    vfioBugs: ['unmap-skips-unpin'],
    expected: 'violates',
    breaks: ['frame-refcount-matches-holders', 'round-trip-returns-everything'],
    description: "UNMAP_DMA for a trapped guest unmap never unpins the guest's page",
  }),
  viommuDesign({
    id: 'mutant/viommu-shadow/map-unwind-returns-slot-twice',
    mode: 'shadow',
    vfioBugs: ['map-unwind-returns-slot-twice'],
    world: { memlockLimitPages: 1 },
    expected: 'violates',
    breaks: ['counters-in-range', 'round-trip-returns-everything'],
    description:
      "a host MAP_DMA that fails part-way gives its dma_entry_limit slot back twice (vfio_remove_dma, then the error path), under a VMM whose RLIMIT_MEMLOCK (one page) is below what the guest maps: each shadow MAP_DMA refused for locked memory (QEMU reports it and goes on) raises the host's dma_avail, past dma_entry_limit",
  }),
];

export const differentialMutants: readonly ViommuDifferentialDesign[] = [
  viommuDifferentialDesign({
    id: 'mutant/viommu-differential/shadow-misses-unmap',
    vmmBugs: ['shadow-misses-unmap'],
    expected: 'violates',
    breaks: ['shadow-and-nested-agree'],
    description: 'the shadow VMM maps what the guest adds but never unmaps what it removes',
  }),
  viommuDifferentialDesign({
    id: 'mutant/viommu-differential/nested-drops-invalidation',
    vmmBugs: ['nested-drops-invalidation'],
    expected: 'violates',
    breaks: ['shadow-and-nested-agree'],
    description: "the nested VMM traps the guest's invalidations but never forwards them",
  }),
];
