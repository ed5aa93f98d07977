/**
 * The XenGT stack's step function: a pure map from (state, command) to (new state, result). The
 * state passed in is never modified: Xen's part is copy-on-write (`models/xen/copy-on-write.ts`,
 * and for the mediator's commands shared until a backend service first changes it), the vGPU is
 * copied for the mediator's commands and its unchanged tables handed back shared afterwards
 * (`reshareVgpu`). The step hands back its new state even when the request is refused, so the
 * atomicity invariant sees what a refusal changed; a step that changed nothing hands back the
 * state it was given.
 *
 * The guest's GGTT writes, page-table stores and submissions go through the shared GVT-g mediator
 * (`models/gvt`) with Xen's services (`host.ts`); the Xen hypercalls go to the Xen model.
 *
 * Operations that take time (`inflight.ts`): a command with `phased: true` runs its first phase
 * and stays in flight; `advance` runs the next phase of the operation it names, and an index
 * with nothing there is refused (ENOENT) with the state unchanged. Without `phased` a command
 * runs every phase at once, as it always did. Who may run meanwhile:
 * - the vGPU's lock is held from a GGTT write's trap to its shadow write
 *   (`intel_vgpu_emulate_mmio_write` takes `vgpu->vgpu_lock` for the whole emulation): every
 *   other command that takes it — another GGTT write, the mediator's own commands (the page-track
 *   handler, PVINFO and ELSP writes, the scheduler's dispatch), the vGPU's creation and
 *   destruction, the guest's destruction, which destroys its vGPU first — waits, and is refused
 *   here with EBUSY (it would run, whole, after the write: the same states, one step later);
 * - Xen, the other domains, the guest's other vCPUs' hypercalls and the GPU's GGTT accesses run;
 * - the GPU may have several accesses in flight (its engines fetch ahead); destroying the vGPU
 *   first waits for them to land (`intel_gvt_deactivate_vgpu` waits for the vGPU to be idle);
 * - a balloon-out in flight holds its domain's p2m lock (`guest_remove_page`: `get_gfn_query` …
 *   `put_gfn`): a command that reads or writes that p2m (`p2msOf`) waits, EBUSY;
 * - a grant unmap in flight holds no lock (`unmap_common` dropped them): anything runs, a new map
 *   may take the freed handle;
 * - a grant map in flight holds no lock either (`map_grant_ref` dropped them after pinning), but
 *   its maptrack handle is taken: another map by the same domain takes another one. Its second
 *   phase makes the host mapping in the mapper's p2m, so it waits for a balloon in flight there;
 * - a domain is destroyed only once none of its hypercalls is in flight (`domain_kill` pauses its
 *   vCPUs, which leave their hypercalls first): EBUSY until then;
 * - a teardown between `domain_kill`'s call and its continuation holds no lock: everything runs,
 *   the dying domain's own vCPUs excepted (paused; the model refuses a dying domain's requests);
 * - the backend's own balloon-out of a gfn the GPU's accesses in flight were translated through
 *   drains them first (the p2m removal's IOMMU flush), as the removal of its foreign mapping does.
 * Each such refusal carries `blocked` (issue 18, `src/waits.ts`): the resource it waits for, by the
 * names `inflight.ts` gives them (the vGPU's lock, a guest vCPU, a domain's p2m lock, a domain's
 * vCPUs in hypercalls), and what the waiter holds meanwhile; the bound on operations in flight is
 * refused plainly (no one holds it).
 *
 * Lifecycle and faults (issue 18): the toolstack creates a domain again at a domid once the old
 * one is gone (`createDomain`, `models/xen/create.ts`; the guest's memory contents and claims start
 * afresh), the vGPU's destroy keeps what the hardware holds of its GGTT ranges (`releasedGgtt`)
 * and its create resets them (unless the design's `vgpuLifecycle` says otherwise);
 * `injectFault` / `clearFault` arm Xen's fault points (`fault.ts`), whose failures are unwound by
 * the hypercalls that meet them and, like every refusal here, handed back for the atomicity
 * invariant to judge.
 *
 * GGTT writes come whole (8 bytes) or in 4-byte halves, through the same emulation as KVMGT's
 * (`emulate_ggtt_mmio_write`: the first half waits in the partial-PTE list, the host entry at
 * scratch, until the other half arrives; the backend translates only a whole entry).
 *
 * Left out: guest stores into anything but its own RAM (a grant-mapped gfn of the guest is another
 * domain's page).
 */
