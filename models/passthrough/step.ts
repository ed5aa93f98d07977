/**
 * The passthrough stack's step function: VFIO runs the command, its translation changes are
 * forwarded to the VT-d model (`forward.ts`), and the assigned device's DMA is translated by the
 * VT-d model — IOTLB first, then the page walk, filling the IOTLB — instead of VFIO's own record of
 * its domains. Pure: the state passed in is never modified.
 *
 * `lazy-held`: before VFIO runs a command, the step learns which frames it will unmap by running it
 * on a scratch copy (the VFIO model is deterministic, and a reference count it does not branch on
 * changes nothing else), takes a reference on each, and hands them to the forwarding, which keeps
 * each until the flush covering its unmap completes.
 *
 * A step shares with its input every part it did not change (the whole state when VFIO refused,
 * the IOMMU when VFIO changed no translation, everything but the IOTLB after a DMA), so that
 * invariants reading only unchanged parts are skipped (`Invariant.reads`).
 */
import { drainFlushQueue } from '../iommu/flush-queue.js';
import { cloneIommuState, createIommuState } from '../iommu/state.js';
import type { FirstLevelTable, IommuCaps, IommuState } from '../iommu/types.js';
import { cloneVfioState, draftOf, finishDraft, refused } from '../vfio/state.js';
import { applyVfioCommand } from '../vfio/step.js';
import type { VfioCommand } from '../vfio/commands.js';
import type { DmaAccess, VfioState } from '../vfio/types.js';
import { actorOfVfioCommand, startsPhased } from '../vfio/inflight.js';
import {
  dmaThroughIommu,
  forwardEffects,
  holdUnmappedFrames,
  landDrainedRequests,
  lifecycleStep,
  ownershipChanged,
  passthroughDmaRefusal,
  releaseFlushedHolds,
  sourceIdOf,
} from './forward.js';
import { releaseGroup } from './lifecycle.js';
import { applyAmidInflight, ownIommu, shareIommuUntilWritten } from './phased.js';
import { finishCopiedAttach, groupProbing } from './kdump.js';
import type { CopiedContextTeardown } from '../iommu/kdump.js';
import { applyPasidCommand, devicesLosingPasids, tearDownLostPasids } from './pasid.js';
import { pasidCommandKinds } from './types.js';
import type {
  PasidCommand,
  PassthroughCommand,
  PassthroughConfig,
  PassthroughResult,
  PassthroughState,
} from './types.js';

export function isPasidCommand(command: PassthroughCommand): command is PasidCommand {
  return (pasidCommandKinds as readonly string[]).includes(command.kind);
}

/** Who issues a command: the flush timer, the device (its DMA), else VFIO's actors (the VMM for a PASID attach). */
export function passthroughActorOf(state: PassthroughState, command: PassthroughCommand): string {
  if (command.kind === 'drainFlushQueue') return 'IOMMU flush timer';
  if (command.kind === 'finishCopiedAttach') return 'kernel (probe)';
  if (command.kind === 'pasidDma') return `device ${command.deviceId}`;
  if (isPasidCommand(command)) return 'VMM';
  return actorOfVfioCommand(state.vfio, command);
}

export function createPassthroughState(vfio: VfioState, caps: Partial<IommuCaps> = {}): PassthroughState {
  return { vfio: cloneVfioState(vfio), iommu: createIommuState(caps), dids: {}, held: [] };
}

/**
 * A copy of `state`; `vfio` and `iommu` replace the copies of those parts when the caller already
 * has one (or shares the input's, `shareIommuUntilWritten`).
 */
export function clonePassthroughState(
  state: PassthroughState,
  vfio: VfioState = cloneVfioState(state.vfio),
  iommu: IommuState = cloneIommuState(state.iommu),
): PassthroughState {
  return {
    vfio,
    iommu,
    dids: { ...state.dids },
    held: [...state.held],
    ...(state.defaults === undefined ? {} : { defaults: { ...state.defaults } }),
    // Replaced whole on every change.
    ...(state.probing === undefined ? {} : { probing: state.probing }),
    ...(state.vmmSetup === undefined ? {} : { vmmSetup: state.vmmSetup }),
  };
}

export interface PassthroughStep {
  readonly state: PassthroughState;
  readonly result: PassthroughResult;
}

/**
 * `firstLevel`: the guest's first-level table, walked by a DMA when the device is attached to a
 * nested domain (a stack with a vIOMMU, `models/viommu`); none otherwise.
 */
