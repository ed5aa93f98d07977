/**
 * The built-in VFIO designs: device assignment with and without an IOMMU, and mediated devices
 * (docs/debates.md#vgpu-dma-through-the-iommu, docs/debates.md#mediated-not-noiommu).
 */
import { vfioDesign } from './design.js';

export const vfioType1 = vfioDesign({
  id: 'vfio/type1',
  world: 'passthrough',
  expected: 'holds',
  description: 'vfio-pci device behind an IOMMU domain; type1 pins every mapped page and programs the domain',
});

export const vfioNoiommu = vfioDesign({
  id: 'vfio/noiommu',
  world: 'noiommu',
  expected: 'violates',
  description:
    'the same device in a VFIO_NO_IOMMU group: device addresses are bus addresses, no translation, no isolation',
  breaks: [
    'no-dma-to-foreign-frame',
    'no-dma-to-free-frame',
    'reachable-frame-owned-by-guest',
    'reachable-frame-pinned',
  ],
});

export const mdevUnmapCallback = vfioDesign({
  id: 'mdev/unmap-callback',
  world: 'mediated',
  expected: 'holds',
  description: 'emulated-IOMMU devices pin through vfio_pin_pages and unpin everything in their dma_unmap callback',
});

export const mdevIgnoresUnmap = vfioDesign({
  id: 'mdev/ignores-unmap',
  world: 'mediated',
  expected: 'violates',
  bugs: ['mdev-ignores-unmap'],
  description:
    "the mediated driver's dma_unmap callback returns without unpinning: UNMAP_DMA retries and the kernel BUG_ONs",
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});