import { applyGvtCommand, isGvtCommand } from '../gvt/commands.js';
import type { GuestMemory } from '../gvt/commands.js';
import { emulateGgttWrite, finishGgttWrite, startGgttWrite } from '../gvt/ggtt.js';
import type { GgttWriteArgs, GgttWritePending } from '../gvt/ggtt.js';
import { ggttDmaStep, gpuDmaGgtt, landGgttDma, translateGgttDma } from '../gvt/gpu-commands.js';
import type { GpuAccess } from '../gvt/types.js';
import { releaseLeaf } from '../gvt/dma-cache.js';
import { cloneVgpu, createdVgpu, newVgpu, releasedGgttOf, reshareVgpu, teardownVgpu } from '../gvt/vgpu.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { createDomain } from '../xen/create.js';
import { destroyDomain, finishDestroyDomain, startDestroyDomain } from '../xen/destroy.js';
import type { DomainTeardownInFlight } from '../xen/destroy.js';
import {
  completeUnmapGrantRef,
  endAccess,
  finishMapGrantRef,
  grantAccess,
  mapGrantRef,
  startMapGrantRef,
  startUnmapGrantRef,
  unmapGrantRef,
} from '../xen/grant-table.js';
import {
  addToPhysmapForeign,
  decreaseReservation,
  finishDecreaseReservation,
  populatePhysmap,
  removeForeignMapping,
  startDecreaseReservation,
} from '../xen/memory-op.js';
import { shareXenState } from '../xen/copy-on-write.js';
import { createXenState, runningDomain } from '../xen/state.js';
import type { XenGtAdvance, XenGtCommand } from './commands.js';
import type { XenGtConfig } from './config.js';
import { hasXenGtBug } from './config.js';
import { clearFault, faultsOf, injectFault } from './fault.js';
import {
  drainedBy,
  hypercallDomain,
  inHypercall,
  MAX_IN_FLIGHT,
  opHolds,
  p2mLock,
  reservedHandles,
  vcpuResource,
  VGPU_LOCK,
} from './inflight.js';
import type { GgttDmaOp, GgttWriteOp, XenGtOp } from './inflight.js';
import type { XenBackendCall } from './backend.js';
import { copyOnWriteHost, drainGpu, guestRam, isPoolGfn, performHandOver, xenGtHost } from './host.js';
import type { ReleaseReason } from './host.js';
import type { XenGtHost } from './host.js';
import type { XenGtResult, XenGtState } from './types.js';

export interface XenGtStep {
  readonly state: XenGtState;
  readonly result: XenGtResult;
}

interface Applied {
  readonly result: OpResult;
  readonly accesses?: readonly GpuAccess[];
}

/** The world as the toolstack leaves it: the domains running, a fresh vGPU with every entry clear. */
export function initXenGt(config: XenGtConfig): XenGtState {
  return {
    xen: createXenState(config.world),
    vgpu: newVgpu(config.gvt.layout),
    guestPages: {},
    writeProtected: [],
    inflight: [],
    fault: null,
    releasedGgtt: null,
  };
}

/** A state for one step: Xen's part copy-on-write, the mediator's part copied. */
export function cloneXenGt(state: XenGtState): XenGtState {
  return { xen: shareXenState(state.xen), ...cloneXenGtMediator(state) };
}

/**
 * Everything but Xen, for the mediator to change: the vGPU is copied; the guest's memory contents
 * and the write-protected gfns are shared, since the mediator replaces them (a store, a change of
 * protection) rather than editing them in place.
 */
function cloneXenGtMediator(state: XenGtState): Omit<XenGtState, 'xen'> {
  return {
    vgpu: cloneVgpu(state.vgpu),
    guestPages: state.guestPages,
    writeProtected: state.writeProtected,
    inflight: state.inflight,
    fault: state.fault,
    releasedGgtt: state.releasedGgtt,
  };
}

/** Commands that only change Xen: the vGPU, the guest's memory and its write protection are shared. */
const xenOnly: ReadonlySet<XenGtCommand['kind']> = new Set([
  'decreaseReservation',
  'populatePhysmap',
  'grantAccess',
  'endAccess',
  'mapGrantRef',
  'unmapGrantRef',
  'mapForeign',
  'unmapForeign',
]);

