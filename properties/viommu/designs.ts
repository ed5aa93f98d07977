/**
 * The built-in designs of the vIOMMU stack (docs/debates.md#viommu-shadow-or-nested,
 * docs/reference/viommu.md §7): a guest's emulated VT-d over an assigned device, by shadowing
 * (caching mode: every map and unmap trapped) or by nested translation (the guest's table bound as
 * the first level; only invalidations trapped), and one deliberately broken variant of each in
 * which the device reaches a frame the guest no longer owns.
 */
import { viommuDesign } from './design.js';
import type { ViommuDesign } from './design.js';
import { viommuLifecycleExploreScope } from './explore-scope.js';

/** A frame freed and reused while an IOTLB entry still reaches it: every effect and latent invariant sees it. */
const staleEntryBreaks = [
  'no-dma-to-foreign-frame',
  'no-dma-to-free-frame',
  'reachable-frame-owned-by-guest',
  'reachable-frame-pinned',
  'no-stale-iotlb-outside-flush-queue',
];

export const viommuShadow = viommuDesign({
  id: 'viommu/shadow',
  mode: 'shadow',
  expected: 'holds',
  description:
    'caching mode: the VMM traps every guest invalidation, replays the guest table over its range and issues VFIO MAP_DMA/UNMAP_DMA at IOVA = GIOVA',
});

export const viommuNested = viommuDesign({
  id: 'viommu/nested',
  mode: 'nested',
  expected: 'holds',
  description:
    "guest RAM mapped once at IOVA = GPA (stage 2), the guest's table bound as first level; invalidations trapped and forwarded, balloon unmaps stage 2",
});

export const viommuShadowUnmapSkipsFlush = viommuDesign({
  id: 'viommu/shadow-unmap-skips-flush',
  mode: 'shadow',
  iommuBugs: ['unmap-skips-iotlb-invalidate'],
  expected: 'violates',
  description:
    "the host misses the shadow's unmap in its IOTLB: UNMAP_DMA for a trapped guest unmap unpins while GIOVA → frame stays cached",
  // The guest's invalidation completes while the IOTLB still holds the entry: its contract breaks
  // too; so do the lifecycle's, since the context resync's UNMAP_DMA leaves the entry as well.
  breaks: [
    ...staleEntryBreaks,
    'invalidated-giova-unreachable',
    'blocked-device-reaches-nothing',
    'earlier-domain-unreachable',
  ],
});

export const viommuNestedFlushLeavesCombined = viommuDesign({
  id: 'viommu/nested-flush-leaves-combined',
  mode: 'nested',
  iommuBugs: ['stage2-flush-skips-nested-tags'],
  expected: 'violates',
  description:
    'the stage-2 flush of a balloon request skips the nested tag: a combined GIOVA → frame entry survives, and the freed frame is reused',
  breaks: staleEntryBreaks,
});

export const viommuShadowWaitBeforeUnmap = viommuDesign({
  id: 'viommu/shadow-wait-before-unmap',
  mode: 'shadow',
  vmmBugs: ['shadow-completes-wait-before-unmap'],
  expected: 'violates',
  breaks: ['invalidated-giova-unreachable'],
  description:
    "the VMM completes the guest's invalidation wait descriptor before its UNMAP_DMA: the guest's vCPU goes on while the host still maps what it cleared (atomic, it holds)",
});

export const viommuContextClearKeepsShadow: ViommuDesign = {
  ...viommuDesign({
    id: 'viommu/context-clear-keeps-shadow',
    mode: 'shadow',
    vmmBugs: ['shadow-context-clear-keeps-shadow'],
    expected: 'violates',
    breaks: ['blocked-device-reaches-nothing', 'earlier-domain-unreachable'],
    description:
      'a context-cache invalidation that finds the device\'s context entry cleared returns without unmapping its shadow (QEMU before "handle invalid ce for shadow sync"): the detached device keeps reaching its old domain\'s pages',
  }),
  // Its flaw is in the device's life: the scope with detach, attach and context-cache invalidation.
  explore: viommuLifecycleExploreScope,
};

