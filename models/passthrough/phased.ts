/**
 * The passthrough stack's operations in flight: VFIO's (MAP_DMA, UNMAP_DMA, a driver's pin,
 * `models/vfio/inflight.ts`) run phase by phase, each phase's translation changes forwarded to
 * the VT-d model as it ends, so that an UNMAP_DMA's `iommu_unmap_fast` and its `iommu_iotlb_sync`
 * fall in different phases with devices running in between; and an assigned device's DMA in two
 * phases over the VT-d model: translate (the IOTLB, or a walk that fills it, `translateRequest`),
 * then access (the request lands where the translation sent it). An invalidation that covers a
 * request in flight drains it: it lands before the invalidation completes (`landDrainedRequests`).
 *
 * `lazy-held`: right before the phase of an UNMAP_DMA that unpins, the stack takes a reference on
 * each frame it will unpin for every queued flush-queue entry that still covers it (one per domain
 * of the container), each held until its entry is released (an entry released by a flush in the
 * window needs none: the flush came after the clear).
 *
 * A command that is not started `phased` while other operations are in flight runs its phases
 * back to back; with nothing in flight, `step.ts` runs it as it always did.
 *
 * Waits (issue 18, `src/waits.ts`): a command whose actor is busy or that needs the `iommu->lock`
 * an operation in flight holds is refused EBUSY with `blocked` (what it waits for); VFIO's phases
 * report their own (an UNMAP_DMA relocking, a driver's `dma_unmap` under the lock). What each
 * operation in flight holds is VFIO's (`vfioHoldings`): the stack adds no lock of its own — the
 * VT-d model's invalidations and the flush queue run inside the phase that calls them.
 */
import { PAGE_SIZE_BYTES } from '../iommu/address.js';
import { completeRequest } from '../iommu/requests.js';
import { translateRequest } from '../iommu/dma.js';
import { cloneIommuState } from '../iommu/state.js';
import { pendingFlushFrames } from '../iommu/views.js';
import { getRef } from '../memory/frames.js';
import { hasVfioBug } from '../vfio/config.js';
import { actorOfOp, actorOfVfioCommand, inflightWait, startsPhased } from '../vfio/inflight.js';
import { landingAccess } from '../vfio/phased-dma.js';
import { refused } from '../vfio/state.js';
import { applyVfioCommand } from '../vfio/step.js';
import type { VfioCommand } from '../vfio/commands.js';
import type { DeviceDmaOp, DmaAccess, VfioResult } from '../vfio/types.js';
import { isPageNumber } from '../vfio/u64.js';
import type { FirstLevelTable, IommuState } from '../iommu/types.js';
import { forwardEffects, lifecycleStep, ownershipChanged, passthroughDmaRefusal, sourceIdOf } from './forward.js';
import type {
  KdumpCommand,
  PasidCommand,
  PassthroughCommand,
  PassthroughConfig,
  PassthroughResult,
  PassthroughState,
} from './types.js';

type DmaCommand = Extract<PassthroughCommand, { kind: 'deviceDma' }>;

// A draft's IOMMU part while it is still its input's (`shareIommuUntilWritten`). Many phases change
// VFIO alone (a MAP_DMA's pins, an UNMAP_DMA's recheck, the VMM's memory), so the copy waits for
// the first phase that hands the IOMMU something: a translation, a landing, effects to forward.
const sharedIommu = new WeakMap<PassthroughState, IommuState>();

/** `draft.iommu` is its input's: copied (`ownIommu`) before anything here writes it. */
export function shareIommuUntilWritten(draft: PassthroughState): void {
  sharedIommu.set(draft, draft.iommu);
}

/** The draft's IOMMU part, copied first if it is still its input's. */
export function ownIommu(draft: PassthroughState): IommuState {
  if (sharedIommu.get(draft) === draft.iommu) draft.iommu = cloneIommuState(draft.iommu);
  sharedIommu.delete(draft);
  return draft.iommu;
}

/** The detail keys an `advance` adds to its phase's (dropped when phases run back to back). */
const ADVANCE_KEYS = new Set(['op', 'phase', 'done']);

/** A device's translate phase through the VT-d model: the request is registered and left in flight. */
function translateDma(state: PassthroughState, args: DmaCommand, firstLevel: FirstLevelTable): PassthroughResult {
  const refusal = passthroughDmaRefusal(state, args);
  if (refusal !== null) return refused(refusal);
  const sourceId = sourceIdOf(args.deviceId);
  let op: DeviceDmaOp = {
    kind: 'deviceDma',
    deviceId: args.deviceId,
    addressPage: args.addressPage,
    write: args.write,
    outcome: 'fault',
    mfn: null,
    domainId: null,
    requestId: null,
    via: 'none',
  };
  if (isPageNumber(args.addressPage)) {
    const request = { deviceId: sourceId, pasid: null, iova: args.addressPage * PAGE_SIZE_BYTES, write: args.write };
    const outcome = translateRequest(ownIommu(state), request, firstLevel);
    const frame = outcome.detail?.['frame'];
    const via = String(outcome.detail?.['via'] ?? 'none');
    if (outcome.detail?.['landed'] === 'frame' && typeof frame === 'number') {
      const exists = state.vfio.memory.frames[frame] !== undefined;
      op = { ...op, outcome: exists ? 'landed' : 'master-abort', mfn: exists ? frame : null, requestId: sourceId, via };
    } else op = { ...op, via };
  }
  state.vfio.inflight.push(op);
  return { ok: true, detail: { translated: op.outcome, mfn: op.mfn, via: op.via }, effects: [], accesses: [] };
}

