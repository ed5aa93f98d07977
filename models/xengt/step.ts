/**
 * The XenGT stack's step function: a pure map from (state, command) to (new state, result).
 * The state passed in is never modified: the step works on its own copy.
 */
import { fail } from '../result.js';
import type { OpResult } from '../result.js';
import { destroyDomain } from '../xen/destroy.js';
import { endAccess, grantAccess, mapGrantRef, unmapGrantRef } from '../xen/grant-table.js';
import { addToPhysmapForeign, decreaseReservation, populatePhysmap, removeForeignMapping } from '../xen/memory-op.js';
import { cloneXenState, createXenState, runningDomain } from '../xen/state.js';
import { createVgpu, createVgpuFor, destroyVgpu, gpuDma, gttWrite } from './backend.js';
import type { XenGtCommand } from './commands.js';
import type { XenGtConfig } from './config.js';
import type { Vgpu, XenGtState } from './types.js';

export interface XenGtStep {
  readonly state: XenGtState;
  readonly result: OpResult;
}

export function initXenGt(config: XenGtConfig): XenGtState {
  return { xen: createXenState(config.world), vgpu: createVgpu(config) };
}

function cloneVgpu(vgpu: Vgpu | null): Vgpu | null {
  if (vgpu === null) return null;
  return { domid: vgpu.domid, gtt: [...vgpu.gtt], shadow: [...vgpu.shadow] };
}

export function cloneXenGt(state: XenGtState): XenGtState {
  return { xen: cloneXenState(state.xen), vgpu: cloneVgpu(state.vgpu) };
}

export function stepXenGt(state: XenGtState, config: XenGtConfig, command: XenGtCommand): XenGtStep {
  const next = cloneXenGt(state);
  const result = apply(next, config, command);
  return { state: next, result };
}

function apply(state: XenGtState, config: XenGtConfig, command: XenGtCommand): OpResult {
  const xen = state.xen;
  switch (command.kind) {
    case 'gttWrite':
      return gttWrite(state, config, command);
    case 'gpuDma':
      return gpuDma(state, config, command);
    case 'decreaseReservation':
      return decreaseReservation(xen, config.xen, command);
    case 'populatePhysmap':
      return populatePhysmap(xen, command);
    case 'grantAccess':
      return grantAccess(xen, command);
    case 'endAccess':
      return endAccess(xen, config.xen, command);
    case 'mapGrantRef':
      return mapGrantRef(xen, config.xen, command);
    case 'unmapGrantRef':
      return unmapGrantRef(xen, config.xen, command);
    case 'mapForeign':
      // The backend's private pool is not the toolstack's to use.
      if (isPoolGfn(config, command.domid, command.gfn)) return fail('EBUSY');
      return addToPhysmapForeign(xen, command);
    case 'unmapForeign':
      if (isPoolGfn(config, command.domid, command.gfn)) return fail('EBUSY');
      return removeForeignMapping(xen, config.xen, command);
    case 'destroyDomain':
      return destroyGuestOrDomain(state, config, command.domid);
    case 'vgpuDestroy':
      return destroyVgpu(state, config);
    case 'vgpuCreate':
      return createVgpuFor(state, config);
  }
}

function isPoolGfn(config: XenGtConfig, domid: number, gfn: number): boolean {
  return (
    domid === config.backendDomid &&
    gfn >= config.mappingPoolBaseGfn &&
    gfn < config.mappingPoolBaseGfn + config.mappingPoolSize
  );
}

/** Destroying the vGPU's guest takes the vGPU with it first (its device model goes away). */
function destroyGuestOrDomain(state: XenGtState, config: XenGtConfig, domid: number): OpResult {
  const domain = runningDomain(state.xen, domid);
  if (domain === undefined || domain.privileged) return destroyDomain(state.xen, config.xen, domid);
  if (state.vgpu !== null && state.vgpu.domid === domid) destroyVgpu(state, config);
  return destroyDomain(state.xen, config.xen, domid);
}
