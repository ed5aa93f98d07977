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

/**
 * Deegan's race as the thread tells it (docs/debates.md#xengt-lookup-or-map; seed 004): the
 * backend looks the gfn up when the guest's write traps, takes its page reference only when it
 * hands the address to the GPU (`xenGtLookupThenMapBackend`). Safe when nothing runs between the
 * two (atomic, it holds); the guest balloons the page out and Xen gives the frame to another
 * domain in between, and the GPU's DMA lands there. Its shortest counterexample is the thread's
 * five steps (test/xengt/interleaved-race.test.ts replays them). Random generation reaches it
 * through aimed preemptions (`xenGtConflicts` in generators.ts): the window of a trapped write
 * holds the guest's balloon-out of the page it translates and another domain's populate.
 */
export const xenLookupThenMap = xenGtDesign({
  id: 'xen/lookup-then-map',
  backend: 'lookup-then-map',
  expected: 'violates',
  commands: 'xen',
  description:
    "XenGT backend looks gfn → mfn up when the guest's GTT write traps and maps that mfn, with a reference, only when it writes the shadow entry: the guest balloons the page out and Xen gives the frame to another domain in between (Deegan's race as the thread tells it; atomic, it holds)",
  breaks: ['no-dma-to-foreign-frame'],
});
