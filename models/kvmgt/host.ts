/**
 * KVMGT's services to the mediator (`kvmgt.c`, docs/reference/gvt-kvmgt.md §4.5, §4.6): a guest page is pinned
 * through `vfio_pin_pages` at IOVA == GPA and mapped for the physical GPU with `dma_map_page`;
 * write protection is KVM's page track over the guest's one memslot; guest memory is read with
 * `vfio_dma_rw`, so only pages mapped in the container can be read. And the vGPU's ops as VFIO
 * calls them: `dma_unmap` and `close_device`.
 */
import { unshared } from '../copy-on-write.js';
import { gvtHook, hookCount, ownGgttIndices } from '../gvt/config.js';
import { entryPages, removeCacheEntry } from '../gvt/dma-cache.js';
import type { HostGgtt } from '../gvt/gpu.js';
import type { GvtHost } from '../gvt/host.js';
import { SCRATCH } from '../gvt/types.js';
import type { GvtVgpu, ShadowPte } from '../gvt/types.js';
import type { GvtLayout } from '../gvt/config.js';
import { releasedGgttOf, teardownVgpu, zeroPage } from '../gvt/vgpu.js';
import type { MediatedDriverOps, VfioConfig } from '../vfio/config.js';
import { driverPin, driverUnpin } from '../vfio/mdev.js';
import { findDmaContaining, newOpContext, type1Backend } from '../vfio/state.js';
import type { KvmgtConfig } from './config.js';
import { RAM_VADDR_PAGE, VGPU_DEVICE, hasKvmgtBug, isGuestRam } from './config.js';
import type { KvmgtWorld } from './config.js';
import { faultStrikes, recordPinFaults } from './fault.js';
import { actorOfOp, lockHolder } from './schedule.js';
import type { KvmgtState } from './types.js';

/** The guest page at `gfn` can be reached through the container and the VMM's vaddr (vfio_dma_rw). */
export function readableGuestPage(state: KvmgtState, world: KvmgtWorld, gfn: number): boolean {
  const backend = type1Backend(state.vfio);
  return (
    isGuestRam(world, gfn) &&
    backend !== null &&
    findDmaContaining(backend, gfn) !== undefined &&
    state.vfio.process.pages[RAM_VADDR_PAGE + gfn] !== undefined
  );
}

export type KvmgtHost = GvtHost<KvmgtState> & HostGgtt<KvmgtState>;

const hosts = new WeakMap<KvmgtConfig, KvmgtHost>();

/** The services for one configuration (its bugs decide a few of them). */
export function kvmgtHost(config: KvmgtConfig): KvmgtHost {
  let host = hosts.get(config);
  if (host === undefined) {
    host = makeHost(config);
    hosts.set(config, host);
  }
  return host;
}

type PinResult = { readonly ok: true; readonly mfn: number } | { readonly ok: false; readonly errno: string };

/** The page's frame: pinned through the container, or, with `map-skips-pin`, only looked up. */
function pinGuestPage(state: KvmgtState, config: KvmgtConfig, gfn: number): PinResult {
  const device = state.vfio.devices[VGPU_DEVICE];
  if (device === undefined || !isGuestRam(config.world, gfn)) return { ok: false, errno: 'EINVAL' };
  if (hasKvmgtBug(config, 'map-skips-pin')) {
    const mfn = state.vfio.process.pages[RAM_VADDR_PAGE + gfn]?.mfn;
    return mfn === undefined || mfn === null ? { ok: false, errno: 'EFAULT' } : { ok: true, mfn };
  }
  // An injected failure of vfio_pin_pages: one 4 KiB page, nothing pinned before it to unwind.
  if (faultStrikes(state, 'pin')) return { ok: false, errno: 'ENOMEM' };
  const ctx = newOpContext();
  const pinned = driverPin(state.vfio, ctx, device, gfn, 1, { read: true, write: true });
  recordPinFaults(state, ctx.faults);
  if (!pinned.ok) return { ok: false, errno: pinned.errno };
  const mfn = pinned.mfns[0];
  return mfn === undefined ? { ok: false, errno: 'EINVAL' } : { ok: true, mfn };
}

/**
 * `gvt_pin_guest_page` of `pages` pages from `gfn`: pinned one by one (`vfio_pin_pages(cur_iova,
 * 1)`); a page that cannot be pinned unpins those before it and fails. With more than one page the
 * frames must be one contiguous range (the design's `pin2M`; v6.12: each the first one's plus its
 * index), else all are unpinned and the pin fails with EINVAL. The frames, in order.
 */