export function stepXenGt(state: XenGtState, config: XenGtConfig, command: XenGtCommand): XenGtStep {
  if (command.kind === 'advance') return advance(state, config, command);
  // A GPU access through the GTT only reads the state (started: it joins the accesses in flight).
  if (command.kind === 'gpuDma')
    return command.phased === true ? startGpuDma(state, config, command) : gpuDma(state, config, command);
  const waits = waitsFor(state, config, command);
  if (waits !== null) return mustWait(state, waits);
  if (command.kind === 'gttWrite' && releaseWaitsForItself(state, config, command.entry)) {
    // Its shadow write releases the entry's old address under the vGPU's lock, which the release
    // takes again: the write waits for itself (the bug `cache-release-takes-vgpu-lock`).
    const vcpu = vcpuResource(command.vcpu ?? 0);
    return mustWait(state, { reason: VGPU_LOCK, resource: VGPU_LOCK }, [vcpu, VGPU_LOCK]);
  }
  if (command.kind === 'gttWrite' && command.phased === true) return startGttWrite(state, config, command);
  if (command.kind === 'decreaseReservation' && drainsGpu(state, config, command)) {
    // The backend's own gfn leaves its p2m: guest_physmap_remove_page's IOMMU unmap flushes the
    // IOTLB (the flush is not suppressed here) and drains the GPU's accesses translated through
    // it, which land before the page is put (owners as they are now).
    const drained: XenGtState = { ...state };
    drainGpu(drained, state.xen, command.gfn);
    const step = stepXenGt(drained, config, command);
    return step.result.ok ? step : { state, result: { ...step.result, accesses: [] } };
  }
  if (
    (command.kind === 'unmapGrantRef' || command.kind === 'decreaseReservation' || command.kind === 'mapGrantRef') &&
    command.phased === true
  ) {
    return startXenOp(state, config, command);
  }
  // Unchanged parts stay the same objects, so invariants that read only them are not re-checked:
  // Xen's operations leave the mediator's part alone, and the mediator's commands change Xen only
  // through the backend's calls, which copy it when they first do.
  if (xenOnly.has(command.kind) || command.kind === 'destroyDomain' || command.kind === 'createDomain') {
    const next: XenGtState = xenOnly.has(command.kind)
      ? { ...state, xen: shareXenState(state.xen) }
      : cloneXenGt(state);
    const applied = apply(next, config, (reason) => xenGtHost(config, reason), command);
    return finished(state, next, applied);
  }
  const next: XenGtState = { xen: state.xen, ...cloneXenGtMediator(state) };
  const applied = apply(next, config, (reason) => copyOnWriteHost(config, state.xen, reason), command);
  return finished(state, next, applied);
}

/** The step's result, with the GPU accesses an IOTLB flush drained on the way (`host.ts`). */
function finished(before: XenGtState, next: XenGtState, applied: Applied): XenGtStep {
  if (next.inflight.length === 0) {
    return { state: settled(before, next), result: { ...applied.result, accesses: applied.accesses ?? [] } };
  }
  const drained = next.inflight.flatMap((op) => (op.kind === 'gpuDma' && op.landed !== undefined ? [op.landed] : []));
  if (drained.length > 0) next.inflight = next.inflight.filter((op) => op.kind !== 'gpuDma' || op.landed === undefined);
  const accesses = [...(applied.accesses ?? []), ...drained];
  return { state: settled(before, next), result: { ...applied.result, accesses } };
}

function gpuDma(state: XenGtState, config: XenGtConfig, command: { entry: number; write: boolean }): XenGtStep {
  const access = gpuDmaGgtt(state, xenGtHost(config), config.gvt, command);
  return { state, result: { ...access.result, accesses: access.accesses } };
}

/** Phase 1 of a GPU access: translated at fetch, left in flight (the GPU's engines fetch ahead). */
function startGpuDma(state: XenGtState, config: XenGtConfig, command: { entry: number; write: boolean }): XenGtStep {
  if (state.inflight.length >= MAX_IN_FLIGHT) return { state, result: { ...fail('EBUSY'), accesses: [] } };
  const translated = translateGgttDma(state, xenGtHost(config), config.gvt, command);
  if ('refused' in translated) return { state, result: { ...translated.refused.result, accesses: [] } };
  const dma = translated.inflight;
  const op: GgttDmaOp = { kind: 'gpuDma', dma };
  return {
    state: { ...state, inflight: [...state.inflight, op] },
    result: { ...succeed({ entry: dma.entry, translated: dma.outcome, mfn: dma.mfn }), accesses: [] },
  };
}

