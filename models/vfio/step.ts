/**
 * The VFIO model's step function: a pure map from (state, command) to (new state, result). The
 * state passed in is never modified: the step works on its own copy. `applyVfioCommand` runs one
 * command on a draft the caller already copied (for stacks that compose VFIO with other models).
 */
import { ccwCompleteIo, ccwRunIo, ccwStartIo } from './ccw.js';
import type { VfioCommand } from './commands.js';
import type { VfioConfig } from './config.js';
import {
  closeDevice,
  finishGroupUnsetOp,
  groupSetContainer,
  groupUnsetContainer,
  openDevice,
  setIommu,
  startGroupUnset,
} from './container.js';
import { deviceDma } from './device-dma.js';
import { execProcess } from './exec.js';
import { clearFault, injectFault } from './fault.js';
import { mapDma } from './map-dma.js';
import { mdevPinPages, mdevUnpinPages } from './mdev.js';
import { checkExtension, getInfo } from './query.js';
import { allocateToOther, releaseFromOther } from './other-owner.js';
import { discardRange, mmapRegion, munmapRegion, touchPage } from './process-memory.js';
import { holdsIommuLock, inflightWait, IOMMU_LOCK, nextPhaseOf, startsPhased } from './inflight.js';
import type { PhaseStep } from './inflight.js';
import { finishDeviceDma, landDmas, startDeviceDma } from './phased-dma.js';
import { advanceMapDma, startMapDma } from './phased-map.js';
import { finishDriverPin, startDriverPin } from './phased-pin.js';
import { advanceUnmapDma, startUnmapDma } from './phased-unmap.js';
import { draftOf, err, finishDraft, mustWait, ok, refused, runOp } from './state.js';
import type { OpContext } from './state.js';
import type { VfioOp, VfioResult, VfioState } from './types.js';
import { unmapDma } from './unmap-dma.js';

export interface VfioStep {
  readonly state: VfioState;
  readonly result: VfioResult;
}

export function stepVfio(state: VfioState, config: VfioConfig, command: VfioCommand): VfioStep {
  const next = draftOf(state);
  const result = applyVfioCommand(next, config, command);
  // A refused operation changed nothing: its state is the one it was given.
  return { state: finishDraft(next) ? state : next, result };
}

export function applyVfioCommand(state: VfioState, config: VfioConfig, command: VfioCommand): VfioResult {
  if (command.kind === 'advance') return advanceVfioOp(state, config, command.op);
  if (state.inflight.length > 0 || startsPhased(command)) return applyAmidInflight(state, config, command);
  return applyAtomic(state, config, command);
}

/** A command with nothing in flight: every operation atomic, as before phases existed. */
function applyAtomic(
  state: VfioState,
  config: VfioConfig,
  command: Exclude<VfioCommand, { kind: 'advance' }>,
): VfioResult {
  switch (command.kind) {
    case 'groupSetContainer':
      return groupSetContainer(state, config, command);
    case 'groupUnsetContainer':
      return groupUnsetContainer(state, config, command);
    case 'setIommu':
      return setIommu(state, config, command);
    case 'openDevice':
      return openDevice(state, config, command);
    case 'closeDevice':
      return closeDevice(state, config, command);
    case 'mapDma':
      return mapDma(state, config, command);
    case 'unmapDma':
      return unmapDma(state, config, command);
    case 'checkExtension':
      return checkExtension(state, config, command);
    case 'getInfo':
      return getInfo(state, config, command);
    case 'mmap':
      return mmapRegion(state, config, command);
    case 'munmap':
      return munmapRegion(state, config, command);
    case 'discard':
      return discardRange(state, config, command);
    case 'touch':
      return touchPage(state, config, command);
    case 'exec':
      return execProcess(state, config, command);
    case 'allocateToOther':
      return allocateToOther(state, config, command);
    case 'releaseFromOther':
      return releaseFromOther(state, config, command);
    case 'mdevPinPages':
      return mdevPinPages(state, config, command);
    case 'mdevUnpinPages':
      return mdevUnpinPages(state, config, command);
    case 'ccwStartIo':
      return ccwStartIo(state, config, command);
    case 'ccwCompleteIo':
      return ccwCompleteIo(state, config, command);
    case 'ccwRunIo':
      return ccwRunIo(state, config, command);
    case 'deviceDma':
      return deviceDma(state, config, command);
    case 'injectFault':
      return injectFault(state, config, command);
    case 'clearFault':
      return clearFault(state);
    default:
      return refused('ENOTTY');
  }
}

/**
 * The first phase of an operation (`phase`), then, unless it is started `phased` and left in flight,
 * its later phases back to back (`later`): what the atomic command does, with what is in flight.
 */
function runPhases<O extends VfioOp>(
  state: VfioState,
  phased: boolean,
  first: (ctx: OpContext) => PhaseStep<O>,
  later: (ctx: OpContext, op: O) => PhaseStep<O>,
): VfioResult {
  return runOp(state, (ctx) => {
    let step = first(ctx);
    if (phased) {
      if (step.op !== null) state.inflight.push(step.op);
      return step.outcome;
    }
    while (step.op !== null && step.outcome.ok) step = later(ctx, step.op);
    return step.outcome;
  });
}

