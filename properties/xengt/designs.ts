/**
 * The built-in XenGT designs: the two ways (docs/debates.md#xengt-lookup-or-map) for the backend to
 * translate a guest gfn, each under the full GVT-g mediator (GGTT and PPGTT shadowing, the per-gfn
 * DMA cache, write protection by the backend's ioreq server, command scanning).
 */
import { xenGtDesign } from './design.js';

export const xenMap = xenGtDesign({
  id: 'xen/map',
  backend: 'map',
  expected: 'holds',
  // Every window of the stack, the grant map's and the teardown's included (`xenGtPhases`).
  preempt: ['gttWrite', 'gpuDma', 'unmapGrantRef', 'decreaseReservation', 'mapGrantRef', 'destroyDomain'],
  description:
    "XenGT backend maps each guest page the mediator shadows once (gmfn_foreign into the backend p2m, with a page reference) and unmaps it when the DMA cache's last reference goes or the vGPU goes away",
});

export const xenLookup = xenGtDesign({
  id: 'xen/lookup',
  backend: 'lookup',
  expected: 'violates',
  // The flaw is the backend's: its shortest paths are the GTT's, which the explore scope covers.
  commands: 'xen',
  description:
    "XenGT backend looks up gfn → mfn (XENMEM_get_mfn_from_pfn) without a reference: GTT write, balloon out, frame given to another domain, DMA (Deegan's race, docs/debates.md#xengt-lookup-or-map). And a raw mfn is no stable DMA address: once the frame comes back to the guest at another gfn, two DMA cache entries hold it, and releasing one drops the other's reference",
  breaks: [
    'no-dma-to-foreign-frame',
    'no-dma-to-free-frame',
    'shadow-frame-owned-by-guest',
    'shadow-frame-held-by-backend',
    'shadow-matches-guest-entry',
    'cache-kref-matches-shadow-users',
  ],
});