/** Why a command cannot run now: the refusal's words, and the resource it waits for (`inflight.ts`). */
interface XenGtWait {
  readonly reason: string;
  /** Null for the bound on operations in flight, which no one holds (the scheduler advances one). */
  readonly resource: string | null;
}

/**
 * A command that must wait: refused EBUSY, the state unchanged, with what it waits for in
 * `blocked` (`src/waits.ts`); `holds`: what the waiter keeps meanwhile (an operation's own, for an
 * `advance`).
 */
function mustWait(state: XenGtState, wait: XenGtWait, holds: readonly string[] = []): XenGtStep {
  const refused = { ...fail('EBUSY', { waitsFor: wait.reason }), accesses: [] };
  if (wait.resource === null) return { state, result: refused };
  return { state, result: { ...refused, blocked: { waitsFor: wait.resource, holds } } };
}

/**
 * Why `command` cannot run now, or null: it needs the vGPU's lock, which a GGTT write in flight
 * holds; or its vCPU is blocked on a write of its own. (With `unlocked-translate` the mediator
 * drops the lock while the backend translates: only the trapped vCPU waits.)
 */
function waitsFor(state: XenGtState, config: XenGtConfig, command: XenGtCommand): XenGtWait | null {
  // Nothing in flight holds a lock, a vCPU or a slot (every case below needs an operation in flight).
  if (state.inflight.length === 0) return null;
  const on = (resource: string): XenGtWait => ({ reason: resource, resource });
  // A domain is destroyed once its vCPUs are out of their hypercalls (domain_kill pauses it).
  if (command.kind === 'destroyDomain' && state.inflight.some((op) => hypercallDomain(op) === command.domid)) {
    return on(inHypercall(command.domid));
  }
  // A balloon in flight holds its domain's p2m lock from the p2m removal to the puts.
  const locked = state.inflight.flatMap((op) => (op.kind === 'decreaseReservation' ? [op.pending.domid] : []));
  const lockedP2m = p2msOf(config, command).find((domid) => locked.includes(domid));
  if (lockedP2m !== undefined) return on(p2mLock(lockedP2m));
  const full: XenGtWait = { reason: 'the operations in flight', resource: null };
  if (
    (command.kind === 'unmapGrantRef' ||
      command.kind === 'decreaseReservation' ||
      command.kind === 'mapGrantRef' ||
      command.kind === 'destroyDomain') &&
    command.phased === true
  ) {
    if (state.inflight.length >= MAX_IN_FLIGHT) return full;
  }
  if (command.kind === 'gttWrite') {
    if (state.inflight.length >= MAX_IN_FLIGHT) return full;
    const vcpu = command.vcpu ?? 0;
    // Its vCPU is blocked on the ioreq of a trapped write of its own.
    if (state.inflight.some((op) => op.kind === 'gttWrite' && op.vcpu === vcpu)) return on(vcpuResource(vcpu));
  }
  if (hasXenGtBug(config, 'unlocked-translate') || !state.inflight.some((op) => op.kind === 'gttWrite')) return null;
  return takesVgpuLock(state, config, command) ? on(VGPU_LOCK) : null;
}

/**
 * `cache-release-takes-vgpu-lock`: a GGTT write over entry `index` whose shadow write releases the
 * address the entry holds (`finishGgttWrite`: a DMA address, not let go of at the trap).
 */
function releaseWaitsForItself(state: XenGtState, config: XenGtConfig, index: number, releasedOld = false): boolean {
  if (!hasXenGtBug(config, 'cache-release-takes-vgpu-lock') || releasedOld) return false;
  return state.vgpu?.ggttHost[index]?.kind === 'dma';
}

/** A balloon of the backend's gfn that GPU accesses in flight were translated through (`host.ts`). */
function drainsGpu(state: XenGtState, config: XenGtConfig, command: { domid: number; gfn: number }): boolean {
  if (command.domid !== config.backendDomid || config.backend.addressing !== 'backend-iommu') return false;
  if (state.xen.domains[command.domid]?.p2m[command.gfn] === undefined) return false;
  return state.inflight.some((op) => drainedBy(op, command.gfn));
}

