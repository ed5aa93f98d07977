/**
 * XenGT: the backend's decision point (how a guest gfn becomes a DMA address for the GPU, and how
 * that address is released) written as a function, in a world of our own.
 *
 * The question: does the GPU need the backend's IOMMU context at all, or is the page reference of
 * a foreign mapping what keeps it safe? Our backend maps each guest page into its own pool, as the
 * built-in `map` backend does (XENMEM_add_to_physmap, XENMAPSPACE_gmfn_foreign: a page reference
 * of its own), but hands the GPU the machine frame (it bypasses the IOMMU). While every command
 * was atomic it held: the reference keeps the frame the guest's while the GPU can reach it. With
 * interleavings it does not: a GPU access translated at fetch, before the guest clears the entry,
 * lands after the release dropped the last reference — in a free frame. Under the built-in `map`
 * backend the same access goes through the IOMMU, whose flush on the release drains it first: the
 * reference is not enough, the IOMMU's flush is what closes the window.
 *
 * Our first version released, when the DMA cache let go of an address, the first foreign mapping
 * of the guest page it found in the backend's p2m, which may be one the backend made for something
 * else; the check caught it in 3 steps. It is kept as the flawed design.
 */
import { xenGtDesign, xenGtMapBackend } from 'dmaprop';
import type { XenBackendCall, XenGtBackend, XenGtDesign, XenGtUnmapRequest, XenGtWorldDescription } from 'dmaprop';

/** A world of our own: a fourth domain (another PV guest) and a smaller mapping pool. */
export const world: XenGtWorldDescription = {
  frames: 14,
  domains: [
    { translated: true, privileged: true, ramPages: 2 }, // dom0: the PVH backend, runs the mediator
    { translated: true, privileged: false, ramPages: 4 }, // dom1: the HVM guest with the vGPU
    { translated: false, privileged: false, ramPages: 2 }, // dom2: a PV domain, takes freed frames
    { translated: false, privileged: false, ramPages: 1 }, // dom3: another PV domain
  ],
  mappingPoolPages: 4,
};

/** The backend gfns our pool mappings live at. */
function inPool(request: XenGtUnmapRequest, gfn: number): boolean {
  const base = request.config.mappingPoolBaseGfn;
  return gfn >= base && gfn < base + request.config.mappingPoolSize;
}

/** Releases the pool mapping of the guest page the address was for. */
function releasePoolMapping(request: XenGtUnmapRequest): XenBackendCall[] {
  const p2m = request.state.xen.domains[request.config.backendDomid]?.p2m ?? {};
  for (const [backendGfn, entry] of Object.entries(p2m)) {
    const gfn = Number(backendGfn);
    if (!inPool(request, gfn)) continue;
    if (entry.type === 'map_foreign' && entry.foreignGfn === request.gfn && entry.mfn === request.dmaAddr) {
      return [{ kind: 'remove_from_physmap', gfn }];
    }
  }
  return [];
}

/** Maps for the reference, DMAs by machine address. */
export const mapForReference: XenGtBackend = {
  name: 'example/map-for-reference',
  addressing: 'machine',
  map(request) {
    const plan = xenGtMapBackend.map(request); // the page mapped into our pool, with its reference
    if ('errno' in plan) return plan;
    if (request.guestMfn === null) return { errno: 'EINVAL' };
    return { dmaAddr: request.guestMfn, calls: plan.calls };
  },
  unmap: releasePoolMapping,
};

/** Our first version: releases the first foreign mapping of the guest page, in the pool or not. */
export const releaseFirstFound: XenGtBackend = {
  ...mapForReference,
  name: 'example/release-first-found',
  unmap(request) {
    const p2m = request.state.xen.domains[request.config.backendDomid]?.p2m ?? {};
    for (const [backendGfn, entry] of Object.entries(p2m)) {
      if (entry.type === 'map_foreign' && entry.foreignGfn === request.gfn) {
        return [{ kind: 'remove_from_physmap', gfn: Number(backendGfn) }];
      }
    }
    return [];
  },
};

export const xengtMapForReference: XenGtDesign = xenGtDesign({
  id: 'example/xengt-map-for-reference',
  backend: mapForReference,
  world,
  expected: 'violates',
  breaks: ['no-dma-to-free-frame', 'shadow-frame-owned-by-guest', 'shadow-frame-held-by-backend'],
  description:
    'the backend maps each guest page into its pool for the page reference and gives the GPU the machine frame: a DMA in flight outlives the release',
});

export const xengtReleaseFirstFound: XenGtDesign = xenGtDesign({
  id: 'example/xengt-release-first-found',
  backend: releaseFirstFound,
  world,
  expected: 'violates',
  breaks: ['no-vgpu-no-backend-mappings'],
  description: 'the backend releases the first foreign mapping of the guest page it finds, which may not be its own',
});
