/**
 * The differential pair (the vIOMMU debate, docs/debates.md#viommu-shadow-or-nested: both designs
 * give the same DMA outcome for the same guest program):
 * one guest program, run by a well-behaved guest driver (`driver.ts`) on a shadow and on a nested
 * vIOMMU side by side. Each operation's outcome on each side is reported in words — where a DMA
 * landed (the frame) or that it faulted, or the refusal — for the differential invariant to
 * compare. Frames are comparable across the two sides: both start from the same world, and a
 * well-behaved program allocates and frees the same frames in the same order in both.
 */
import type { OpResult } from '../result.js';
import { driverCommands, driverRefusal } from './driver.js';
import type { DriverOp } from './driver.js';
import { stepViommu } from './step.js';
import { addCosts, noCosts } from './types.js';
import type { StepCosts, ViommuConfig, ViommuResult, ViommuState } from './types.js';

export interface ViommuPairState {
  readonly shadow: ViommuState;
  readonly nested: ViommuState;
}

export interface ViommuPairConfig {
  readonly shadow: ViommuConfig;
  readonly nested: ViommuConfig;
}

export interface DriverRun {
  readonly state: ViommuState;
  /** `mfn N` or `fault` for a DMA, `ok` for anything else that ran, `refused E` otherwise. */
  readonly outcome: string;
  readonly refused: string | null;
  readonly costs: StepCosts;
  readonly results: readonly ViommuResult[];
}

/** Runs one driver operation on one side; a refusal by the driver or by the stack changes nothing. */
export function runDriverOp(state: ViommuState, config: ViommuConfig, op: DriverOp): DriverRun {
  const refusal = driverRefusal(state.guest, state.guestRam, op);
  if (refusal !== null) return { state, outcome: `refused ${refusal}`, refused: refusal, costs: noCosts, results: [] };
  let current = state;
  let costs = noCosts;
  const results: ViommuResult[] = [];
  for (const command of driverCommands(op, config.mode)) {
    const step = stepViommu(current, config, command);
    results.push(step.result);
    if (!step.result.ok) {
      const error = String(step.result.error);
      return { state, outcome: `refused ${error}`, refused: error, costs: noCosts, results };
    }
    costs = addCosts(costs, step.result.costs);
    current = step.state;
  }
  const access = op.kind === 'dma' ? results[results.length - 1]?.accesses[0] : undefined;
  const outcome =
    op.kind !== 'dma' ? 'ok' : access?.outcome === 'landed' && access.mfn !== null ? `mfn ${access.mfn}` : 'fault';
  return { state: current, outcome, refused: null, costs, results };
}

export interface PairStep {
  readonly state: ViommuPairState;
  readonly result: OpResult;
}

/** Both sides run the operation; refused as a whole only when both refuse it alike. */
export function stepPair(state: ViommuPairState, config: ViommuPairConfig, op: DriverOp): PairStep {
  const shadow = runDriverOp(state.shadow, config.shadow, op);
  const nested = runDriverOp(state.nested, config.nested, op);
  const detail = { shadow: shadow.outcome, nested: nested.outcome };
  if (shadow.refused !== null && shadow.refused === nested.refused) {
    return { state, result: { ok: false, error: shadow.refused, detail } };
  }
  return { state: { shadow: shadow.state, nested: nested.state }, result: { ok: true, detail } };
}
