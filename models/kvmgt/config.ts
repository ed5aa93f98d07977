/**
 * Configuration of the KVMGT stack: the world it runs in (described as data, with today's small
 * world as the default), the mediator's and the VFIO model's configurations, the vGPU's
 * `dma_unmap` op (a hook, `unmap-callback.ts`), and deliberate bugs of KVMGT's services.
 */
import { worldSize } from '../world-size.js';
import { partitionGgtt } from '../gvt/config.js';
import { pages2M } from '../gvt/huge2m.js';
import type { GgttPartition, GvtConfig, GvtLayout } from '../gvt/config.js';
import type { AllocPolicy } from '../memory/frames.js';
import type { VfioConfig } from '../vfio/config.js';
import type { ShadowOrder } from '../gvt/cmd.js';
import type { KvmgtUnmapCallback } from './unmap-callback.js';

export const kvmgtBugs = [
  /** The page is mapped for the GPU without vfio_pin_pages: nothing keeps the frame. */
  'map-skips-pin',
  /**
   * `dma_unmap_page` leaves the GPU's translation in place, as with the GPU outside host IOMMU
   * translation (`intel_iommu=igfx_off`), where a DMA address is the frame's physical address.
   */
  'unmap-keeps-mapping',
  /**
   * `kvmgt_page_track_write` runs GVT's handler without the vGPU lock: two vCPUs' trapped stores
   * to one entry are handled at once, and the later write releases the old entry the earlier one
   * read (`old_se`) again, leaving what the other wrote unreleased.
   */
  'track-write-skips-vgpu-lock',
  /**
   * The handler shadows the bytes the trapped store carried (`val`, as KVM passes it to the
   * notifier) instead of re-reading the guest entry: when two vCPUs' stores to one entry are
   * handled in the other order, the shadow keeps the older value.
   */
  'handler-shadows-trapped-value',
] as const;

export type KvmgtBug = (typeof kvmgtBugs)[number];

/**
 * What a KVMGT bug needs of a design: `trapped-stores` (the mediator write-protects guest page
 * tables, so a guest store traps and its handler runs) and `two-vcpus` (a second vCPU stores
 * while the first one's store is being handled). The first two bugs sit on the mediator's
 * translation, which every design runs (a GGTT write maps a page, its rewrite releases it).
 */
export type KvmgtFeature = 'trapped-stores' | 'two-vcpus';

export const kvmgtFeatureMissing: Readonly<Record<KvmgtFeature, string>> = {
  'trapped-stores': 'does not write-protect guest page tables (writeProtect: false)',
  'two-vcpus': 'runs its guest on one vCPU (world.vcpus: 1)',
};

export const kvmgtBugNeeds: Readonly<
  Record<KvmgtBug, { readonly needs: readonly KvmgtFeature[]; readonly otherwise: string }>
> = {
  'map-skips-pin': { needs: [], otherwise: 'no guest page is ever mapped for the GPU' },
  'unmap-keeps-mapping': { needs: [], otherwise: 'no DMA address is ever released' },
  'track-write-skips-vgpu-lock': {
    needs: ['trapped-stores', 'two-vcpus'],
    otherwise: 'no two trapped stores are ever handled at once',
  },
  'handler-shadows-trapped-value': {
    needs: ['trapped-stores', 'two-vcpus'],
    otherwise: 'guest memory never changes between a trapped store and its handler',
  },
};

/**
 * Which lock the vGPU's `dma_unmap` op takes, and so where it can run among the mediator's
 * phases (`models/gvt/inflight.ts`):
 * - `vgpu`: the vGPU lock, then `cache_lock`: never inside a mediator operation (the VMM's
 *   UNMAP_DMA waits for the operation to finish). An op that rewrites shadow entries needs it:
 *   the shadow tables are the vGPU lock's.
 * - `cache`: `cache_lock` only, as `intel_vgpu_dma_unmap` in v6.12: between a handler's translation
 *   and its shadow write, so a handler may write an address the op has just released.
 * - `none`: no lock (a flawed op): also inside `intel_gvt_dma_map_guest_page`, between its pin and
 *   map and its cache insert, where the op finds no entry for a page the mediator has pinned.
 */
export type UnmapLock = 'vgpu' | 'cache' | 'none';

/** Guest vCPUs: a guest command runs on the first idle one. */
export const DEFAULT_VCPUS = 2;

/** Frame owners: the VM (the VMM process), another VM, and the host's own GPU driver. */
export const VM_OWNER = 1;
export const OTHER_OWNER = 2;
export const HOST_OWNER = 3;
/** The guest's RAM: gfn `g` is vaddr page `RAM_VADDR_PAGE + g` and IOVA page `g`. */
export const RAM_VADDR_PAGE = 16;
/** The vGPU, device 0 of the emulated group. */
export const VGPU_DEVICE = 0;
/** DMA address of the host's first own GGTT page (the others follow), and of the mediator's pool. */
export const HOST_GGTT_DMA_BASE = 0x100;
export const DMA_POOL_BASE = 0x200;

