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
 * Left out: 4-byte GGTT writes (the guest writes whole entries; the mediator's partial-write path
 * is exercised by the KVMGT stack), and guest stores into anything but its own RAM (a
 * grant-mapped gfn of the guest is another domain's page).
 */
import { applyGvtCommand, isGvtCommand } from '../gvt/commands.js';
import type { GuestMemory } from '../gvt/commands.js';
import { emulateGgttWrite } from '../gvt/ggtt.js';
import { gpuDmaGgtt } from '../gvt/gpu-commands.js';
import type { GpuAccess } from '../gvt/types.js';
import { cloneVgpu, newVgpu, reshareVgpu, teardownVgpu } from '../gvt/vgpu.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { destroyDomain } from '../xen/destroy.js';
import { endAccess, grantAccess, mapGrantRef, unmapGrantRef } from '../xen/grant-table.js';
import { addToPhysmapForeign, decreaseReservation, populatePhysmap, removeForeignMapping } from '../xen/memory-op.js';
import { shareXenState } from '../xen/copy-on-write.js';
import { createXenState, runningDomain } from '../xen/state.js';
import type { XenGtCommand } from './commands.js';
import type { XenGtConfig } from './config.js';
import { copyOnWriteHost, guestRam, isPoolGfn, xenGtHost } from './host.js';
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
  return { vgpu: cloneVgpu(state.vgpu), guestPages: state.guestPages, writeProtected: state.writeProtected };
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
  // A GPU access through the GTT only reads the state.
  if (command.kind === 'gpuDma') {
    const access = gpuDmaGgtt(state, xenGtHost(config), config.gvt, command);
    return { state, result: { ...access.result, accesses: access.accesses } };
  }
  // Unchanged parts stay the same objects, so invariants that read only them are not re-checked:
  // Xen's operations leave the mediator's part alone, and the mediator's commands change Xen only
  // through the backend's calls, which copy it when they first do.
  if (xenOnly.has(command.kind) || command.kind === 'destroyDomain') {
    const next: XenGtState = xenOnly.has(command.kind)
      ? { ...state, xen: shareXenState(state.xen) }
      : cloneXenGt(state);
    const applied = apply(next, config, (reason) => xenGtHost(config, reason), command);
    return { state: settled(state, next), result: { ...applied.result, accesses: applied.accesses ?? [] } };
  }
  const next: XenGtState = { xen: state.xen, ...cloneXenGtMediator(state) };
  const applied = apply(next, config, (reason) => copyOnWriteHost(config, state.xen, reason), command);
  return { state: settled(state, next), result: { ...applied.result, accesses: applied.accesses ?? [] } };
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
    next.writeProtected === before.writeProtected;
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
      return {
        result: emulateGgttWrite(state, host, gvt, {
          index: command.entry,
          gfn: command.gfn,
          present: command.present,
          sizeBytes: 8,
          offsetBytes: 0,
        }),
      };
    case 'gpuDma':
      return gpuDmaGgtt(state, host, gvt, command);
    case 'decreaseReservation':
      return { result: decreaseReservation(xen, config.xen, command) };
    case 'populatePhysmap':
      return { result: populatePhysmap(xen, command) };
    case 'grantAccess':
      return { result: grantAccess(xen, command) };
    case 'endAccess':
      return { result: endAccess(xen, config.xen, command) };
    case 'mapGrantRef':
      return { result: mapGrantRef(xen, config.xen, command) };
    case 'unmapGrantRef':
      return { result: unmapGrantRef(xen, config.xen, command) };
    case 'mapForeign':
      // The backend's private pool is not the toolstack's to use.
      if (command.domid === config.backendDomid && isPoolGfn(config, command.gfn)) return { result: fail('EBUSY') };
      return { result: addToPhysmapForeign(xen, command) };
    case 'unmapForeign':
      if (command.domid === config.backendDomid && isPoolGfn(config, command.gfn)) return { result: fail('EBUSY') };
      return { result: removeForeignMapping(xen, config.xen, command) };
    case 'destroyDomain':
      return { result: destroyGuestOrDomain(state, config, hostFor('vgpu-destroy'), command.domid) };
    case 'vgpuDestroy':
      return { result: destroyVgpu(state, config, hostFor('vgpu-destroy')) };
    case 'vgpuCreate':
      return { result: createVgpu(state, config) };
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

function createVgpu(state: XenGtState, config: XenGtConfig): OpResult {
  if (state.vgpu !== null) return fail('EEXIST');
  if (runningDomain(state.xen, config.guestDomid) === undefined) return fail('ESRCH');
  state.vgpu = newVgpu(config.gvt.layout);
  return succeed();
}

/** The mediator's teardown: the backend is told each address goes with the vGPU (`reason: 'vgpu-destroy'`). */
function destroyVgpu(state: XenGtState, config: XenGtConfig, teardown: XenGtHost): OpResult {
  if (state.vgpu === null) return fail('ENODEV');
  teardownVgpu(state, teardown, config.gvt);
  return succeed();
}

/** Destroying the vGPU's guest takes the vGPU with it first (its device model goes away). */
function destroyGuestOrDomain(state: XenGtState, config: XenGtConfig, teardown: XenGtHost, domid: number): OpResult {
  const domain = runningDomain(state.xen, domid);
  if (domain !== undefined && !domain.privileged && domid === config.guestDomid && state.vgpu !== null) {
    destroyVgpu(state, config, teardown);
  }
  return destroyDomain(state.xen, config.xen, domid);
}
