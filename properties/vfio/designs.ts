/**
 * The built-in VFIO designs: device assignment with and without an IOMMU, mediated devices
 * (docs/debates.md#vgpu-dma-through-the-iommu, docs/debates.md#mediated-not-noiommu), and a
 * container holding both an assigned device and mediated ones (docs/reference/vfio-type1.md §1.9,
 * §1.11): the IOMMU path and the external path each pin what they use, and unpin it.
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
  vfioBugs: ['mdev-ignores-unmap'],
  description:
    "the mediated driver's dma_unmap callback returns without unpinning: UNMAP_DMA retries and the kernel BUG_ONs",
  breaks: ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
});

export const vfioMixed = vfioDesign({
  id: 'vfio/mixed',
  world: 'mixed',
  expected: 'holds',
  description:
    'a vfio-pci device and an emulated group (mdev, ccw) in one container: the IOMMU path pins every mapped page, the drivers pin the same pages again through vfio_pin_pages, and each path drops only its own pins',
});

export const vfioMixedUnmapSkipsUnpin = vfioDesign({
  id: 'vfio/mixed-unmap-skips-unpin',
  world: 'mixed',
  expected: 'violates',
  vfioBugs: ['unmap-skips-unpin-with-emulated-group'],
  description:
    'while an emulated group is attached, vfio_unmap_unpin takes the pages for externally tracked and only unmaps them: the IOMMU-path pins outlive UNMAP_DMA, uncharged (map, unmap: 2 steps)',
  breaks: ['frame-refcount-matches-holders', 'round-trip-returns-everything', 'failed-op-leaves-state-unchanged'],
});