/** The world a KVMGT design runs in; every field has today's value as its default. */
export interface KvmgtWorldDescription {
  /** Host frames (default 16): guest RAM, the host GPU driver's pages, the other VM's and the free ones. */
  readonly frames?: number;
  /** Pages of guest RAM, populated at start (default 8; 2 to 256, a whole number of sections). */
  readonly ramPages?: number;
  /** The VMM maps guest RAM into the container in sections of this many pages (default 2). */
  readonly ramSectionPages?: number;
  /** `RLIMIT_MEMLOCK` of the VMM process, in pages (default 16; no CAP_IPC_LOCK): the vGPU's pins count against it. */
  readonly memlockLimitPages?: number;
  /** The type1 `dma_entry_limit` (default 8): at least the RAM's sections, which the VMM maps at start. */
  readonly dmaEntryLimit?: number;
  /** Frames another VM holds at start (default 1). */
  readonly otherVmFrames?: number;
  /** DMA addresses the host IOMMU domain can hand the GPU for guest pages (default 8; 1 to 64). */
  readonly dmaPoolPages?: number;
  /**
   * The guest's vCPUs (default 2; 1 to 8): each runs one guest command at a time, and a trapped
   * store keeps its vCPU until its handler returns.
   */
  readonly vcpus?: number;
  /**
   * Guest RAM backed by host huge pages (issue 21): the first gfns of ranges of a 2M page's pages
   * (`huge2m.ts`: `entriesPerTable`, 4 by default), each 2M-aligned, that the VMM backs with one
   * physically contiguous host range (a hugetlbfs/THP page), so that `gvt_pin_guest_page` finds
   * them contiguous; the rest of RAM is 4K pages from the allocator, not contiguous. Default: the
   * first range (gfns 0-3 of today's eight pages, where the guest's page tables live; gfns 4-7,
   * which the vGPU's GGTT entries map 4K from the start, are 4K pages), so a 2M entry can be
   * shadowed whole there and is split above it.
   */
  readonly hugePages?: readonly number[];
  /**
   * The GGTT partition: the host's own entries from index 0 (each a page of the host's GPU
   * driver), then the vGPU's aperture and hidden ranges (default 2, 2, 2; 4 entries per
   * page-table page).
   */
  readonly ggtt?: GgttPartition;
}

/** A KVMGT world with every default filled in. */
export interface KvmgtWorld {
  readonly frames: number;
  readonly policy: AllocPolicy;
  readonly ramPages: number;
  readonly ramSectionPages: number;
  readonly memlockLimitPages: number;
  readonly dmaEntryLimit: number;
  readonly otherVmFrames: number;
  readonly dmaPoolPages: number;
  readonly vcpus: number;
  readonly layout: GvtLayout;
  /** First gfns of the RAM ranges a host huge page backs, ascending (`KvmgtWorldDescription.hugePages`). */
  readonly hugePages: readonly number[];
  /** DMA addresses of the host's own GGTT pages, by host GGTT index. */
  readonly hostGgttDmaAddrs: readonly number[];
}

export interface KvmgtConfig {
  readonly world: KvmgtWorld;
  readonly gvt: GvtConfig;
  readonly vfio: VfioConfig;
  /** The vGPU's `dma_unmap` op, and the lock it takes. */
  readonly unmapCallback: KvmgtUnmapCallback;
  readonly unmapLock: UnmapLock;
  /** How the scanner shadows a batch (`shadow-copy` only): copy then scan, or the flawed scan then copy. */
  readonly shadowOrder: ShadowOrder;
  readonly bugs: readonly KvmgtBug[];
  /**
   * `gvt_dma_map_page`'s unwind when `dma_map_page` fails after the page was pinned: `unpin`
   * (default, `gvt_unpin_guest_page` as in v6.12) or `keep-pin` (a flawed unwind: the pin stays,
   * charged to the VMM's locked_vm, with no DMA cache entry to release it by). Absent: `unpin`.
   */
  readonly dmaMapUnwind?: 'unpin' | 'keep-pin';
  /**
   * What the vGPU's destroy and create do with the host GGTT entries of its ranges (issue 18):
   * `destroyResetsGgtt` (`intel_gvt_destroy_vgpu` → `intel_vgpu_reset_ggtt(vgpu, true)`) and
   * `createResetsGgtt` (`intel_vgpu_init_gtt` → `intel_vgpu_reset_ggtt(vgpu, false)`, commit
   * d650ac06 "reset the GGTT entry when vGPU created"). Absent or true: v6.12 does both.
   */
  readonly lifecycle?: { readonly destroyResetsGgtt?: boolean; readonly createResetsGgtt?: boolean };
}