export function stepPassthrough(
  state: PassthroughState,
  config: PassthroughConfig,
  command: PassthroughCommand,
  firstLevel: FirstLevelTable = {},
): PassthroughStep {
  if (command.kind === 'drainFlushQueue') {
    const next = clonePassthroughState(state);
    return { state: next, result: drainAll(next, config) };
  }
  if (command.kind === 'finishCopiedAttach') {
    // A refusal hands back the input.
    const next = clonePassthroughState(state);
    const result = finishCopiedAttach(next, command.deviceId);
    if (result.ok) startVmm(next, config);
    return { state: result.ok ? next : state, result };
  }
  if (command.kind === 'groupSetContainer' && groupProbing(state, command.groupId))
    return { state, result: refused('EBUSY') };
  if (command.kind === 'pasidDma') {
    // Like a DMA without PASID, it changes only the IOTLB and the PASID cache (fills): the rest of
    // the state, the IOMMU's tables included, is shared with the input.
    const iommu = { ...state.iommu, iotlb: [...state.iommu.iotlb] };
    if (state.iommu.pasidCache !== undefined) iommu.pasidCache = [...state.iommu.pasidCache];
    const next = { ...state, iommu };
    const result = applyPasidCommand(next, config, command);
    return { state: result.ok ? next : state, result };
  }
  if (isPasidCommand(command)) {
    // The IOMMU only, in flight or not (`pasid.ts`; the teardown hook edits the IOMMU alone): VFIO's
    // state, the DIDs and the holds are shared with the input. A refusal hands back the input.
    const next = { ...state, iommu: cloneIommuState(state.iommu) };
    const result = applyPasidCommand(next, config, command);
    return { state: result.ok ? next : state, result };
  }
  if (command.kind === 'advance' || state.vfio.inflight.length > 0 || startsPhased(command)) {
    // Operations in flight (`phased.ts`): run on a copy; a refusal hands back the input. VFIO's
    // part is a draft (`draftOf`), so that its first phase takes no snapshot of its own: a refusal
    // hands back the input anyway, and a phase that unwinds compares with the input's VFIO part.
    const next = clonePassthroughState(state, draftOf(state.vfio), state.iommu);
    shareIommuUntilWritten(next);
    const result = applyAmidInflight(next, config, command, firstLevel);
    const crashed = next.vfio.crash !== null && state.vfio.crash === null;
    // An abandoned draft (a refusal left unrestored) is the input's, as a restored one would be;
    // were it ever the new state, the step runs again on a plain copy, which restores.
    if (finishDraft(next.vfio) && (result.ok || crashed))
      return stepAmidInflightCopy(state, config, command, firstLevel);
    if (result.ok && config.pasid !== undefined) {
      // The PASID teardown hook edits the IOMMU (`pasid.ts`).
      ownIommu(next);
      tearDownLostPasids(next, config);
    }
    return { state: result.ok || crashed ? next : state, result };
  }
  if (command.kind === 'deviceDma') {
    // A DMA changes only the IOTLB (a fill): the rest of the state, the IOMMU's tables included,
    // is shared with the input.
    const next = { ...state, iommu: { ...state.iommu, iotlb: [...state.iommu.iotlb] } };
    return { state: next, result: deviceDmaThroughIommu(next, command, firstLevel) };
  }
  // VFIO runs on a draft of its own part first: a refused command hands back the input state.
  const lifecycle = lifecycleStep(state, config.lifecycle);
  let vfio = draftOf(state.vfio);
  let result = applyVfioCommand(vfio, config.vfio, command);
  let preheld: number[] = [];
  if (config.mode === 'lazy-held' && result.effects.some((effect) => effect.kind === 'unmap')) {
    // lazy-held: the run unmapped frames. It was the scratch run that tells which (the VFIO model
    // is deterministic, and a reference count it does not branch on changes nothing else): the
    // command runs again on a fresh draft that holds each of them first. A run that unmapped
    // nothing is the real one already (no hold to take), which spares a copy and a run.
    finishDraft(vfio);
    vfio = draftOf(state.vfio);
    preheld = holdUnmappedFrames(vfio, result.effects);
    result = applyVfioCommand(vfio, config.vfio, command);
  }
  if (finishDraft(vfio)) return { state, result };
  // Nothing for the IOMMU: its state, the domain ids and the holds are shared with the input.
  const losing = config.pasid !== undefined && devicesLosingPasids(state, vfio).length > 0;
  if (result.effects.length === 0 && preheld.length === 0 && !ownershipChanged(lifecycle, vfio) && !losing)
    return { state: { ...state, vfio }, result };
  const next = clonePassthroughState(state, vfio);
  // A device closing, or its group leaving, loses its PASIDs first (its unbind detaches them).
  tearDownLostPasids(next, config);
  forwardEffects(next, config.mode, config.iommu, result.effects, preheld, lifecycle);
  return { state: next, result };
}

