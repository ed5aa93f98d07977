/**
 * Deliberately broken variants of the vIOMMU stack, for the meta-tests. Each names the invariants
 * expected to catch it.
 *
 * - A host that never unpins (VFIO's `unmap-skips-unpin`): frame accounting.
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
    breaks: ['frame-refcount-matches-holders'],
    description: "UNMAP_DMA for a trapped guest unmap never unpins the guest's page",
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
