/**
 * Fault injection on the XenGT stack (issue 18, "Error unwinding"), in the KVMGT stack's shape
 * (`models/kvmgt/fault.ts`): `injectFault` arms "the nth attempt at a point fails" for every later
 * command, `clearFault` disarms it. The count is per command and lives outside the state (keyed by
 * the step's own copy), so arming is the only state change and a command that meets no fault
 * counts nothing. The points are Xen's (`models/xen/fault.ts`, with the unwind each takes); on the
 * XenGT path the backend's XENMEM_add_to_physmap (`foreignMap`) fails the mediator's DMA map, and
 * the GGTT entry stays on scratch (`emulate_ggtt_mmio_write`), as the KVMGT stack's `dmaMap` does.
 *
 * A command refused because an injected fault struck keeps the state its unwind left (the XenGT
 * step hands back its new state even when refused): the unwind is the model's, step by step, not a
 * restored copy, so the atomicity invariant judges it.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { noFaults, xenFaultPoints } from '../xen/fault.js';
import type { XenFaultPoint, XenFaults } from '../xen/fault.js';
import type { XenGtState } from './types.js';

/** Largest `nth` accepted: beyond the attempts one command of a small world makes. */
export const XENGT_FAULT_NTH_MAX = 64;

type Attempts = Partial<Record<XenFaultPoint, number>>;

/** A step's attempts, by its own copy of the state. */
const attempts = new WeakMap<XenGtState, Attempts>();

/** The fault injection of the step working on `state` (its own copy): `noFaults` when none is armed. */
export function faultsOf(state: XenGtState): XenFaults {
  const fault = state.fault;
  if (fault === null) return noFaults;
  return {
    strikes(point) {
      if (point !== fault.point) return false;
      let counts = attempts.get(state);
      if (counts === undefined) {
        counts = {};
        attempts.set(state, counts);
      }
      const count = (counts[point] ?? 0) + 1;
      counts[point] = count;
      return count === fault.nth;
    },
  };
}

export function injectFault(state: XenGtState, args: { readonly point: unknown; readonly nth: unknown }): OpResult {
  if (!xenFaultPoints.includes(args.point as XenFaultPoint)) return fail('EINVAL');
  const nth = args.nth;
  if (typeof nth !== 'number' || !Number.isInteger(nth) || nth < 1 || nth > XENGT_FAULT_NTH_MAX) return fail('EINVAL');
  state.fault = { point: args.point as XenFaultPoint, nth };
  return succeed({ point: args.point as string, nth });
}

export function clearFault(state: XenGtState): OpResult {
  state.fault = null;
  return succeed();
}
