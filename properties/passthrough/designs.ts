/**
 * The built-in designs of VFIO over VT-d (docs/reference/vtd.md §3.5, §5.2;
 * docs/debates.md#vgpu-dma-through-the-iommu): when may a frame that was unmapped be unpinned,
 * given that the IOTLB may still translate to it?
 */
import { passthroughDesign } from './design.js';

export const iommuStrict = passthroughDesign({
  id: 'iommu/strict',
  mode: 'strict',
  expected: 'holds',
  description:
    'VFIO over a VT-d domain in strict mode: the IOTLB is invalidated before UNMAP_DMA unpins, so no stale entry outlives a pin',
});

export const iommuLazy = passthroughDesign({
  id: 'iommu/lazy',
  mode: 'lazy',
  expected: 'violates',
  description:
    'the domain defers invalidation to a flush queue but VFIO unpins at once: a freed, reused frame stays reachable through a stale IOTLB entry',
  breaks: [
    'no-dma-to-foreign-frame',
    'no-dma-to-free-frame',
    'reachable-frame-owned-by-guest',
    'reachable-frame-pinned',
  ],
});

export const iommuLazyHeld = passthroughDesign({
  id: 'iommu/lazy-held',
  mode: 'lazy-held',
  expected: 'holds',
  description: 'the same flush queue, but each unmapped frame is held until the flush that covers its unmap completes',
});

export const iommuUnpinBeforeSync = passthroughDesign({
  id: 'iommu/unpin-before-sync',
  mode: 'strict',
  vfioBugs: ['unpin-before-iotlb-sync'],
  expected: 'violates',
  description:
    'VFIO over a strict VT-d domain, but UNMAP_DMA unpins between iommu_unmap_fast and iommu_iotlb_sync (Linux syncs first, vfio_sync_unpin): the IOTLB entry the sync would drop, or a request translated before the clear, reaches a frame nothing pins (atomic, it holds)',
  // Also, less often within a default run: no-dma-to-free-frame, reachable-frame-owned-by-guest.
  breaks: ['reachable-frame-pinned'],
});
