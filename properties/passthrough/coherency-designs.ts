/**
 * VFIO over a VT-d IOMMU whose page walks do not snoop the CPU's caches (`ecap.C` = 0; issue 21;
 * docs/reference/vtd.md §3.13): every PTE the driver writes reaches the IOMMU only through the
 * write-back it issues (`domain_flush_cache`), and every PASID entry too (`clflush_cache_range` in
 * `pasid_flush_caches` and `intel_pasid_tear_down_entry`). The flawed variants are the design's
 * `writeBack` hook (`models/iommu/coherency.ts`), its `pasid.tearDown` hook and its
 * `lifecycle.blockTranslation` hook (the detach's context entry), caught by the generic invariants.
 *
 * The context cache (docs/reference/vtd.md §3.13.1, `models/iommu/context-cache.ts`): the sound
 * non-coherent design has one, and VFIO_GROUP_UNSET_CONTAINER runs in two phases there (type1's
 * `iommu_detach_group`, then its unmaps, unpins and the domain's free), with the device's DMA in
 * between. A detach that skips the context entry's write-back, or the context-cache invalidation,
 * leaves the device translating through VFIO's domain after the detach.
 */
/** Context-cache entries of the designs that model it: more than the world's devices. */
const CONTEXT_CACHE_ENTRIES = 4;
import { unmapSkipsWriteBack } from '../../models/iommu/coherency.js';
import { blockSkippingContextCacheFlush, blockSkippingWriteBack } from '../../models/passthrough/lifecycle.js';
import { tearDownSkippingWriteBack } from '../../models/passthrough/pasid.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

export const iommuNoncoherent = passthroughDesign({
  id: 'iommu/noncoherent',
  mode: 'strict',
  coherentWalks: false,
  contextCacheEntries: CONTEXT_CACHE_ENTRIES,
  expected: 'holds',
  description:
    "VFIO over strict VT-d on an IOMMU without coherent page walks (ecap.C = 0) and with a context cache: each map and unmap writes the PTEs it changed back to memory (domain_flush_cache → clflush_cache_range) before the IOTLB flush, and a detach writes the cleared context entry back before the context-cache and IOTLB invalidations, so the IOMMU's walks see what the driver wrote",
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

export const iommuNoncoherentContextSkipsWriteBack = passthroughDesign({
  id: 'iommu/noncoherent-context-skips-writeback',
  mode: 'strict',
  coherentWalks: false,
  contextCacheEntries: CONTEXT_CACHE_ENTRIES,
  lifecycle: { blockTranslation: blockSkippingWriteBack },
  expected: 'violates',
  description:
    "the same IOMMU, but the detach (domain_context_clear_one) clears the context entry without writing it back, then invalidates the context cache and the IOTLB: memory keeps the entry naming VFIO's domain, and in the window before type1's detach unmaps it the device walks it again and caches it",
  breaks: ['unowned-device-reaches-nothing', 'reused-did-carries-no-earlier-translations'],
});

export const iommuContextCacheSkipsFlush = passthroughDesign({
  id: 'iommu/context-cache-skips-flush',
  mode: 'strict',
  contextCacheEntries: CONTEXT_CACHE_ENTRIES,
  lifecycle: { blockTranslation: blockSkippingContextCacheFlush },
  expected: 'violates',
  description:
    "VFIO over strict VT-d with a context cache, but the detach clears and writes back the context entry and flushes the IOTLB without the context-cache invalidation (intel_context_flush_present's flush_context): the cached entry keeps the device in VFIO's domain after the detach, and names its DID once the domain is freed",
  breaks: ['unowned-device-reaches-nothing', 'reused-did-carries-no-earlier-translations'],
});

/** The coherency designs (`properties/registry.ts`). */
export const passthroughCoherencyDesigns: readonly PassthroughDesign[] = [
  iommuNoncoherent,
  iommuNoncoherentUnmapSkipsWriteBack,
  iommuNoncoherentPasidTeardownSkipsWriteBack,
  iommuNoncoherentContextSkipsWriteBack,
  iommuContextCacheSkipsFlush,
];