/**
 * A command while operations are in flight, or one started `phased`: refused EBUSY when its actor
 * is busy or it needs the `iommu->lock` an operation holds (`inflight.ts`); a phased kind runs as
 * its phases; closing a device lands its DMA first (the reset waits for it).
 */
function applyAmidInflight(
  state: VfioState,
  config: VfioConfig,
  command: Exclude<VfioCommand, { kind: 'advance' }>,
): VfioResult {
  const wait = inflightWait(state, command);
  if (wait !== null) return runOp(state, () => ({ ...mustWait(wait.waitsFor), detail: { waits: wait.reason } }));
  const phased = startsPhased(command);
  if (command.kind === 'deviceDma') {
    return runPhases(
      state,
      phased,
      () => startDeviceDma(state, command),
      (ctx, op) => finishDeviceDma(state, ctx, op),
    );
  }
  if (command.kind === 'mapDma') {
    return runPhases(
      state,
      phased,
      (ctx) => startMapDma(state, config, ctx, command),
      (ctx, op) => advanceMapDma(state, config, ctx, op),
    );
  }
  if (command.kind === 'unmapDma') {
    return runPhases(
      state,
      phased,
      (ctx) => startUnmapDma(state, config, ctx, command),
      (ctx, op) => advanceUnmapDma(state, config, ctx, op),
    );
  }
  if (command.kind === 'mdevPinPages') {
    return runPhases(
      state,
      phased,
      (ctx) => startDriverPin(state, config, ctx, command),
      (_ctx, op) => finishDriverPin(state, op),
    );
  }
  if (command.kind === 'groupUnsetContainer' && phased) {
    return runPhases(
      state,
      phased,
      (ctx) => startGroupUnset(state, config, ctx, command),
      (ctx, op) => finishGroupUnsetOp(state, config, ctx, op),
    );
  }
  if (command.kind === 'closeDevice') return closeLandingDma(state, config, command);
  return applyAtomic(state, config, command);
}

/** Closing a device resets it, and the reset waits for its DMA in flight: that lands first. */
function closeLandingDma(
  state: VfioState,
  config: VfioConfig,
  command: Extract<VfioCommand, { kind: 'closeDevice' }>,
): VfioResult {
  const device = state.devices[command.deviceId];
  const pending = state.inflight.some((op) => op.kind === 'deviceDma' && op.deviceId === command.deviceId);
  if (device === undefined || !device.open || !pending) return applyAtomic(state, config, command);
  const landed = runOp(state, (ctx) => {
    landDmas(state, ctx, (op) => op.deviceId === command.deviceId);
    return ok();
  });
  const closed = applyAtomic(state, config, command);
  return { ...closed, accesses: [...landed.accesses, ...closed.accesses] };
}

/** `advance`: the next phase of operation `index` (oldest first); ENOENT when there is none. */
function advanceVfioOp(state: VfioState, config: VfioConfig, index: number): VfioResult {
  return runOp(state, (ctx) => {
    const op = Number.isInteger(index) ? state.inflight[index] : undefined;
    if (op === undefined) return err('ENOENT');
    // Relocking waits for iommu->lock like any other taker of it.
    if (
      op.kind === 'unmapDma' &&
      op.next === 'recheck' &&
      state.inflight.some((other) => other !== op && holdsIommuLock(other))
    ) {
      return { ...mustWait(IOMMU_LOCK), detail: { waits: 'iommu->lock is held' } };
    }
    const step = advanceOp(state, config, ctx, op);
    const at = state.inflight.indexOf(op);
    if (at >= 0) {
      if (step.op === null) state.inflight.splice(at, 1);
      else state.inflight[at] = step.op;
    }
    if (!step.outcome.ok) {
      // The phase ended its operation with an error it unwound (a MAP_DMA's failed map): the step
      // ran, the ioctl answers the errno.
      if (step.outcome.unwound !== true) return step.outcome;
      return ok({ op: op.kind, phase: nextPhaseOf(op), done: true, error: step.outcome.error });
    }
    return ok({ ...step.outcome.detail, op: op.kind, phase: nextPhaseOf(op), done: step.op === null });
  });
}

function advanceOp(state: VfioState, config: VfioConfig, ctx: OpContext, op: VfioOp): PhaseStep {
  switch (op.kind) {
    case 'deviceDma':
      return finishDeviceDma(state, ctx, op);
    case 'mapDma':
      return advanceMapDma(state, config, ctx, op);
    case 'unmapDma':
      return advanceUnmapDma(state, config, ctx, op);
    case 'mdevPinPages':
      return finishDriverPin(state, op);
    case 'groupUnsetContainer':
      return finishGroupUnsetOp(state, config, ctx, op);
  }
}
