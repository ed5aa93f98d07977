/**
 * Flawed variants of the mediator's GGTT emulation on the XenGT stack, each made through a typed
 * hook a user's design could supply (`GvtHooks`) on the sound `xen/map` design and caught by the
 * generic GVT-g invariants alone. Reference: docs/reference/gvt-kvmgt.md §4.3 (partial writes).
 */
import { xenGtDesign } from './design.js';
import type { XenGtDesign } from './design.js';

/**
 * `emulate_ggtt_mmio_write` with the first half of a split 8-byte write translated at once
 * (`if (test_present(&e))` without `!partial_update`): the host entry is made from an entry the
 * guest has not finished writing. In the real code the half-written value pairs the new dword with
 * the old other one (a pfn the guest never named); the model's guest copy reads as the half's
 * entry, and the shadow of a half-written entry is not scratch.
 */
export const xenGtShadowsHalfWrittenGgtt = xenGtDesign({
  id: 'xengt/shadows-half-written-ggtt',
  backend: 'map',
  expected: 'violates',
  gvtHooks: { shadowHalfWritten: () => true },
  description:
    "the mediator shadows the first 4-byte half of a GGTT entry the guest writes in two halves (emulate_ggtt_mmio_write without the partial-PTE list's partial_update check): the backend maps the page the half-written entry names and the GPU can reach it before the guest has finished the entry",
  breaks: ['shadow-matches-guest-entry'],
});

export const xenGtGgttDesigns: readonly XenGtDesign[] = [xenGtShadowsHalfWrittenGgtt];
