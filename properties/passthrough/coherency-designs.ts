/**
 * VFIO over a VT-d IOMMU whose page walks do not snoop the CPU's caches (`ecap.C` = 0; issue 21;
 * docs/reference/vtd.md §3.13): every PTE the driver writes reaches the IOMMU only through the
 * write-back it issues (`domain_flush_cache`), and every PASID entry too (`clflush_cache_range` in
 * `pasid_flush_caches` and `intel_pasid_tear_down_entry`). The flawed variants are the design's
 * `writeBack` hook (`models/iommu/coherency.ts`) and its `pasid.tearDown` hook, caught by the
 * generic invariants.
 */
import { unmapSkipsWriteBack } from '../../models/iommu/coherency.js';
import { tearDownSkippingWriteBack } from '../../models/passthrough/pasid.js';
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

export const iommuNoncoherentPasidTeardownSkipsWriteBack = passthroughDesign({
  id: 'iommu/noncoherent-pasid-skips-writeback',
  mode: 'strict',
  coherentWalks: false,
  pasid: { tearDown: tearDownSkippingWriteBack },
  expected: 'violates',
  description:
    "the same IOMMU, but a PASID's teardown clears the entry without writing it back (no clflush_cache_range after the clear), then invalidates the PASID cache and the IOTLB: memory keeps the present entry, the IOMMU walks it again, and it names the DID after the domain is freed",
  breaks: ['reused-did-carries-no-earlier-translations'],
});

/** The coherency designs (`properties/registry.ts`). */
export const passthroughCoherencyDesigns: readonly PassthroughDesign[] = [
  iommuNoncoherent,
  iommuNoncoherentUnmapSkipsWriteBack,
  iommuNoncoherentPasidTeardownSkipsWriteBack,
];