function pinGuestPages(
  state: KvmgtState,
  config: KvmgtConfig,
  gfn: number,
  pages: number,
): { readonly ok: true; readonly mfns: number[] } | { readonly ok: false; readonly errno: string } {
  const mfns: number[] = [];
  const unpin = (): void => {
    const device = state.vfio.devices[VGPU_DEVICE];
    if (device !== undefined && mfns.length > 0 && !hasKvmgtBug(config, 'map-skips-pin'))
      driverUnpin(state.vfio, device, gfn, mfns.length);
  };
  for (let page = 0; page < pages; page++) {
    const pinned = pinGuestPage(state, config, gfn + page);
    if (!pinned.ok) {
      unpin();
      return pinned;
    }
    mfns.push(pinned.mfn);
  }
  if (pages > 1 && !gvtHook(config.gvt, 'pin2M')({ gfn, pages, mfns })) {
    unpin();
    return { ok: false, errno: 'EINVAL' };
  }
  return { ok: true, mfns };
}

/**
 * DMA addresses for a mapping of `pages` pages, handed out from the pool's end as a 4K map's is
 * (the lowest address first): one, or for a 2M map (`dma_map_page` of the whole range) the last
 * `pages` of the pool when they are one run, lowest last; undefined when there is none. The unmap
 * gives them back in the same order, so a map and its unmap leave the pool as it was.
 */
function takeDmaAddrs(state: KvmgtState, pages: number): number | undefined {
  if (pages === 1) return state.hostDma.free.pop();
  const tail = state.hostDma.free.slice(-pages);
  const start = tail.at(-1);
  if (start === undefined || tail.length < pages || tail.some((addr, i) => addr !== start + pages - 1 - i))
    return undefined;
  state.hostDma.free = state.hostDma.free.slice(0, -pages);
  return start;
}

/** The host DMA domain's map, to edit in place: the draft's own copy first, if another state shares it. */
function writableHostDmaMap(state: KvmgtState): Record<string, number> {
  const own = unshared(state.hostDma.map, (map) => ({ ...map }));
  state.hostDma.map = own;
  return own;
}

function makeHost(config: KvmgtConfig): KvmgtHost {
  return {
    dmaMap(state, gfn, pages = 1) {
      const pinned = pinGuestPages(state, config, gfn, pages);
      if (!pinned.ok) return pinned;
      const base = pinned.mfns[0];
      const device = state.vfio.devices[VGPU_DEVICE];
      if (device === undefined) return { ok: false, errno: 'EINVAL' };
      // dma_mapping_error (an exhausted pool, or an injected failure): gvt_dma_map_page unpins the
      // pages again (gvt_unpin_guest_page) and fails with ENOMEM — unless the design forgets to.
      const dmaAddr = faultStrikes(state, 'dmaMap') ? undefined : takeDmaAddrs(state, pages);
      if (base === undefined || dmaAddr === undefined) {
        if (config.dmaMapUnwind !== 'keep-pin') driverUnpin(state.vfio, device, gfn, pages);
        return { ok: false, errno: 'ENOMEM' };
      }
      // dma_map_page(base_page, 0, size): the range from the first page's frame on.
      const map = writableHostDmaMap(state);
      for (let page = 0; page < pages; page++) map[dmaAddr + page] = base + page;
      return { ok: true, dmaAddr };
    },
    dmaUnmap(state, gfn, dmaAddr, pages = 1) {
      for (let page = pages - 1; page >= 0; page--) {
        if (state.hostDma.map[dmaAddr + page] !== undefined && !hasKvmgtBug(config, 'unmap-keeps-mapping')) {
          delete writableHostDmaMap(state)[dmaAddr + page];
          state.hostDma.free.push(dmaAddr + page);
        }
      }
      // gvt_unpin_guest_page(gfn, size): every page of a 2M entry (the design's `unpin2M`).
      const asked = pages === 1 ? 1 : gvtHook(config.gvt, 'unpin2M')({ gfn, pages });
      const unpinned = hookCount(asked, pages);
      const device = state.vfio.devices[VGPU_DEVICE];
      if (device !== undefined && unpinned > 0) driverUnpin(state.vfio, device, gfn, unpinned);
    },
    cacheAdd(state) {
      return !faultStrikes(state, 'cacheAdd');
    },
    trackAdd(state, gfn) {
      if (state.vgpu === null) return 'ESRCH';
      // kvm_write_track_add_gfn: no memslot for the gfn (or an injected failure, as if it had gone).
      if (!isGuestRam(config.world, gfn) || faultStrikes(state, 'trackAdd')) return 'EINVAL';
      // A new list: steps share it with the state before them until it changes.
      if (!state.writeProtected.includes(gfn)) state.writeProtected = [...state.writeProtected, gfn];
      return null;
    },
    trackRemove(state, gfn) {
      state.writeProtected = state.writeProtected.filter((protectedGfn) => protectedGfn !== gfn);
    },
    readGuest(state, gfn) {
      return readableGuestPage(state, config.world, gfn)
        ? (state.guestPages[gfn] ?? zeroPage(config.world.layout))
        : null;
    },
    translate(state, dmaAddr) {
      return state.hostDma.map[dmaAddr] ?? null;
    },
    frameOwner(state, mfn) {
      return state.vfio.memory.frames[mfn]?.owner ?? null;
    },
    hostGgttEntry(_state, index) {
      const dmaAddr = config.world.hostGgttDmaAddrs[index];
      return dmaAddr === undefined ? SCRATCH : { kind: 'dma', dmaAddr };
    },
  };
}

