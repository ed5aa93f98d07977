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