/**
 * The domains whose p2m a command reads or writes (and so whose p2m lock it takes): a balloon or
 * populate its domain's; a grant map the granter's (the frame) and the mapper's (the host
 * mapping); an unmap the mapper's; a foreign map both; the guest's GTT writes and the mediator's
 * work the guest's (the backend translates its gfns) and the backend's (its mappings); the vGPU's
 * lifecycle the backend's; a domain's destruction its own (it waits for the hypercall).
 */
function p2msOf(config: XenGtConfig, command: XenGtCommand): number[] {
  if (isGvtCommand(command)) return [config.guestDomid, config.backendDomid];
  switch (command.kind) {
    case 'decreaseReservation':
    case 'populatePhysmap':
    case 'unmapForeign':
    case 'destroyDomain':
    case 'createDomain':
      return [command.domid];
    case 'mapGrantRef':
      return [command.granterDomid, command.mapperDomid];
    case 'unmapGrantRef':
      return [command.mapperDomid];
    case 'mapForeign':
      return [command.domid, command.foreignDomid];
    case 'gttWrite':
      return [config.guestDomid, config.backendDomid];
    case 'vgpuDestroy':
    case 'vgpuCreate':
      return [config.backendDomid];
    case 'grantAccess':
    case 'endAccess':
    case 'gpuDma':
    case 'advance':
    case 'injectFault':
    case 'clearFault':
      return [];
  }
}

/**
 * Phase 1 of a Xen hypercall started in phases: a grant unmap's `unmap_common`, a balloon's p2m
 * removal, a grant map's pin. A refusal, or an unmap that releases nothing, is done at once.
 */
function startXenOp(
  state: XenGtState,
  config: XenGtConfig,
  command: Extract<XenGtCommand, { kind: 'unmapGrantRef' | 'decreaseReservation' | 'mapGrantRef' }>,
): XenGtStep {
  const next: XenGtState = { ...state, xen: shareXenState(state.xen) };
  const faults = faultsOf(next);
  if (command.kind === 'mapGrantRef') {
    const started = startMapGrantRef(
      next.xen,
      config.xen,
      command,
      reservedHandles(state.inflight, command.mapperDomid),
      faults,
    );
    if (started.pending !== undefined)
      next.inflight = [...state.inflight, { kind: 'mapGrantRef', pending: started.pending }];
    return finished(state, next, { result: started.result });
  }
  if (command.kind === 'unmapGrantRef') {
    const started = startUnmapGrantRef(next.xen, config.xen, command);
    if (started.pending !== undefined)
      next.inflight = [...state.inflight, { kind: 'unmapGrantRef', pending: started.pending }];
    return finished(state, next, { result: started.result });
  }
  const started = startDecreaseReservation(next.xen, config.xen, command, faults);
  if (started.pending !== undefined)
    next.inflight = [...state.inflight, { kind: 'decreaseReservation', pending: started.pending }];
  return finished(state, next, { result: started.result });
}

function takesVgpuLock(state: XenGtState, config: XenGtConfig, command: XenGtCommand): boolean {
  if (isGvtCommand(command)) return true;
  switch (command.kind) {
    case 'gttWrite':
    case 'vgpuDestroy':
    case 'vgpuCreate':
      return true;
    case 'destroyDomain':
      // The guest's destruction destroys its vGPU first (its device model goes away).
      return command.domid === config.guestDomid && state.vgpu !== null;
    case 'advance':
    case 'decreaseReservation':
    case 'populatePhysmap':
    case 'grantAccess':
    case 'endAccess':
    case 'mapGrantRef':
    case 'unmapGrantRef':
    case 'mapForeign':
    case 'unmapForeign':
    case 'gpuDma':
    case 'createDomain':
    case 'injectFault':
    case 'clearFault':
      return false;
  }
}

/** The MMIO access of a GTT write: the whole entry unless the command names a half. */
function ggttWriteArgs(command: Extract<XenGtCommand, { kind: 'gttWrite' }>): GgttWriteArgs {
  return {
    index: command.entry,
    gfn: command.gfn,
    present: command.present,
    sizeBytes: command.sizeBytes ?? 8,
    offsetBytes: command.offsetBytes ?? 0,
  };
}