/** Runs one command on a draft the caller already copied. */
export function applyPassthroughCommand(
  state: PassthroughState,
  config: PassthroughConfig,
  command: PassthroughCommand,
): PassthroughResult {
  if (command.kind === 'drainFlushQueue') return drainAll(state, config);
  if (command.kind === 'finishCopiedAttach') {
    const result = finishCopiedAttach(state, command.deviceId);
    if (result.ok) startVmm(state, config);
    return result;
  }
  if (command.kind === 'groupSetContainer' && groupProbing(state, command.groupId)) return refused('EBUSY');
  if (command.kind === 'deviceDma') return deviceDmaThroughIommu(state, command);
  if (isPasidCommand(command)) return applyPasidCommand(state, config, command);
  const lifecycle = lifecycleStep(state, config.lifecycle);
  const preheld = config.mode === 'lazy-held' ? holdFramesToBeUnmapped(state.vfio, state.vfio, config, command) : [];
  const result = applyVfioCommand(state.vfio, config.vfio, command);
  if (result.ok) tearDownLostPasids(state, config);
  forwardEffects(state, config.mode, config.iommu, result.effects, preheld, lifecycle);
  return result;
}

/**
 * Turns the group lifecycle on for a state built without it: every IOMMU group no container owns
 * sits in a default domain of its own (`iommu_group_alloc_default_domain` at boot). A kdump kernel
 * (`copiedTeardown`): a device whose context entry was copied starts its attach (`kdump.ts`).
 */
export function startLifecycle(state: PassthroughState, copiedTeardown?: CopiedContextTeardown): void {
  if (state.defaults !== undefined) return;
  state.defaults = {};
  for (const group of state.vfio.groups) {
    if (group.spec.kind === 'iommu' && !group.inContainer) releaseGroup(state, group.id, sourceIdOf, copiedTeardown);
  }
}

/**
 * lazy-held: learns which frames `command` will unmap by running it on a scratch copy of `vfio`,
 * and takes a reference on each in `draft` before the real run unpins them.
 */
function holdFramesToBeUnmapped(
  vfio: VfioState,
  draft: VfioState,
  config: PassthroughConfig,
  command: VfioCommand,
): number[] {
  const scratch = draftOf(vfio);
  const probe = applyVfioCommand(scratch, config.vfio, command);
  finishDraft(scratch);
  return holdUnmappedFrames(draft, probe.effects);
}

/** `stepPassthrough` amid operations in flight, on a plain copy whose refusals restore it. */
function stepAmidInflightCopy(
  state: PassthroughState,
  config: PassthroughConfig,
  command: Parameters<typeof applyAmidInflight>[2],
  firstLevel: FirstLevelTable,
): PassthroughStep {
  const next = clonePassthroughState(state);
  const result = applyAmidInflight(next, config, command, firstLevel);
  if (result.ok) tearDownLostPasids(next, config);
  const crashed = next.vfio.crash !== null && state.vfio.crash === null;
  return { state: result.ok || crashed ? next : state, result };
}

/** The flush-queue timer fires for every lazy domain: a domain-wide flush, then the queue is released. */
function drainAll(state: PassthroughState, config: PassthroughConfig): PassthroughResult {
  if (state.vfio.crash !== null) return refused('BUG_ON', { where: state.vfio.crash.where });
  const lazy = Object.values(state.iommu.domains).filter((domain) => domain.type === 'dma-fq');
  if (lazy.length === 0) return refused('EINVAL');
  let releasedEntries = 0;
  for (const domain of lazy) {
    const drained = drainFlushQueue(state.iommu, config.iommu, { domainId: domain.domainId });
    const released = drained.detail?.['releasedEntries'];
    if (typeof released === 'number') releasedEntries += released;
  }
  // The flush drained the requests in flight: they land before the held frames go.
  const accesses: DmaAccess[] = [];
  landDrainedRequests(state, accesses);
  releaseFlushedHolds(state);
  return { ok: true, detail: { domains: lazy.length, releasedEntries }, effects: [], accesses };
}

/**
 * A DMA by the assigned device through the VT-d model, refused as the VFIO model's own
 * `deviceDma` refuses it (`deviceDmaRefusal`).
 */
function deviceDmaThroughIommu(
  state: PassthroughState,
  args: Extract<PassthroughCommand, { kind: 'deviceDma' }>,
  firstLevel: FirstLevelTable = {},
): PassthroughResult {
  if (state.vfio.crash !== null) return refused('BUG_ON', { where: state.vfio.crash.where });
  const refusal = passthroughDmaRefusal(state, args);
  if (refusal !== null) return refused(refusal);
  const { access, via } = dmaThroughIommu(state, args, null, firstLevel);
  return {
    ok: true,
    detail: { outcome: access.outcome, mfn: access.mfn, owner: access.owner, via },
    effects: [],
    accesses: [access],
  };
}

/**
 * A kdump kernel's world: once no probe is left in flight, the VMM issues the setup ioctls it was
 * waiting with (`vmmSetup`), on `state` in place. A refused one is skipped (the run's own commands
 * may have changed the VMM's memory meanwhile).
 */
function startVmm(state: PassthroughState, config: PassthroughConfig): void {
  const setup = state.vmmSetup;
  if (setup === undefined || state.probing !== undefined) return;
  delete state.vmmSetup;
  for (const command of setup) applyPassthroughCommand(state, config, command);
}
