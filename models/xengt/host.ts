/**
 * XenGT's services to the GVT-g mediator (the Xen side of `intel_gvt_mpt`), over the Xen model.
 * Reference: docs/reference/xen.md §2.9 (XenGT proposals), §4.6 (the DMA cache in front of them).
 *
 * Map backend: `dmaMap` maps the guest page into the backend's (dom0's) p2m at a free gfn of a
 * private pool (XENMEM_add_to_physmap, XENMAPSPACE_gmfn_foreign: a page reference of its own, as
 * Tim Deegan suggested for a PVH backend); the DMA address is that gfn as a device frame number,
 * and the GPU's DMA is translated by the backend's IOMMU context, which shares the backend's p2m.
 * `dmaUnmap` removes the foreign entry, dropping its reference.
 * Lookup backend: `dmaMap` is XENMEM_get_mfn_from_pfn — the mfn of a RAM gfn, no reference;
 * the DMA address is the raw mfn and the GPU reaches it bypassing the IOMMU, the only way such
 * addresses work. `dmaUnmap` has nothing to give back.
 * Either way the mediator's per-gfn DMA cache sits in front: one mapping per guest page, one
 * cache reference per shadow entry using it. (Under lookup a raw mfn is no stable key: once the
 * frame comes back to the guest at another gfn, two cache entries hold the same DMA address. That
 * is the design's flaw, and the invariants report it.)
 *
 * Write protection is the backend's ioreq server claiming a guest RAM gfn (p2m_ioreq_server,
 * docs/reference/xen.md §2.9 item 3); guest memory is read through the guest's p2m.
 *
 * Simplified: the claim is kept beside the p2m rather than as a p2m type, and it stays on the gfn
 * when the guest balloons the page out (Xen drops the type with the entry); with it the guest's
 * memory contents are kept by gfn, as the KVMGT stack keeps them across an unplug. A page-table
 * page the guest gives back and takes again therefore still traps and still reads as it was: the
 * alternative only makes the guest's own tables disagree with shadows it built before.
 */
import type { HostGgtt } from '../gvt/gpu.js';
import type { GvtHost } from '../gvt/host.js';
import { SCRATCH } from '../gvt/types.js';
import { zeroPage } from '../gvt/vgpu.js';
import { getRef } from '../memory/frames.js';
import { addToPhysmapForeign, removeForeignMapping } from '../xen/memory-op.js';
import { shareXenState, writableMemory } from '../xen/copy-on-write.js';
import { runningDomain } from '../xen/state.js';
import type { P2mEntry, XenState } from '../xen/types.js';
import type { XenGtConfig } from './config.js';
import { hasXenGtBug } from './config.js';
import type { XenGtState } from './types.js';

export type XenGtHost = GvtHost<XenGtState> & HostGgtt<XenGtState>;

const hosts = new WeakMap<XenGtConfig, XenGtHost>();

/** The services for one configuration (its backend and bugs decide them), on a state of its own. */
export function xenGtHost(config: XenGtConfig): XenGtHost {
  let host = hosts.get(config);
  if (host === undefined) {
    host = makeHost(config, (state) => state.xen);
    hosts.set(config, host);
  }
  return host;
}

/**
 * The services for a step whose state still shares Xen's part with the state before it: Xen is
 * shared afresh (copy-on-write) the first time a service changes it (only the map backend's
 * mappings do).
 */
export function copyOnWriteHost(config: XenGtConfig, shared: XenState): XenGtHost {
  return makeHost(config, (state) => {
    if (state.xen === shared) state.xen = shareXenState(shared);
    return state.xen;
  });
}

/** The guest's own RAM entry at `gfn` (not a grant or foreign entry), while the guest runs. */
export function guestRam(state: XenGtState, config: XenGtConfig, gfn: number): P2mEntry | undefined {
  const entry = runningDomain(state.xen, config.guestDomid)?.p2m[gfn];
  return entry?.type === 'ram_rw' ? entry : undefined;
}

/** Gfns of the backend's private pool. */
export function isPoolGfn(config: XenGtConfig, gfn: number): boolean {
  return gfn >= config.mappingPoolBaseGfn && gfn < config.mappingPoolBaseGfn + config.mappingPoolSize;
}

