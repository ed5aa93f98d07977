/**
 * Fault injection on the KVMGT stack (issue 18, "Error unwinding"), in the VFIO stack's shape
 * (`models/vfio/fault.ts`): `injectFault` arms "the nth attempt at a point fails" for every later
 * command, `clearFault` disarms it. The count is per command and lives outside the state (keyed
 * by the step's own copy), so arming is the only state change and a command that meets no fault
 * counts nothing.
 *
 * The points, and what fails there in Linux v6.12:
 * - `pin`: `vfio_pin_pages` in `kvmgt.c gvt_pin_guest_page` (ENOMEM, as a failed long-term pin);
 *   a 4 KiB page has nothing pinned before it to unwind.
 * - `dmaMap`: `dma_map_page` in `kvmgt.c gvt_dma_map_page` (`dma_mapping_error`): the page is
 *   unpinned again (`gvt_unpin_guest_page`) and the map fails with ENOMEM.
 * - `cacheAdd`: the `gvt_dma` kzalloc in `kvmgt.c __gvt_cache_add`: `intel_gvt_dma_map_guest_page`
 *   unmaps and unpins the page (`err_unmap` → `gvt_dma_unmap_page`), ENOMEM.
 * - `trackAdd`: `kvm_write_track_add_gfn` in `kvmgt.c kvmgt_page_track_add` (EINVAL, as for a gfn
 *   whose memslot is gone): `gtt.c ppgtt_populate_spt_by_guest_entry` frees the new table
 *   (`err_free_spt` → `ppgtt_free_spt`, which unregisters its page track).
 *
 * A command refused because an injected fault struck keeps the state its unwind left
 * (`step.ts`): the unwind is the model's, step by step, not a restored copy, so the atomicity
 * invariant judges it.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { undoPageFaults } from '../vfio/state.js';
import type { PageFaultRecord } from '../vfio/types.js';
import type { KvmgtFaultPoint, KvmgtState } from './types.js';

/** Largest `nth` accepted: beyond the attempts one command of a small world makes. */
export const KVMGT_FAULT_NTH_MAX = 64;

export const kvmgtFaultPoints: readonly KvmgtFaultPoint[] = ['pin', 'dmaMap', 'cacheAdd', 'trackAdd'];

interface Attempts {
  counts: Partial<Record<KvmgtFaultPoint, number>>;
  struck: boolean;
}

/** A step's attempts, by its own copy of the state (the draft every service is handed). */
const attempts = new WeakMap<KvmgtState, Attempts>();

/** Counts an attempt at `point` by the step working on `state`; true when the armed fault strikes it. */
export function faultStrikes(state: KvmgtState, point: KvmgtFaultPoint): boolean {
  const fault = state.fault;
  if (fault === null || fault.point !== point) return false;
  let record = attempts.get(state);
  if (record === undefined) {
    record = { counts: {}, struck: false };
    attempts.set(state, record);
  }
  const count = (record.counts[point] ?? 0) + 1;
  record.counts[point] = count;
  if (count !== fault.nth) return false;
  record.struck = true;
  return true;
}

/** The page faults the vGPU's pins made during the step working on `state`, oldest first. */
const pinFaults = new WeakMap<KvmgtState, PageFaultRecord[]>();

/** Records the page faults of one of the step's pins (`vfio_pin_pages` faults a page in). */
export function recordPinFaults(state: KvmgtState, faults: readonly PageFaultRecord[]): void {
  if (faults.length === 0) return;
  pinFaults.set(state, [...(pinFaults.get(state) ?? []), ...faults]);
}

/**
 * A command an injected fault failed: its pins' page faults are undone, as VFIO's `runOp` undoes a
 * failed op's (`undoPageFaults`: a frame nothing holds any more goes back where it was; one an
 * unwind left pinned stays). Linux leaves the faulted-in page populated; the model's refusals
 * leave memory as they found it.
 */
export function undoStepPinFaults(state: KvmgtState): void {
  undoPageFaults(state.vfio, pinFaults.get(state) ?? []);
}

/** An injected fault struck during the step working on `state`. */
export function faultStruck(state: KvmgtState): boolean {
  return attempts.get(state)?.struck === true;
}

export function injectFault(state: KvmgtState, args: { readonly point: unknown; readonly nth: unknown }): OpResult {
  if (!kvmgtFaultPoints.includes(args.point as KvmgtFaultPoint)) return fail('EINVAL');
  const nth = args.nth;
  if (typeof nth !== 'number' || !Number.isInteger(nth) || nth < 1 || nth > KVMGT_FAULT_NTH_MAX) return fail('EINVAL');
  state.fault = { point: args.point as KvmgtFaultPoint, nth };
  return succeed({ point: args.point as string, nth });
}

export function clearFault(state: KvmgtState): OpResult {
  state.fault = null;
  return succeed();
}
