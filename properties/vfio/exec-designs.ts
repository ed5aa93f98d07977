/**
 * Flawed variants of the VMM's live update across execve (issue 21, `models/vfio/exec.ts`): each
 * replaces hooks of the VFIO model (`models/vfio/config.ts` `VfioHooks`) at the decision point of
 * the source it names, as type1 shipped it before the fix, and is caught by the generic invariants
 * and generators alone. The sound protocol runs in every type1 design (`vfio/type1`: invalidate,
 * exec, re-supply). Reference: docs/reference/vfio-type1.md §1.20.
 */
import { vfioDesign } from './design.js';
import type { VfioDesign } from './design.js';

export const vfioExecLockedVmUnderflow = vfioDesign({
  id: 'vfio/exec-locked-vm-underflow',
  world: 'passthrough',
  expected: 'violates',
  hooks: { lockAcctMm: ({ taskMm }) => taskMm, vaddrUpdateMovesCharge: () => false },
  description:
    "vfio_lock_acct charges and uncharges the mm of the mapping's task as it is at each call (get_task_mm(dma->task)), as type1 did from v5.12's VFIO_UPDATE_VADDR until 046eca5018f8 (\"vfio/type1: prevent underflow of locked_vm via exec()\", v6.2): after the VMM's exec the task's mm is the new one, never charged for the mappings made before, and unmapping them takes their pages off it — locked_vm underflows, and the next MAP_DMA fails ENOMEM in __account_locked_vm",
  breaks: ['locked-vm-matches-pins', 'counters-in-range', 'released-container-uncharged'],
});

export const vfioExecChargeNotMoved = vfioDesign({
  id: 'vfio/exec-charge-not-moved',
  world: 'passthrough',
  expected: 'violates',
  hooks: { vaddrUpdateMovesCharge: () => false },
  description:
    'a MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR from the new mm after an exec replaces the vaddr but leaves the mapping\'s locked_vm charge, and dma->mm, with the dead mm, as type1 did between 046eca5018f8 and "vfio/type1: restore locked_vm" (v6.2, which added vfio_change_dma_owner): the new process\'s pinned guest RAM is charged to no live mm, so RLIMIT_MEMLOCK no longer bounds what it pins',
  breaks: ['locked-vm-matches-pins'],
});

/** Issue 21's live-update designs of the VFIO stacks, in the registry's order. */
export const vfioExecDesigns: readonly VfioDesign[] = [vfioExecLockedVmUnderflow, vfioExecChargeNotMoved];
