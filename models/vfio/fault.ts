/**
 * Fault injection commands: arm "the nth pin (allocation, iommu_map) of each operation fails", and disarm.
 * How the count works and why a failing operation consumes nothing: see `state.ts`.
 */
import type { VfioConfig } from './config.js';
import { err, ok, runOp } from './state.js';
import { faultPoints } from './types.js';
import type { FaultInjection, VfioResult, VfioState } from './types.js';

/** Largest `nth` accepted: far beyond the pins or allocations one operation of a small world makes. */
export const FAULT_NTH_MAX = 1_000_000;

export function injectFault(state: VfioState, _config: VfioConfig, args: FaultInjection): VfioResult {
  return runOp(state, () => {
    if (!faultPoints.includes(args.point)) return err('EINVAL');
    if (!Number.isInteger(args.nth) || args.nth < 1 || args.nth > FAULT_NTH_MAX) return err('EINVAL');
    state.faultInjection = { point: args.point, nth: args.nth };
    return ok({ point: args.point, nth: args.nth });
  });
}

export function clearFault(state: VfioState): VfioResult {
  return runOp(state, () => {
    state.faultInjection = null;
    return ok();
  });
}