export const viommuShadowSameDidSkipsSync: ViommuDesign = {
  ...viommuDesign({
    id: 'viommu/shadow-same-did-skips-sync',
    mode: 'shadow',
    vmmBugs: ['context-sync-skips-same-did'],
    expected: 'violates',
    breaks: ['earlier-domain-unreachable'],
    description:
      "the VMM skips the resync of a context-cache invalidation when the context entry names the DID it cached: a new domain with the reused DID inherits the old domain's shadow mappings",
  }),
  // Its flaw is in the device's life: the scope with detach, attach and context-cache invalidation.
  explore: viommuLifecycleExploreScope,
};

export const viommuNestedSameDidSkipsFlush: ViommuDesign = {
  ...viommuDesign({
    id: 'viommu/nested-same-did-skips-flush',
    mode: 'nested',
    vmmBugs: ['context-sync-skips-same-did'],
    expected: 'violates',
    breaks: ['earlier-domain-unreachable'],
    description:
      "the VMM skips the flush of the nested domain's cached first-level translations when the new context names the DID it cached: a combined entry of the old domain serves the new one",
  }),
  // Its flaw is in the device's life: the scope with detach, attach and context-cache invalidation.
  explore: viommuLifecycleExploreScope,
};

export const viommuTeOnKeepsNoDmar: ViommuDesign = {
  ...viommuDesign({
    id: 'viommu/te-on-keeps-no-dmar',
    mode: 'shadow',
    vmmBugs: ['shadow-te-on-keeps-no-dmar'],
    expected: 'violates',
    // A blocked device reaching the no-DMAR pages (TE off, detach, TE on, context invalidation) is
    // found too, but on 18 of 20 fresh seeds only: not declared.
    breaks: ['earlier-domain-unreachable'],
    description:
      "turning translation back on, the VMM replays the guest's table and keeps the no-DMAR mappings: the device still reaches guest RAM at IOVA = GPA",
  }),
  explore: viommuLifecycleExploreScope,
};

/**
 * Scalable mode (docs/reference/viommu.md §7.9, `models/viommu/pasid.ts`): the guest's domain is
 * named by the device's RID_PASID entry, which it tears down and sets up with PASID-cache and
 * PASID-based IOTLB invalidations; the VMM shadows the second-level table it names.
 */
export const viommuScalable = viommuDesign({
  id: 'viommu/scalable',
  mode: 'shadow',
  scalable: true,
  expected: 'holds',
  description:
    "scalable mode (caching mode): the device's RID_PASID entry names the guest domain; a PASID-cache invalidation re-syncs the shadow (QEMU v10.2.0 vtd_pasid_cache_sync, unmapping an invalid entry whether cached or not), a PASID-based IOTLB invalidation replays it",
});

export const viommuPasidCacheIgnored = viommuDesign({
  id: 'viommu/pasid-cache-ignored',
  mode: 'shadow',
  scalable: true,
  vmmBugs: ['pasid-cache-ignored'],
  expected: 'violates',
  breaks: ['blocked-device-reaches-nothing', 'earlier-domain-unreachable'],
  description:
    'scalable mode, QEMU before v10.2.0: a PASID-cache invalidation is accepted and ignored, so the shadow of a RID_PASID entry the guest cleared stays (no IOTLB invalidation reaches a device whose entry is not present)',
});

export const viommuPasidCacheGated = viommuDesign({
  id: 'viommu/pasid-cache-gated',
  mode: 'shadow',
  scalable: true,
  vmmBugs: ['pasid-invalid-unmap-needs-cache'],
  expected: 'violates',
  breaks: ['blocked-device-reaches-nothing', 'earlier-domain-unreachable'],
  description:
    "scalable mode, QEMU v10.2.0: vtd_pasid_cache_sync_locked unmaps a cleared RID_PASID entry's shadow only if its PASID cache held the entry, and a GCMD.TE switch empties the cache (vtd_handle_gcmd_te → vtd_reset_caches) while vtd_iommu_replay shadows the table again: after suspend and resume, a by-the-book teardown leaves the blocked device its old pages (master's 851d6b2c8ce7 refills the cache after TE, closing that path; a setup without the PASID-cache invalidation still leads there)",
});