/**
 * Phase 1 of a trapped GGTT write: the backend's translation, the write left in flight for its
 * shadow entry. A write the mediator refuses or ignores is done at once.
 */
function startGttWrite(
  state: XenGtState,
  config: XenGtConfig,
  command: Extract<XenGtCommand, { kind: 'gttWrite' }>,
): XenGtStep {
  const next: XenGtState = { xen: state.xen, ...cloneXenGtMediator(state) };
  let handOver: readonly XenBackendCall[] = [];
  const host = copyOnWriteHost(config, state.xen, 'last-reference', (calls) => {
    handOver = calls;
  });
  const started = startGgttWrite(next, host, config.gvt, ggttWriteArgs(command));
  if ('done' in started) return finished(state, next, { result: started.done });
  if (started.pending.partialUpdate && !started.pending.translate) {
    // The first half of a split write asks the backend for nothing: no window, the emulation
    // completes at once (as KVMGT's phased write does), so no state shows the half kept in the
    // partial-PTE list before the host entry went to scratch.
    return finished(state, next, { result: finishGgttWrite(next, host, config.gvt, started.pending) });
  }
  let pending = started.pending;
  if (hasXenGtBug(config, 'release-before-shadow')) {
    // The old host entry is let go of at the trap, while the entry still holds it.
    const old = next.vgpu?.ggttHost[pending.index];
    if (old !== undefined) releaseLeaf(next, host, old);
    pending = { ...pending, releasedOld: true };
  }
  const op: GgttWriteOp = { kind: 'gttWrite', vcpu: command.vcpu ?? 0, pending };
  next.inflight = [...next.inflight, handOver.length > 0 ? { ...op, handOver } : op];
  const mapped = pending.mapped;
  const detail = mapped === null ? {} : mapped.ok ? { dmaAddr: mapped.dmaAddr } : { mapError: mapped.errno };
  return finished(state, next, { result: succeed({ translated: pending.translate, ...detail }) });
}

/** The next phase of in-flight operation `op`: the shadow write of a GGTT write, the landing of a DMA. */
function advance(state: XenGtState, config: XenGtConfig, command: XenGtAdvance): XenGtStep {
  const op = state.inflight[command.op];
  if (op === undefined) return { state, result: { ...fail('ENOENT'), accesses: [] } };
  const rest = state.inflight.filter((_, index) => index !== command.op);
  if (op.kind === 'mapGrantRef') {
    // The host mapping takes the mapper's p2m lock, which a balloon in flight there holds.
    const mapper = op.pending.mapperDomid;
    const locked =
      op.pending.host &&
      state.inflight.some((other) => other.kind === 'decreaseReservation' && other.pending.domid === mapper);
    if (locked) {
      // The map's vCPU waits in its hypercall for the lock: it holds what it held between phases.
      const wait = { reason: p2mLock(mapper), resource: p2mLock(mapper) };
      return mustWait(state, wait, opHolds(config, op).holds);
    }
    const next: XenGtState = { ...state, xen: shareXenState(state.xen), inflight: rest };
    const mapped = finishMapGrantRef(next.xen, config.xen, op.pending, faultsOf(next));
    // The hypercall returns either way: a failure here has been unwound (`undo_out`), and its
    // status is the map's, not a refusal of the step.
    const result = mapped.ok ? mapped : succeed({ ...mapped.detail, unwound: String(mapped.error) });
    return finished(state, next, { result });
  }
  if (op.kind === 'destroyDomain') {
    // The toolstack's continuation of domain_kill: domain_relinquish_resources.
    const next: XenGtState = { ...state, xen: shareXenState(state.xen), inflight: rest };
    return finished(state, next, { result: finishDestroyDomain(next.xen, config.xen, op.pending) });
  }
  if (op.kind === 'unmapGrantRef' || op.kind === 'decreaseReservation') {
    const next: XenGtState = { ...state, xen: shareXenState(state.xen), inflight: rest };
    if (op.kind === 'unmapGrantRef') completeUnmapGrantRef(next.xen, config.xen, op.pending);
    else finishDecreaseReservation(next.xen, config.xen, op.pending);
    return finished(state, next, { result: succeed() });
  }
  if (op.kind === 'gpuDma') {
    const access = landGgttDma(state, xenGtHost(config), op.dma);
    const landed = ggttDmaStep(op.dma.entry, access);
    return { state: { ...state, inflight: rest }, result: { ...landed.result, accesses: landed.accesses } };
  }
  if (releaseWaitsForItself(state, config, op.pending.index, op.pending.releasedOld === true)) {
    return mustWait(state, { reason: VGPU_LOCK, resource: VGPU_LOCK }, opHolds(config, op).holds);
  }
  const next: XenGtState = { xen: state.xen, ...cloneXenGtMediator(state), inflight: rest };
  // The backend's calls kept for the hand-over run first; one Xen refuses fails the translation.
  const refused = op.handOver === undefined ? null : performHandOver(config, state.xen, next, op.handOver);
  const pending: GgttWritePending =
    refused === null ? op.pending : { ...op.pending, mapped: { ok: false, errno: refused } };
  const host = copyOnWriteHost(config, state.xen, 'last-reference');
  const written = finishGgttWrite(next, host, config.gvt, pending);
  // The phase ran: the write is over either way. It finds no vGPU only when the lock was not held
  // (`unlocked-translate`); the write is then abandoned, with what its first phase did left behind.
  const result = written.ok ? written : succeed({ abandoned: String(written.error) });
  return finished(state, next, { result });
}

