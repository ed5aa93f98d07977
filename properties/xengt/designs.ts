/** The built-in XenGT designs: seed 004's two ways for the backend to translate a guest gfn. */
import { xenGtDesign } from './design.js';

export const xenMap = xenGtDesign({
  id: 'xen/map',
  backend: 'map',
  expected: 'holds',
  description:
    'XenGT backend maps each guest page it shadows (gmfn_foreign into the backend p2m, with a page reference) and unmaps it when the GTT entry is replaced or the vGPU goes away',
});

export const xenLookup = xenGtDesign({
  id: 'xen/lookup',
  backend: 'lookup',
  expected: 'violates',
  description:
    'XenGT backend looks up gfn → mfn (XENMEM_get_mfn_from_pfn) without a reference: GTT write, balloon out, frame given to another domain, DMA (seed 004)',
  breaks: [
    'no-dma-to-foreign-frame',
    'no-dma-to-free-frame',
    'shadow-frame-owned-by-guest',
    'shadow-frame-held-by-backend',
  ],
});