export function hasKvmgtBug(config: KvmgtConfig, bug: KvmgtBug): boolean {
  return config.bugs.includes(bug);
}

/** The world with its defaults filled in; throws an Error saying why when it cannot be set up. */
export function kvmgtWorld(description: KvmgtWorldDescription = {}, policy: AllocPolicy = 'lifo'): KvmgtWorld {
  if (typeof description !== 'object' || description === null) throw new Error('KVMGT world: a world is an object');
  const layout = partitionGgtt(description.ggtt ?? {}, 'host-first');
  const hostEntries = layout.aperture.start;
  const ramSectionPages = worldSize('KVMGT world', 'ramSectionPages', description.ramSectionPages, 1, 64, 2);
  const ramPages = worldSize('KVMGT world', 'ramPages', description.ramPages, 2, 256, 8);
  if (ramPages % ramSectionPages !== 0) {
    throw new Error(`KVMGT world: ${ramPages} RAM pages are not a whole number of ${ramSectionPages}-page sections`);
  }
  const otherVmFrames = worldSize('KVMGT world', 'otherVmFrames', description.otherVmFrames, 0, 4096, 1);
  const frames = worldSize('KVMGT world', 'frames', description.frames, 2, 4096, 16);
  const used = ramPages + hostEntries + otherVmFrames;
  if (frames <= used) {
    throw new Error(
      `KVMGT world: ${frames} frames hold the ${ramPages} RAM pages, the host's ${hostEntries} GGTT pages and the other VM's ${otherVmFrames} with none left free: no frame could be reused`,
    );
  }
  const sections = ramPages / ramSectionPages;
  const dmaEntryLimit = worldSize('KVMGT world', 'dmaEntryLimit', description.dmaEntryLimit, 1, 65535, 8);
  if (dmaEntryLimit < sections) {
    throw new Error(
      `KVMGT world: the VMM maps guest RAM in ${sections} sections at start, but dma_entry_limit is ${dmaEntryLimit}`,
    );
  }
  const memlockLimitPages = worldSize(
    'KVMGT world',
    'memlockLimitPages',
    description.memlockLimitPages,
    1,
    2 ** 31,
    16,
  );
  const dmaPoolPages = worldSize('KVMGT world', 'dmaPoolPages', description.dmaPoolPages, 1, 64, 8);
  const vcpus = worldSize('KVMGT world', 'vcpus', description.vcpus, 1, 8, DEFAULT_VCPUS);
  // At start the guest's driver points the vGPU's entries at the upper half of its RAM (`world.ts`).
  const initialPages = Math.min(layout.ggttEntries - hostEntries, ramPages - Math.floor(ramPages / 2));
  if (memlockLimitPages < initialPages || dmaPoolPages < initialPages) {
    throw new Error(
      `KVMGT world: the vGPU pins and maps ${initialPages} guest pages at start, but RLIMIT_MEMLOCK is ${memlockLimitPages} pages and the DMA pool ${dmaPoolPages} addresses`,
    );
  }
  const span = pages2M(layout);
  const hugePages = [...(description.hugePages ?? (ramPages >= span ? [0] : []))].sort((a, b) => a - b);
  for (const [i, start] of hugePages.entries()) {
    if (
      !Number.isInteger(start) ||
      start < 0 ||
      start % span !== 0 ||
      start + span > ramPages ||
      hugePages[i - 1] === start
    ) {
      throw new Error(
        `KVMGT world: hugePages: expected distinct ${span}-page-aligned starts of ranges inside the ${ramPages} RAM pages, got ${JSON.stringify(description.hugePages)}`,
      );
    }
  }
  return {
    frames,
    policy,
    ramPages,
    hugePages,
    ramSectionPages,
    memlockLimitPages,
    dmaEntryLimit,
    otherVmFrames,
    dmaPoolPages,
    vcpus,
    layout,
    hostGgttDmaAddrs: Array.from({ length: hostEntries }, (_, index) => HOST_GGTT_DMA_BASE + index),
  };
}

/** True when a host huge page backs guest RAM page `gfn` (`KvmgtWorld.hugePages`). */
export function isHugeBacked(world: Pick<KvmgtWorld, 'hugePages' | 'layout'>, gfn: number): boolean {
  return world.hugePages.some((start) => gfn >= start && gfn < start + pages2M(world.layout));
}

/** The world's guest RAM page `gfn`. */
export function isGuestRam(world: KvmgtWorld, gfn: number): boolean {
  return Number.isInteger(gfn) && gfn >= 0 && gfn < world.ramPages;
}