/**
 * The step's new state with what it left alone handed back as `before`'s own objects: the vGPU's
 * unchanged tables, and `before` itself when the step changed nothing (a refusal, a write the
 * mediator ignores), so later comparisons stop at the first level.
 */
function settled(before: XenGtState, next: XenGtState): XenGtState {
  next.vgpu = reshareVgpu(before.vgpu, next.vgpu);
  const xenUnchanged = next.xen.memory === before.xen.memory && next.xen.domains === before.xen.domains;
  const unchanged =
    xenUnchanged &&
    next.vgpu === before.vgpu &&
    next.guestPages === before.guestPages &&
    next.writeProtected === before.writeProtected &&
    next.inflight === before.inflight &&
    next.fault === before.fault &&
    next.releasedGgtt === before.releasedGgtt;
  return unchanged ? before : next;
}

/** The services of a step: on its own Xen or a copy-on-write one, releasing for `reason`. */
type HostFor = (reason: ReleaseReason) => XenGtHost;

function apply(state: XenGtState, config: XenGtConfig, hostFor: HostFor, command: XenGtCommand): Applied {
  const host = hostFor('last-reference');
  if (isGvtCommand(command)) return applyGvtCommand(state, host, config.gvt, guestMemory(config), command);
  const xen = state.xen;
  const gvt = config.gvt;
  switch (command.kind) {
    case 'gttWrite':
      return { result: emulateGgttWrite(state, host, gvt, ggttWriteArgs(command)) };
    case 'gpuDma':
      return gpuDmaGgtt(state, host, gvt, command);
    case 'decreaseReservation':
      return { result: decreaseReservation(xen, config.xen, command, faultsOf(state)) };
    case 'populatePhysmap':
      return { result: populatePhysmap(xen, command, faultsOf(state)) };
    case 'grantAccess':
      return { result: grantAccess(xen, command) };
    case 'endAccess':
      return { result: endAccess(xen, config.xen, command) };
    case 'mapGrantRef':
      return {
        result: mapGrantRef(
          xen,
          config.xen,
          command,
          reservedHandles(state.inflight, command.mapperDomid),
          faultsOf(state),
        ),
      };
    case 'unmapGrantRef':
      return { result: unmapGrantRef(xen, config.xen, command) };
    case 'mapForeign':
      // The backend's private pool is not the toolstack's to use.
      if (command.domid === config.backendDomid && isPoolGfn(config, command.gfn)) return { result: fail('EBUSY') };
      return { result: addToPhysmapForeign(xen, command, faultsOf(state)) };
    case 'unmapForeign':
      if (command.domid === config.backendDomid && isPoolGfn(config, command.gfn)) return { result: fail('EBUSY') };
      return { result: removeForeignMapping(xen, config.xen, command) };
    case 'destroyDomain': {
      const teardown = destroyGuestOrDomain(state, config, hostFor('vgpu-destroy'), command.domid, command.phased);
      if (teardown.pending !== undefined)
        state.inflight = [...state.inflight, { kind: 'destroyDomain', pending: teardown.pending }];
      return { result: teardown.result };
    }
    case 'createDomain':
      return { result: createGuestOrDomain(state, config, command.domid) };
    case 'injectFault':
      return { result: injectFault(state, command) };
    case 'clearFault':
      return { result: clearFault(state) };
    case 'vgpuDestroy':
      return { result: destroyVgpu(state, config, hostFor('vgpu-destroy')) };
    case 'vgpuCreate':
      return { result: createVgpu(state, config) };
    case 'advance':
      // `stepXenGt` runs advances itself.
      return { result: fail('ENOENT') };
  }
}