/** A device's access phase: the request lands, and the IOMMU forgets it. */
function landDma(state: PassthroughState, op: DeviceDmaOp): DmaAccess {
  state.vfio.inflight = state.vfio.inflight.filter((other) => other !== op);
  completeRequest(ownIommu(state), sourceIdOf(op.deviceId));
  return landingAccess(state.vfio, op);
}

/**
 * lazy-held: before an UNMAP_DMA phase that unpins, hold each of its frames once for every queued
 * entry that covers it, in every domain of the container (each domain's IOTLB may keep the frame
 * until its own entry is flushed; a domain freed first releases only its own entry's hold), as the
 * atomic path holds one per unmap effect.
 */
function holdBeforeUnpin(state: PassthroughState, config: PassthroughConfig, index: number): void {
  const op = state.vfio.inflight[index];
  if (config.mode !== 'lazy-held' || op?.kind !== 'unmapDma' || op.toUnpin.length === 0) return;
  const unpinFirst = hasVfioBug(config.vfio, 'unpin-before-iotlb-sync');
  if (op.next !== (unpinFirst ? 'sync' : 'unpin')) return;
  const domains = state.vfio.container.backend?.kind === 'type1' ? state.vfio.container.backend.domains : [];
  for (const domain of domains) {
    const did = state.dids[domain.id];
    if (did === undefined) continue;
    const queued = pendingFlushFrames(state.iommu, did);
    for (const { iovaPage, mfn } of op.toUnpin) {
      const entry = queued.find(
        (extent) =>
          iovaPage >= extent.iovaPage &&
          iovaPage < extent.iovaPage + extent.pages &&
          mfn === extent.frame + (iovaPage - extent.iovaPage),
      );
      if (entry === undefined) continue;
      getRef(state.vfio.memory, mfn);
      state.held.push({ seq: entry.seq, mfn });
    }
  }
}

/** One VFIO phase (a start or an advance) on `state`, its effects forwarded to the IOMMU. */
function vfioPhase(state: PassthroughState, config: PassthroughConfig, command: VfioCommand): VfioResult {
  if (command.kind === 'advance') holdBeforeUnpin(state, config, command.op);
  const lifecycle = lifecycleStep(state, config.lifecycle, command);
  const result = applyVfioCommand(state.vfio, config.vfio, command);
  if (result.effects.length === 0 && state.iommu.requests.length === 0 && !ownershipChanged(lifecycle, state.vfio))
    return result;
  ownIommu(state);
  const drained = forwardEffects(state, config.mode, config.iommu, result.effects, [], lifecycle);
  // A device whose DMA VFIO landed (closing it) has nothing left for the IOMMU to drain.
  state.iommu.requests = state.iommu.requests.filter((request) =>
    state.vfio.inflight.some((op) => op.kind === 'deviceDma' && op.requestId === request.deviceId),
  );
  return drained.length === 0 ? result : { ...result, accesses: [...result.accesses, ...drained] };
}

/**
 * Runs `command` on `state` (a copy the caller owns) with operations in flight or started phased.
 * The result is the command's; its accesses include those of requests it drained.
 */
export function applyAmidInflight(
  state: PassthroughState,
  config: PassthroughConfig,
  command: Exclude<PassthroughCommand, { kind: 'drainFlushQueue' } | PasidCommand | KdumpCommand>,
  firstLevel: FirstLevelTable,
): PassthroughResult {
  if (state.vfio.crash !== null) return refused('BUG_ON', { where: state.vfio.crash.where });
  if (command.kind === 'advance') {
    const op = Number.isInteger(command.op) ? state.vfio.inflight[command.op] : undefined;
    if (op?.kind === 'deviceDma') {
      const access = landDma(state, op);
      return {
        ok: true,
        detail: { outcome: access.outcome, mfn: access.mfn, owner: access.owner, op: op.kind, phase: 'access' },
        effects: [],
        accesses: [access],
      };
    }
    return vfioPhase(state, config, command);
  }
  // It must wait (VFIO's actors and iommu->lock, `models/vfio/inflight.ts`): refused EBUSY, the
  // state unchanged, with what it waits for (`src/waits.ts`).
  const wait = inflightWait(state.vfio, command);
  if (wait !== null)
    return { ...refused('EBUSY', { waits: wait.reason }), blocked: { waitsFor: wait.waitsFor, holds: [] } };
  if (command.kind === 'deviceDma') {
    const started = translateDma(state, command, firstLevel);
    if (!started.ok || startsPhased(command)) return started;
    const op = state.vfio.inflight[state.vfio.inflight.length - 1];
    if (op?.kind !== 'deviceDma') return started;
    const access = landDma(state, op);
    return {
      ok: true,
      detail: { outcome: access.outcome, mfn: access.mfn, owner: access.owner, via: op.via },
      effects: [],
      accesses: [access],
    };
  }
  if (!startsPhased(command) && !['mapDma', 'unmapDma', 'mdevPinPages'].includes(command.kind)) {
    return vfioPhase(state, config, command);
  }
  // A phased kind: its first phase, then (unless started phased) the rest back to back.
  const actor = actorOfVfioCommand(state.vfio, command);
  let result = vfioPhase(state, config, { ...command, phased: true } as VfioCommand);
  if (startsPhased(command)) return result;
  const effects = [...result.effects];
  const accesses = [...result.accesses];
  for (;;) {
    const index = state.vfio.inflight.findIndex((op) => actorOfOp(op) === actor);
    if (!result.ok || index < 0) break;
    result = vfioPhase(state, config, { kind: 'advance', op: index });
    effects.push(...result.effects);
    accesses.push(...result.accesses);
  }
  const detail =
    result.detail === undefined
      ? undefined
      : Object.fromEntries(Object.entries(result.detail).filter(([key]) => !ADVANCE_KEYS.has(key)));
  return { ...result, ...(detail === undefined ? {} : { detail }), effects, accesses };
}
