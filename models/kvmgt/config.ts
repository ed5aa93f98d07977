/**
 * Configuration of the KVMGT stack: the mediator's, the VFIO model's, and what the vGPU's
 * `dma_unmap` op does with the DMA cache. World constants of the standard small world.
 */
import type { GvtConfig, GvtLayout } from '../gvt/config.js';
import type { VfioConfig } from '../vfio/config.js';

/**
 * `release-shadows`: the op points every shadow entry that uses a page of the range at scratch,
 * then unmaps and unpins the page (`kvmgt/unmap-callback`). `drop-cache`: as shipped (§4.7), the
 * entries are unmapped, unpinned and removed regardless of their references and the shadow
 * entries holding their DMA addresses are left as they are (`kvmgt/shipped-unmap`).
 */
export type UnmapCallback = 'release-shadows' | 'drop-cache';

export const kvmgtBugs = [
  /** The page is mapped for the GPU without vfio_pin_pages: nothing keeps the frame. */
  'map-skips-pin',
  /**
   * `dma_unmap_page` leaves the GPU's translation in place, as with the GPU outside host IOMMU
   * translation (`intel_iommu=igfx_off`), where a DMA address is the frame's physical address.
   */
  'unmap-keeps-mapping',
] as const;

export type KvmgtBug = (typeof kvmgtBugs)[number];

export interface KvmgtConfig {
  readonly gvt: GvtConfig;
  readonly vfio: VfioConfig;
  readonly unmapCallback: UnmapCallback;
  readonly bugs: readonly KvmgtBug[];
}

export function hasKvmgtBug(config: KvmgtConfig, bug: KvmgtBug): boolean {
  return config.bugs.includes(bug);
}

/** Frame owners: the VM (the VMM process), another VM, and the host's own GPU driver. */
export const VM_OWNER = 1;
export const OTHER_OWNER = 2;
export const HOST_OWNER = 3;
/** The guest's RAM: gfn `g` is vaddr page `RAM_VADDR_PAGE + g` and IOVA page `g`. */
export const RAM_VADDR_PAGE = 16;
export const RAM_PAGES = 8;
/** The VMM maps guest RAM into the container in sections of this many pages. */
export const RAM_SECTION_PAGES = 2;
export const FRAME_COUNT = 16;
/** The vGPU, device 0 of the emulated group. */
export const VGPU_DEVICE = 0;
/** DMA addresses of the host's own GGTT pages (GGTT indices 0 and 1), and of the mediator's pool. */
export const HOST_GGTT_DMA_ADDRS: readonly number[] = [0x100, 0x101];
export const DMA_POOL_BASE = 0x200;
export const DMA_POOL_PAGES = 8;

/** Host reservation `[0, 2)`, the vGPU's aperture `[2, 4)` and hidden range `[4, 6)`. */
export const kvmgtLayout: GvtLayout = {
  ggttEntries: 6,
  aperture: { start: 2, end: 4 },
  hidden: { start: 4, end: 6 },
  entriesPerTable: 4,
};

export function isGuestRam(gfn: number): boolean {
  return Number.isInteger(gfn) && gfn >= 0 && gfn < RAM_PAGES;
}
