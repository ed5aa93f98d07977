/**
 * VFIO over a VT-d IOMMU whose page walks do not snoop the CPU's caches (`ecap.C` = 0; issue 21;
 * docs/reference/vtd.md §3.13): every PTE the driver writes reaches the IOMMU only through the
 * write-back it issues (`domain_flush_cache`). The flawed variant is the design's `writeBack` hook
 * (`models/iommu/coherency.ts`), caught by the generic invariants.
 */
import { unmapSkipsWriteBack } from '../../models/iommu/coherency.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

export const iommuNoncoherent = passthroughDesign({
  id: 'iommu/noncoherent',
  mode: 'strict',
  coherentWalks: false,
  expected: 'holds',
  description:
    "VFIO over strict VT-d on an IOMMU without coherent page walks (ecap.C = 0): each map and unmap writes the PTEs it changed back to memory (domain_flush_cache → clflush_cache_range) before the IOTLB flush, so the IOMMU's walks see what the driver wrote",
});

export const iommuNoncoherentUnmapSkipsWriteBack = passthroughDesign({
  id: 'iommu/noncoherent-unmap-skips-writeback',
  mode: 'strict',
  coherentWalks: false,
  writeBack: unmapSkipsWriteBack,
  expected: 'violates',
  description:
    'the same IOMMU, but the unmap path clears the PTEs without writing them back: memory keeps the old leaf, the IOTLB invalidation only sends the next DMA to walk it, and the device reaches the frame VFIO unpinned (the class of XSA-321)',
  breaks: [
    'no-dma-to-foreign-frame',
    'no-dma-to-free-frame',
    'reachable-frame-owned-by-guest',
    'reachable-frame-pinned',
    'no-stale-iotlb-outside-flush-queue',
  ],
});

/** The coherency designs (`properties/registry.ts`). */
export const passthroughCoherencyDesigns: readonly PassthroughDesign[] = [
  iommuNoncoherent,
  iommuNoncoherentUnmapSkipsWriteBack,
];
