/**
 * XenGT's services to the GVT-g mediator (the Xen side of `intel_gvt_mpt`), over the Xen model.
 * Reference: docs/reference/xen.md §2.9 (XenGT proposals), §4.6 (the DMA cache in front of them).
 *
 * The backend's translation of a guest gfn into a DMA address, and its release, are the design's
 * (`backend.ts`): a hook returns the hypercalls it makes, and they are performed here on a Xen
 * state of their own (copy-on-write), which the step adopts. How the GPU reaches a DMA address
 * follows the backend's addressing: through the backend's IOMMU context, which shares the
 * backend's p2m (the map backend's pool gfns), or untranslated, as a machine frame (the lookup
 * backend's raw mfns, which only work bypassing the IOMMU). Either way the mediator's per-gfn DMA
 * cache sits in front: one mapping per guest page, one cache reference per shadow entry using it.
 * (Under lookup a raw mfn is no stable key: once the frame comes back to the guest at another gfn,
 * two cache entries hold the same DMA address. That is the design's flaw, and the invariants
 * report it.)
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
import type { OpResult } from '../result.js';
import { addToPhysmapByMfn, addToPhysmapForeign, removeForeignMapping } from '../xen/memory-op.js';
import { shareXenState, writableMemory } from '../xen/copy-on-write.js';
import { dropFrameRef, runningDomain } from '../xen/state.js';
import type { P2mEntry, XenState } from '../xen/types.js';
import { guestRamMfn } from './backend.js';
import type { XenBackendCall, XenGtUnmapRequest } from './backend.js';
import type { XenGtConfig } from './config.js';
import { hasXenGtBug } from './config.js';
import { faultsOf } from './fault.js';
import { drainedBy } from './inflight.js';
import type { XenGtOp } from './inflight.js';
import type { XenGtState } from './types.js';

export type XenGtHost = GvtHost<XenGtState> & HostGgtt<XenGtState>;

/**
 * What the XenGT host answers a 2M DMA map (`dmaMap` with more than one page). In XenGT's trees
 * (the out-of-tree `drivers/gpu/drm/i915/gvt/xengt.c` of intel/gvt-linux's XenGT branches, over
 * the `gtt.c` of v4.17–v5.x) the request never reaches the backend: `ppgtt_populate_shadow_entry`
 * first asks `is_2MB_gtt_possible`, which looks the entry's first page up
 * (`intel_gvt_hypervisor_gfn_to_mfn` → `xengt_gfn_to_pfn`, XENMEM_get_mfn_from_pfn: -EINVAL for a
 * page with no mfn, the entry not shadowed) and answers `PageTransHuge(pfn_to_page(mfn))` — false
 * for the machine frame of a guest page in a PV dom0, which has no transparent huge pages — so the
 * entry is split (`split_2MB_gtt_entry`) into 4K `xengt_dma_map_guest_page` calls. That callback
 * takes no 2M size: one version translates the first gfn and ignores `size`, another has
 * `BUG_ON(size != PAGE_SIZE)`. The model runs v6.12's `gtt.c`, which asks for the 2M map
 * directly, over a host that refuses it: the same split, and a first page with no mfn fails it at
 * that page with nothing mapped, as `is_2MB_gtt_possible` fails the entry.
 */
export const XENGT_2M_ERRNO = 'EINVAL';

/** Why the DMA cache lets go of an address (`XenGtUnmapRequest.reason`). */
export type ReleaseReason = XenGtUnmapRequest['reason'];

const hosts = new WeakMap<XenGtConfig, Readonly<Record<ReleaseReason, XenGtHost>>>();

/**
 * The services for one configuration (its backend decides them), on a state whose Xen part is the
 * step's own. `reason`: why the cache lets go of addresses (`vgpu-destroy` while the vGPU is torn
 * down).
 */
export function xenGtHost(config: XenGtConfig, reason: ReleaseReason = 'last-reference'): XenGtHost {
  let known = hosts.get(config);
  if (known === undefined) {
    known = {
      'last-reference': makeHost(config, (state) => state.xen, 'last-reference'),
      'vgpu-destroy': makeHost(config, (state) => state.xen, 'vgpu-destroy'),
    };
    hosts.set(config, known);
  }
  return known[reason];
}

/**
 * The services for a step whose state still shares Xen's part with the state before it: Xen is
 * shared afresh (copy-on-write) the first time the backend's calls change it. `defer`: a trapped
 * GGTT write started in phases (`step.ts`) keeps the calls of a plan's `handOver` for its shadow
 * write instead of making them with the translation.
 */
