/**
 * The XenGT backend's decision point, as a hook a design supplies: how the backend (dom0's
 * driver, under the GVT-g mediator) turns a guest gfn into a DMA address for the GPU, and what it
 * does when the mediator's DMA cache lets go of that address (docs/reference/xen.md §2.9,
 * docs/debates.md#xengt-lookup-or-map). Each is a function of the state returning the hypercalls
 * the backend makes (`XenBackendCall`); the stack performs them on the Xen model.
 *
 * A hook is pure: it returns a new plan and never modifies the state or anything else it is given
 * (the engine's purity guard, `strict`, reports a step that changed its input as a crash). It
 * changes Xen only through the calls it returns, which Xen answers as it would a real backend.
 *
 * The built-in backends are written with it: `xenGtLookupBackend` (XENMEM_get_mfn_from_pfn: the
 * raw mfn, no reference, nothing to release) and `xenGtMapBackend` (the guest page mapped into the
 * backend's p2m with a page reference, unmapped with the cache's last reference); the flawed
 * variants of the XenGT bugs wrap a backend (`withoutPageReference`, `keepingMappingsAtTeardown`).
 */
import type { XenState, P2mEntry } from '../xen/types.js';
import type { XenGtConfig } from './config.js';
import type { XenGtState } from './types.js';

/**
 * How the GPU reaches the DMA addresses a backend hands out. `backend-iommu`: through the
 * backend's IOMMU context, which shares the backend's p2m, so a DMA address is a gfn of the
 * backend. `machine`: untranslated (the GPU bypasses the IOMMU), so a DMA address is an mfn.
 */
export type XenGtAddressing = 'backend-iommu' | 'machine';

/** A hypercall (or page-reference operation) of the backend, performed by the Xen model. */
export type XenBackendCall =
  /**
   * XENMEM_add_to_physmap, XENMAPSPACE_gmfn_foreign: the guest's RAM page `foreignGfn` mapped at
   * the backend's `gfn`, with a page reference of its own. Refused as Xen refuses it (the gfn in
   * use, the page not the guest's RAM, …).
   */
  | { readonly kind: 'add_to_physmap_foreign'; readonly gfn: number; readonly foreignGfn: number }
  /** XENMEM_remove_from_physmap of the backend's foreign entry at `gfn`: its page reference dropped. */
  | { readonly kind: 'remove_from_physmap'; readonly gfn: number }
  /**
   * Machine frame `mfn` mapped at the backend's `gfn`, with a page reference for whoever owns the
   * frame then: a mapping by frame number, checked when the frame was looked up and not again
   * (`addToPhysmapByMfn` in models/xen/memory-op.ts says what it stands for). A free frame is refused.
   */
  | { readonly kind: 'map_mfn'; readonly gfn: number; readonly mfn: number }
  /**
   * A page reference taken or dropped by hand (get_page / put_page on frame `mfn`; a put of the
   * last reference frees the frame; a get does not check that the frame is in use). No hypercall
   * gives a backend these: they stand for a backend that miscounts (the `map-takes-no-ref` bug).
   */
  | { readonly kind: 'get_page'; readonly mfn: number }
  | { readonly kind: 'put_page'; readonly mfn: number };

/** A DMA cache miss: the mediator needs a DMA address for guest page `gfn`. */
export interface XenGtMapRequest {
  /** The state now. Do not modify. */
  readonly state: XenGtState;
  /** The stack's configuration: the backend's and the guest's domids, the backend's mapping pool. */
  readonly config: XenGtConfig;
  /** The guest page. */
  readonly gfn: number;
  /** The mfn of the guest's RAM at `gfn` while the guest runs (what XENMEM_get_mfn_from_pfn answers), else null. */
  readonly guestMfn: number | null;
  /**
   * The first gfn of the backend's mapping pool that is free by the backend's books (no p2m entry,
   * no DMA cache entry holding it), or null when the pool is full.
   */
  readonly freePoolGfn: number | null;
}

/**
 * A backend's answer to a cache miss: the DMA address and the calls that make it valid, performed
 * in order, all or nothing (the first one Xen refuses fails the map with its error and leaves Xen
 * as it was); or the errno of a refusal. `handOver`: calls made later, when the mediator hands the
 * address to the GPU (writes the shadow entry) — all or nothing too, a refusal failing the map
 * then. Nothing of the mediator's runs in between (it holds the vGPU's lock), but Xen, the other
 * domains and the guest's other vCPUs do when the write is emulated in phases.
 */
export type XenGtMapPlan =
  | {
      readonly dmaAddr: number;
      readonly calls: readonly XenBackendCall[];
      readonly handOver?: readonly XenBackendCall[];
    }
  | { readonly errno: string };

/** The DMA cache lets go of a DMA address. */
export interface XenGtUnmapRequest {
  /** The state now. Do not modify. */
  readonly state: XenGtState;
  readonly config: XenGtConfig;
  /** The guest page the address was for, and the address. */
  readonly gfn: number;
  readonly dmaAddr: number;
  /**
   * `last-reference`: the last shadow entry using it went (gvt_dma_unmap's kref reached zero).
   * `vgpu-destroy`: the vGPU is destroyed and its DMA cache with it, whatever the references.
   */
  readonly reason: 'last-reference' | 'vgpu-destroy';
  /** The backend's p2m entry at gfn `dmaAddr` (its mapping, if it made one there), else undefined. */
  readonly backendEntry: P2mEntry | undefined;
  /** `dmaAddr` is a gfn of the backend's mapping pool. */
  readonly inPool: boolean;
}

