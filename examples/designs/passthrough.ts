/**
 * VFIO over VT-d: an assigned device's DMA translated by the IOMMU model, in a container world of
 * our own. The stack has no hook; a design chooses the world and the domains' invalidation mode.
 *
 * The question: two vfio-pci devices in incompatible groups (two IOMMU domains, every mapping
 * replayed into both) with an mdev beside them, under a flush queue (`lazy`). Strict mode and the
 * flush queue that holds each unmapped frame until its flush (`lazy-held`) keep it isolated;
 * plain `lazy` lets a stale IOTLB entry reach a frame VFIO already unpinned, then freed, then
 * another VM's.
 */
import { passthroughDesign } from 'dmaprop';
import type { PassthroughDesign, VfioWorldDescription } from 'dmaprop';

export const world: VfioWorldDescription = {
  groups: [
    { kind: 'iommu', pci: 1 },
    { kind: 'iommu', pci: 1, domainClass: 1 }, // incompatible: a second IOMMU domain
    { kind: 'emulated', mdev: 1, ccw: 0 },
  ],
  frames: 24,
  ramPages: 8,
  memlockLimitPages: 8,
  dmaEntryLimit: 4,
};

export const passthroughTwoDomainsHeld: PassthroughDesign = passthroughDesign({
  id: 'example/passthrough-two-domains-held',
  mode: 'lazy-held',
  world,
  expected: 'holds',
  description: 'two IOMMU domains and an mdev in one container; each unmapped frame held until its flush',
});

export const passthroughTwoDomainsLazy: PassthroughDesign = passthroughDesign({
  id: 'example/passthrough-two-domains-lazy',
  mode: 'lazy',
  world,
  expected: 'violates',
  breaks: [
    'reachable-frame-pinned',
    'reachable-frame-owned-by-guest',
    'no-dma-to-free-frame',
    'no-dma-to-foreign-frame',
  ],
  description:
    'two IOMMU domains and an mdev in one container; VFIO unpins while the flush queue still holds the IOTLB entry',
});