export function copyOnWriteHost(
  config: XenGtConfig,
  shared: XenState,
  reason: ReleaseReason,
  defer?: (handOver: readonly XenBackendCall[]) => void,
): XenGtHost {
  return makeHost(config, copyOnWrite(shared), reason, defer);
}

/** Xen's part of a step's state, shared afresh the first time it is written. */
function copyOnWrite(shared: XenState): (state: XenGtState) => XenState {
  return (state) => {
    if (state.xen === shared) state.xen = shareXenState(shared);
    return state.xen;
  };
}

/**
 * The calls a backend's plan kept for the hand-over, made now (all or nothing) on a step's state
 * whose Xen part is still `shared`: null when every one succeeded, else the errno of the first
 * refused (and Xen as it was).
 */
export function performHandOver(
  config: XenGtConfig,
  shared: XenState,
  state: XenGtState,
  calls: readonly XenBackendCall[],
): string | null {
  return performPlan(config, copyOnWrite(shared), state, calls);
}

/** A plan's calls in order, all or nothing: null, or the errno of the first one Xen refused. */
function performPlan(
  config: XenGtConfig,
  writableXen: (state: XenGtState) => XenState,
  state: XenGtState,
  calls: readonly XenBackendCall[],
): string | null {
  const [only, ...more] = calls;
  if (only === undefined) return null;
  if (more.length === 0) {
    // One call: a call Xen refuses changes nothing, so it runs on the step's own Xen.
    const done = perform(state, writableXen(state), config, only);
    return done.ok ? null : String(done.error);
  }
  // All or nothing: the calls run on a state of their own, adopted when every one succeeded.
  const xen = shareXenState(state.xen);
  for (const call of calls) {
    const done = perform(state, xen, config, call);
    if (!done.ok) return String(done.error);
  }
  state.xen = xen;
  return null;
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
 * The first gfn of the backend's pool that is free by its own books: a gfn a cache entry holds is
 * in use even if its p2m entry has gone, and a gfn with a p2m entry is not free either.
 */
function freePoolGfn(state: XenGtState, config: XenGtConfig): number | null {
  const backend = state.xen.domains[config.backendDomid];
  if (backend === undefined) return null;
  const held = new Set(Object.values(state.vgpu?.cache ?? {}).map((entry) => entry.dmaAddr));
  for (let offset = 0; offset < config.mappingPoolSize; offset++) {
    const dfn = config.mappingPoolBaseGfn + offset;
    if (backend.p2m[dfn] === undefined && !held.has(dfn)) return dfn;
  }
  return null;
}

/**
 * Lands the GPU's accesses in flight that were translated through the backend's `gfn`: Xen's IOTLB
 * flush for a removed entry drains them (VT-d's IOTLB invalidation with the drain-read and
 * drain-write bits, `flush_iotlb_qi` in xen/drivers/passthrough/vtd/qinval.c), so each lands now,
 * in the frame as `xen` has it, and the step reports it (`step.ts`).
 */
export function drainGpu(state: XenGtState, xen: XenState, gfn: number): void {
  if (!state.inflight.some((op) => drainedBy(op, gfn))) return;
  const owner = (mfn: number): number | null => xen.memory.frames[mfn]?.owner ?? null;
  state.inflight = state.inflight.map((op): XenGtOp => {
    if (!drainedBy(op, gfn) || op.dma.mfn === null) return op;
    const { entry, write, mfn } = op.dma;
    return { ...op, landed: { via: `ggtt ${entry}`, write, outcome: 'landed', mfn, owner: owner(mfn) } };
  });
}

/**
 * One call of the backend on `xen` (a state of the step's own, copy-on-write). Removing one of the
 * backend's mappings drains the GPU's accesses through it before the mapping's page reference can
 * free the frame: XENMEM_remove_from_physmap holds a temporary reference (`get_page_from_gfn`,
 * xen/common/memory.c) across the entry's removal, whose put in `p2m_entry_modify` relies on it,
 * and the IOTLB flush (`ept_set_entry`); only its last `put_page` frees the page. The
 * `unmap-puts-before-flush` bug drops the reference first.
 */
function perform(state: XenGtState, xen: XenState, config: XenGtConfig, call: XenBackendCall): OpResult {
  switch (call.kind) {
    case 'add_to_physmap_foreign':
      // The backend's map may meet an injected fault (`fault.ts`): the mediator's DMA map fails.
      return addToPhysmapForeign(
        xen,
        { domid: config.backendDomid, gfn: call.gfn, foreignDomid: config.guestDomid, foreignGfn: call.foreignGfn },
        faultsOf(state),
      );
    case 'remove_from_physmap': {
      const args = { domid: config.backendDomid, gfn: call.gfn };
      const throughIommu = config.backend.addressing === 'backend-iommu';
      if (!throughIommu) return removeForeignMapping(xen, config.xen, args);
      if (hasXenGtBug(config, 'unmap-puts-before-flush')) {
        const removed = removeForeignMapping(xen, config.xen, args);
        if (removed.ok) drainGpu(state, xen, call.gfn);
        return removed;
      }
      if (xen.domains[config.backendDomid]?.p2m[call.gfn]?.type === 'map_foreign') drainGpu(state, xen, call.gfn);
      return removeForeignMapping(xen, config.xen, args);
    }
    case 'map_mfn':
      return addToPhysmapByMfn(xen, { domid: config.backendDomid, gfn: call.gfn, mfn: call.mfn });
    case 'get_page':
      if (xen.memory.frames[call.mfn] === undefined) return { ok: false, error: 'EINVAL' };
      getRef(writableMemory(xen), call.mfn);
      return { ok: true };
    case 'put_page':
      if ((xen.memory.frames[call.mfn]?.refcount ?? 0) === 0) return { ok: false, error: 'EINVAL' };
      dropFrameRef(xen, config.xen, call.mfn);
      return { ok: true };
  }
}

function makeHost(
  config: XenGtConfig,
  writableXen: (state: XenGtState) => XenState,
  reason: ReleaseReason,
  defer?: (handOver: readonly XenBackendCall[]) => void,
): XenGtHost {
  const backend = config.backend;
  const throughIommu = backend.addressing === 'backend-iommu';
  return {
    dmaMap(state, gfn, pages = 1) {
      // A 2M map is refused (EINVAL, nothing done), so the mediator splits a 2M entry into 4K
      // maps: the outcome XenGT's trees reach another way (`XENGT_2M_ERRNO`).
      if (pages !== 1) return { ok: false, errno: XENGT_2M_ERRNO };
      const plan = backend.map({
        state,
        config,
        gfn,
        guestMfn: guestRamMfn(state.xen, config, gfn),
        freePoolGfn: freePoolGfn(state, config),
      });
      if ('errno' in plan) return { ok: false, errno: plan.errno };
      // Not started in phases: the hand-over follows the translation with nothing in between.
      const handOver = plan.handOver ?? [];
      const now = defer === undefined ? [...plan.calls, ...handOver] : plan.calls;
      const refused = performPlan(config, writableXen, state, now);
      if (refused !== null) return { ok: false, errno: refused };
      if (defer !== undefined && handOver.length > 0) defer(handOver);
      return { ok: true, dmaAddr: plan.dmaAddr };
    },
    dmaUnmap(state, gfn, dmaAddr) {
      const calls = backend.unmap({
        state,
        config,
        gfn,
        dmaAddr,
        reason,
        backendEntry: state.xen.domains[config.backendDomid]?.p2m[dmaAddr],
        inPool: isPoolGfn(config, dmaAddr),
      });
      if (calls.length === 0) return;
      // A refused call changes nothing and the release goes on.
      const xen = writableXen(state);
      for (const call of calls) perform(state, xen, config, call);
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
      // Through the backend's IOMMU context (its p2m), or bypassing the IOMMU (a machine frame).
      if (throughIommu) return state.xen.domains[config.backendDomid]?.p2m[dmaAddr]?.mfn ?? null;
      return state.xen.memory.frames[dmaAddr] === undefined ? null : dmaAddr;
    },
    frameOwner(state, mfn) {
      return state.xen.memory.frames[mfn]?.owner ?? null;
    },
    hostGgttEntry(state, index) {
      // The backend's own pages: by gfn through its IOMMU context, by mfn bypassing it.
      const gfn = config.hostGgttGfns[index];
      const entry = gfn === undefined ? undefined : state.xen.domains[config.backendDomid]?.p2m[gfn];
      if (gfn === undefined || entry === undefined) return SCRATCH;
      return { kind: 'dma', dmaAddr: throughIommu ? gfn : entry.mfn };
    },
  };
}