/** A XenGT backend. */
export interface XenGtBackend {
  /** Its name in reports and messages: `map`, `lookup`, or a user's own. */
  readonly name: string;
  /** How the GPU reaches the addresses it hands out (`XenGtAddressing`). */
  readonly addressing: XenGtAddressing;
  /** A DMA cache miss: the DMA address for a guest page and the calls that make it valid. */
  map(request: XenGtMapRequest): XenGtMapPlan;
  /**
   * The DMA cache lets go of an address: the calls that release it, performed in order; one Xen
   * refuses changes nothing and the rest go on (the mediator has no way to report a failed unmap).
   */
  unmap(request: XenGtUnmapRequest): readonly XenBackendCall[];
}

/** The shorthand names of the built-in backends. */
export type XenGtBackendName = 'lookup' | 'map' | 'lookup-then-map';

/** The mfn of the guest's own RAM at `gfn` while the guest runs, else null. */
export function guestRamMfn(xen: XenState, config: Pick<XenGtConfig, 'guestDomid'>, gfn: number): number | null {
  const guest = xen.domains[config.guestDomid];
  const entry = guest !== undefined && guest.life === 'running' ? guest.p2m[gfn] : undefined;
  return entry?.type === 'ram_rw' ? entry.mfn : null;
}

/** XENMEM_get_mfn_from_pfn (option 1): the raw mfn, no reference; the GPU bypasses the IOMMU; nothing to release. */
export const xenGtLookupBackend: XenGtBackend = {
  name: 'lookup',
  addressing: 'machine',
  map: ({ guestMfn }) => (guestMfn === null ? { errno: 'EINVAL' } : { dmaAddr: guestMfn, calls: [] }),
  unmap: () => [],
};

/**
 * Option 2, as Tim Deegan suggested for a PVH backend: the guest page mapped at the first free
 * gfn of the backend's private pool (gmfn_foreign: a page reference of its own); the DMA address is
 * that gfn, translated by the backend's IOMMU context. Released with the DMA cache's last
 * reference, or when the vGPU goes.
 */
export const xenGtMapBackend: XenGtBackend = {
  name: 'map',
  addressing: 'backend-iommu',
  map({ state, config, gfn, freePoolGfn }) {
    if (state.xen.domains[config.backendDomid] === undefined) return { errno: 'ESRCH' };
    if (freePoolGfn === null) return { errno: 'ENOSPC' };
    return { dmaAddr: freePoolGfn, calls: [{ kind: 'add_to_physmap_foreign', gfn: freePoolGfn, foreignGfn: gfn }] };
  },
  unmap({ dmaAddr, backendEntry, inPool }) {
    if (!inPool || backendEntry?.type !== 'map_foreign') return [];
    return [{ kind: 'remove_from_physmap', gfn: dmaAddr }];
  },
};

/**
 * Tian's reply to Deegan, "an interface to get p2m mapping and then increase refcnt", made as two
 * calls: the backend looks the gfn up when it traps the write (XENMEM_get_mfn_from_pfn: the raw
 * mfn, checked to be the guest's RAM then) and maps that frame at a gfn of its pool, with a page
 * reference, only when it hands the address to the GPU (`map_mfn`); the GPU reaches the pool gfn
 * through the backend's IOMMU context, and the mapping is released as the map backend's is. With
 * nothing between the two calls it is as safe as `map`; between them the guest can give the page
 * back and Xen give the frame to another domain — Deegan's race, with the reference taken on the
 * other domain's frame.
 */
export const xenGtLookupThenMapBackend: XenGtBackend = {
  name: 'lookup-then-map',
  addressing: 'backend-iommu',
  map({ state, config, guestMfn, freePoolGfn }) {
    if (state.xen.domains[config.backendDomid] === undefined) return { errno: 'ESRCH' };
    if (guestMfn === null) return { errno: 'EINVAL' };
    if (freePoolGfn === null) return { errno: 'ENOSPC' };
    return { dmaAddr: freePoolGfn, calls: [], handOver: [{ kind: 'map_mfn', gfn: freePoolGfn, mfn: guestMfn }] };
  },
  unmap: (request) => xenGtMapBackend.unmap(request),
};

/**
 * `map-takes-no-ref`: every foreign mapping the backend makes has its page reference dropped at
 * once, and taken back just before the mapping is removed (so the removal's put balances).
 */
export function withoutPageReference(backend: XenGtBackend): XenGtBackend {
  return {
    ...backend,
    map(request) {
      const plan = backend.map(request);
      if ('errno' in plan) return plan;
      const guest = request.state.xen.domains[request.config.guestDomid];
      const dropped = (call: XenBackendCall): XenBackendCall[] => {
        const mfn =
          call.kind === 'add_to_physmap_foreign'
            ? guest?.p2m[call.foreignGfn]?.mfn
            : call.kind === 'map_mfn'
              ? call.mfn
              : undefined;
        return mfn === undefined ? [call] : [call, { kind: 'put_page', mfn }];
      };
      const calls = plan.calls.flatMap(dropped);
      return plan.handOver === undefined
        ? { ...plan, calls }
        : { ...plan, calls, handOver: plan.handOver.flatMap(dropped) };
    },
    unmap(request) {
      const backendP2m = request.state.xen.domains[request.config.backendDomid]?.p2m ?? {};
      return backend.unmap(request).flatMap((call): XenBackendCall[] => {
        const entry = call.kind === 'remove_from_physmap' ? backendP2m[call.gfn] : undefined;
        return entry?.type === 'map_foreign' ? [{ kind: 'get_page', mfn: entry.mfn }, call] : [call];
      });
    },
  };
}

/** `vgpu-destroy-skips-unmap`: a vGPU's destruction releases nothing (the skipped tidy-up). */
export function keepingMappingsAtTeardown(backend: XenGtBackend): XenGtBackend {
  return { ...backend, unmap: (request) => (request.reason === 'vgpu-destroy' ? [] : backend.unmap(request)) };
}