/** Points every shadow entry of the vGPU that holds `dmaAddr` at scratch. */
function scratchUsersOf(vgpu: GvtVgpu, layout: GvtLayout, dmaAddr: number): void {
  const holds = (pte: ShadowPte | undefined): boolean => pte?.kind === 'dma' && pte.dmaAddr === dmaAddr;
  const scratched = (pte: ShadowPte): ShadowPte =>
    holds(pte)
      ? SCRATCH
      : pte.kind === 'split2m' && pte.entries.some(holds)
        ? { ...pte, entries: pte.entries.map(scratched) }
        : pte;
  for (const index of ownGgttIndices(layout)) if (holds(vgpu.ggttHost[index])) vgpu.ggttHost[index] = SCRATCH;
  for (const spt of Object.values(vgpu.spts)) {
    spt.entries = spt.entries.map(scratched);
  }
}

/** Where a step learns that the vGPU's op would wait for the vGPU lock (UNMAP_DMA then blocks). */
export interface UnmapWait {
  waitsFor: string | null;
}

/**
 * The vGPU's ops, bound to the step's draft (VFIO calls them with its own part of that draft):
 * `dma_unmap` performs what the design's op (`config.unmapCallback`) returns, in order. An op that
 * takes the vGPU lock (`unmapLock: 'vgpu'`) while a mediator operation in flight holds it does
 * nothing and says so in `wait`: the step refuses the whole UNMAP_DMA (it would block there).
 */
export function vgpuOps(state: KvmgtState, config: KvmgtConfig, wait?: UnmapWait): MediatedDriverOps {
  return {
    dmaUnmap(_vfio, _device, iovaPage, npages) {
      const vgpu = state.vgpu;
      if (vgpu === null) return;
      const holder = config.unmapLock === 'vgpu' ? lockHolder(state, config) : undefined;
      if (holder !== undefined && wait !== undefined) {
        wait.waitsFor = `the vGPU lock (${actorOfOp(holder)})`;
        return;
      }
      // The entries that map a page of the range: a 2M entry whose first page lies below it too.
      // (v6.12's intel_vgpu_dma_unmap looks each unmapped pfn up as an entry's first gfn,
      // `__gvt_cache_find_gfn(vgpu, iov_pfn)`, and so misses such an entry: its pins stay, and
      // VFIO's unmap waits for them. Left out, docs/reference/gvt-kvmgt.md §4.4b.)
      const entries = Object.values(vgpu.cache).filter(
        (entry) => entry.gfn < iovaPage + npages && entry.gfn + entryPages(entry) > iovaPage,
      );
      for (const action of config.unmapCallback({ state, iovaPage, npages, entries })) {
        if (action.kind === 'scratchShadowUsers') {
          scratchUsersOf(vgpu, config.world.layout, action.dmaAddr);
          continue;
        }
        const entry = vgpu.cache[action.gfn];
        if (entry !== undefined) removeCacheEntry(state, kvmgtHost(config), entry);
      }
    },
    close() {
      const vgpu = state.vgpu;
      if (vgpu === null) return;
      teardownVgpu(state, kvmgtHost(config), config.gvt, { resetGgtt: config.lifecycle?.destroyResetsGgtt !== false });
      // The hardware's table outlives the vGPU: its entries of the ranges stay as destroy left them
      // (null when that is scratch throughout, as v6.12's destroy leaves them).
      state.releasedGgtt = releasedGgttOf(vgpu, config.world.layout);
    },
  };
}

/** The VFIO configuration a step runs with: the design's, with the vGPU's ops. */
export function vfioConfigFor(state: KvmgtState, config: KvmgtConfig, wait?: UnmapWait): VfioConfig {
  return { ...config.vfio, mdevOps: vgpuOps(state, config, wait) };
}
