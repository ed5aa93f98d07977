/**
 * The type1 ↔ iommufd differential's small scope for `dmaprop explore` (exhaustive breadth-first
 * search): one VMM program run on the type1 passthrough stack and on iommufd's VFIO compatibility
 * layer side by side (`models/iommufd-pt/pair.ts`).
 *
 * Covered, from every state, in this order: the VMM's start-up in one (SET_CONTAINER,
 * VFIO_SET_IOMMU, the device's open) with a v2 (type 3) or a v1 (type 1) container; MAP_DMA
 * (read-write) of one page at IOVA page 0 from RAM vaddr page 16 and at page 1 from page 17, and of
 * two pages at 0 from page 16; UNMAP_DMA of page 0, of page 1, and UNMAP_DMA ALL; the device reading
 * at IOVA pages 0 and 1; GET_INFO with room for the capability chain; the VMM munmapping RAM
 * pages 16 and 17. The two-page map and the one-page unmaps inside it are type1's and iommufd's
 * different answers to an unmap that splits a mapping (v2 bisects, v1 cuts: declared differences).
 *
 * Left out: the start-up ioctl by ioctl, nesting and unknown IOMMU types, edge values (the MSI
 * window, 2^64, unaligned, no READ/WRITE), CHECK_EXTENSION, mmap, DMA writes, the lazily faulted
 * region (the random search covers them: each declared difference has a program of its own in
 * test/iommufd-pt/differential.test.ts).
 *
 * No symmetry reduction: the key is the whole pair. The type1 side's unmaps reach VT-d one
 * `iommu_unmap_fast` per run of physically contiguous frames (`models/passthrough/forward.ts`),
 * and this scope has runs of two (the two-page map, UNMAP_DMA ALL), so which frames are adjacent
 * decides the IOMMU's calls (see `../../passthrough/explore-scope.ts`).
 */
import type { Type1IommufdPairState, VmmOp } from '../../../models/iommufd-pt/pair.js';
import type { ExploreScope } from '../../../src/design.js';
import { stableJson } from '../../../src/explore.js';
import { stableFingerprint } from '../../../src/stable-fingerprint.js';
import { RAM_VADDR_PAGE } from '../../vfio/world.js';

const PAGE = 4096n;
const bytes = (page: number): string => (BigInt(page) * PAGE).toString();
/** VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE. */
const READ_WRITE = 3;
/** VFIO_DMA_UNMAP_FLAG_ALL. */
const UNMAP_ALL = 2;
const pages = [0, 1];

function mapDma(vaddrPage: number, iovaPage: number, npages: number): VmmOp {
  return {
    kind: 'mapDma',
    argsz: 32,
    flags: READ_WRITE,
    vaddr: bytes(vaddrPage),
    iova: bytes(iovaPage),
    sizeBytes: bytes(npages),
  };
}

const templates: readonly VmmOp[] = [
  { kind: 'startVm', type: 3, steps: 3 },
  { kind: 'startVm', type: 1, steps: 3 },
  ...pages.map((iovaPage) => mapDma(RAM_VADDR_PAGE + iovaPage, iovaPage, 1)),
  mapDma(RAM_VADDR_PAGE, 0, 2),
  ...pages.map((iovaPage): VmmOp => ({
    kind: 'unmapDma',
    argsz: 24,
    flags: 0,
    iova: bytes(iovaPage),
    sizeBytes: bytes(1),
  })),
  { kind: 'unmapDma', argsz: 24, flags: UNMAP_ALL, iova: '0', sizeBytes: '0' },
  ...pages.map((iovaPage): VmmOp => ({ kind: 'dma', iovaPage, write: false })),
  { kind: 'getInfo', argsz: 512 },
  ...pages.map((offset): VmmOp => ({ kind: 'munmap', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
];

export const type1IommufdExploreScope: ExploreScope<Type1IommufdPairState, VmmOp> = {
  description: `type1 ↔ iommufd: the VMM's start-up (v2 or v1), one-page MAP_DMA at IOVA pages 0-1 and two pages at 0, UNMAP_DMA of page 0, 1 and all, device reads at pages 0-1, GET_INFO, munmaps of RAM pages 16-17 (${templates.length} commands per state; no symmetry reduction: type1 unmaps physically contiguous runs)`,
  templates: () => templates,
  key: (state) => stableJson(state),
  fingerprint: (state) => stableFingerprint(state),
};