/**
 * Map backend: the guest page mapped at the first free gfn of the backend's pool. The backend
 * keeps its own books of the pool: a gfn a cache entry holds is in use even if its p2m entry has
 * gone, and a gfn with a p2m entry is not free either.
 */
function mapForeign(
  state: XenGtState,
  config: XenGtConfig,
  writableXen: (state: XenGtState) => XenState,
  gfn: number,
): ReturnType<XenGtHost['dmaMap']> {
  const backend = state.xen.domains[config.backendDomid];
  if (backend === undefined) return { ok: false, errno: 'ESRCH' };
  const held = new Set(Object.values(state.vgpu?.cache ?? {}).map((entry) => entry.dmaAddr));
  for (let offset = 0; offset < config.mappingPoolSize; offset++) {
    const dfn = config.mappingPoolBaseGfn + offset;
    if (backend.p2m[dfn] !== undefined || held.has(dfn)) continue;
    const xen = writableXen(state);
    const mapped = addToPhysmapForeign(xen, {
      domid: config.backendDomid,
      gfn: dfn,
      foreignDomid: config.guestDomid,
      foreignGfn: gfn,
    });
    if (!mapped.ok) return { ok: false, errno: String(mapped.error) };
    if (hasXenGtBug(config, 'map-takes-no-ref')) {
      const frame = writableMemory(xen).frames[Number(mapped.detail?.['mfn'])];
      if (frame !== undefined) frame.refcount -= 1;
    }
    return { ok: true, dmaAddr: dfn };
  }
  return { ok: false, errno: 'ENOSPC' };
}

function makeHost(config: XenGtConfig, writableXen: (state: XenGtState) => XenState): XenGtHost {
  const map = config.backend === 'map';
  return {
    dmaMap(state, gfn) {
      if (map) return mapForeign(state, config, writableXen, gfn);
      // XENMEM_get_mfn_from_pfn: INVALID_MFN for anything but the guest's RAM.
      const entry = guestRam(state, config, gfn);
      return entry === undefined ? { ok: false, errno: 'EINVAL' } : { ok: true, dmaAddr: entry.mfn };
    },
    dmaUnmap(state, _gfn, dmaAddr) {
      if (!map) return;
      const entry = state.xen.domains[config.backendDomid]?.p2m[dmaAddr];
      if (!isPoolGfn(config, dmaAddr) || entry?.type !== 'map_foreign') return;
      const xen = writableXen(state);
      if (hasXenGtBug(config, 'map-takes-no-ref')) getRef(writableMemory(xen), entry.mfn);
      removeForeignMapping(xen, config.xen, { domid: config.backendDomid, gfn: dmaAddr });
    },
    trackAdd(state, gfn) {
      if (state.vgpu === null) return 'ESRCH';
      // XEN_DMOP_set_mem_type to p2m_ioreq_server: only the guest's RAM can change type.
      if (guestRam(state, config, gfn) === undefined) return 'EINVAL';
      // A new list: steps share it with the state before them until it changes.
      if (!state.writeProtected.includes(gfn)) state.writeProtected = [...state.writeProtected, gfn];
      return null;
    },
    trackRemove(state, gfn) {
      state.writeProtected = state.writeProtected.filter((protectedGfn) => protectedGfn !== gfn);
    },
    readGuest(state, gfn) {
      if (guestRam(state, config, gfn) === undefined) return null;
      return state.guestPages[gfn] ?? zeroPage(config.gvt.layout);
    },
    translate(state, dmaAddr) {
      // Map: the backend's IOMMU context is its p2m. Lookup: the GPU bypasses the IOMMU.
      if (map) return state.xen.domains[config.backendDomid]?.p2m[dmaAddr]?.mfn ?? null;
      return state.xen.memory.frames[dmaAddr] === undefined ? null : dmaAddr;
    },
    frameOwner(state, mfn) {
      return state.xen.memory.frames[mfn]?.owner ?? null;
    },
    hostGgttEntry(state, index) {
      // The backend's own pages: by gfn through its IOMMU context (map), by mfn (lookup).
      const gfn = config.hostGgttGfns[index];
      const entry = gfn === undefined ? undefined : state.xen.domains[config.backendDomid]?.p2m[gfn];
      if (gfn === undefined || entry === undefined) return SCRATCH;
      return { kind: 'dma', dmaAddr: map ? gfn : entry.mfn };
    },
  };
}