/** The guest's memory as its stores reach it: its own RAM, write-protected by the ioreq server. */
function guestMemory(config: XenGtConfig): GuestMemory<XenGtState> {
  return {
    isGuestPage: (state, gfn) => guestRam(state, config, gfn) !== undefined,
    faultIn: () => true,
    writeProtected: (state) => state.writeProtected,
  };
}

/**
 * The toolstack creates a vGPU for the guest (`intel_gvt_create_vgpu`, its device model started
 * for the guest's current incarnation): its GGTT ranges reset to scratch (`intel_vgpu_init_gtt`),
 * or, with a lifecycle that skips the reset, holding what the hardware kept of the last vGPU's.
 */
function createVgpu(state: XenGtState, config: XenGtConfig): OpResult {
  if (state.vgpu !== null) return fail('EEXIST');
  if (runningDomain(state.xen, config.guestDomid) === undefined) return fail('ESRCH');
  state.vgpu = createdVgpu(config.gvt.layout, state.releasedGgtt, config.vgpuLifecycle?.createResetsGgtt !== false);
  state.releasedGgtt = null;
  return succeed();
}

/**
 * XEN_DOMCTL_createdomain and the population of its RAM (`models/xen/create.ts`). The guest created
 * again starts with fresh memory (Xen scrubs the pages it is given: its contents read as zeros)
 * and no ioreq-server claims; its vGPU is the toolstack's next `vgpuCreate`.
 */
function createGuestOrDomain(state: XenGtState, config: XenGtConfig, domid: number): OpResult {
  const created = createDomain(state.xen, config.xen, config.world, { domid }, faultsOf(state));
  if (created.ok && domid === config.guestDomid) {
    state.guestPages = {};
    state.writeProtected = [];
  }
  return created;
}

/**
 * The mediator's teardown: it waits for the vGPU to be idle (`intel_gvt_deactivate_vgpu` →
 * `intel_gvt_wait_vgpu_idle`), so every GPU access in flight lands first; then the backend is told
 * each address goes with the vGPU (`reason: 'vgpu-destroy'`).
 */
function destroyVgpu(state: XenGtState, config: XenGtConfig, teardown: XenGtHost): OpResult {
  if (state.vgpu === null) return fail('ENODEV');
  if (state.inflight.some((op) => op.kind === 'gpuDma')) {
    state.inflight = state.inflight.map((op): XenGtOp =>
      op.kind === 'gpuDma' && op.landed === undefined ? { ...op, landed: landGgttDma(state, teardown, op.dma) } : op,
    );
  }
  const vgpu = state.vgpu;
  teardownVgpu(state, teardown, config.gvt, { resetGgtt: config.vgpuLifecycle?.destroyResetsGgtt !== false });
  // The hardware's table outlives the vGPU (`releasedGgttOf`).
  state.releasedGgtt = releasedGgttOf(vgpu, config.gvt.layout);
  return succeed();
}

/**
 * Destroying the vGPU's guest takes the vGPU with it first (its device model goes away).
 * `phased`: `domain_kill`'s first call only, its continuation left pending.
 */
function destroyGuestOrDomain(
  state: XenGtState,
  config: XenGtConfig,
  teardown: XenGtHost,
  domid: number,
  phased: boolean | undefined,
): { readonly result: OpResult; readonly pending?: DomainTeardownInFlight } {
  const domain = runningDomain(state.xen, domid);
  if (domain !== undefined && !domain.privileged && domid === config.guestDomid && state.vgpu !== null) {
    destroyVgpu(state, config, teardown);
  }
  if (phased === true) return startDestroyDomain(state.xen, config.xen, domid);
  return { result: destroyDomain(state.xen, config.xen, domid) };
}
