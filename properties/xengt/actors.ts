/**
 * Who runs each XenGT step, in the real system's words, and the operations in flight as reports
 * show them: the guest's vCPUs (each trapped GGTT write is its vCPU's), the domains issuing
 * hypercalls, the backend (dom0's mediator, which finishes a trapped write once its translation is
 * done), the GPU, and the toolstack (domain and vGPU lifecycle).
 */
import { isGvtCommand } from '../../models/gvt/commands.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import { nextPhase, opHolds } from '../../models/xengt/inflight.js';
import type { XenGtOp } from '../../models/xengt/inflight.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { InFlight } from '../../src/design.js';
import type { Holding } from '../../src/waits.js';

/** A domain by its role: `backend (dom0)`, `guest (dom1)`, or `dom2`. */
export function domainActor(config: XenGtConfig, domid: number): string {
  if (domid === config.backendDomid) return `backend (dom${domid})`;
  if (domid === config.guestDomid) return `guest (dom${domid})`;
  return `dom${domid}`;
}

/** Who runs the next phase of an operation in flight. */
function opActor(config: XenGtConfig, op: XenGtOp): string {
  switch (op.kind) {
    case 'gttWrite':
      // A trapped write is emulated by the backend's mediator; its vCPU waits on the ioreq.
      return domainActor(config, config.backendDomid);
    case 'gpuDma':
      return 'GPU';
    case 'unmapGrantRef':
    case 'mapGrantRef':
      // The mapper's vCPU, still in its hypercall.
      return domainActor(config, op.pending.mapperDomid);
    case 'decreaseReservation':
      return domainActor(config, op.pending.domid);
    case 'destroyDomain':
      // domain_kill's continuation: the toolstack's domctl.
      return 'toolstack';
  }
}

export function xenGtActorOf(config: XenGtConfig, state: XenGtState, command: XenGtCommand): string {
  if (isGvtCommand(command)) {
    return command.kind === 'gpuExecute' || command.kind === 'gpuDmaPpgtt'
      ? 'GPU'
      : domainActor(config, config.guestDomid);
  }
  switch (command.kind) {
    case 'advance': {
      const op = state.inflight[command.op];
      return op === undefined ? 'nothing in flight' : opActor(config, op);
    }
    case 'gttWrite':
      return `guest vCPU${command.vcpu ?? 0}`;
    case 'gpuDma':
      return 'GPU';
    case 'decreaseReservation':
    case 'populatePhysmap':
    case 'grantAccess':
    case 'endAccess':
    case 'mapForeign':
    case 'unmapForeign':
      return domainActor(config, command.domid);
    case 'mapGrantRef':
    case 'unmapGrantRef':
      return domainActor(config, command.mapperDomid);
    case 'destroyDomain':
    case 'createDomain':
    case 'vgpuDestroy':
    case 'vgpuCreate':
      return 'toolstack';
    case 'injectFault':
    case 'clearFault':
      return 'test harness';
  }
}

export function xenGtInflight(config: XenGtConfig, state: XenGtState): InFlight[] {
  return state.inflight.map((op) => ({ actor: opActor(config, op), kind: op.kind, phase: nextPhase(op) }));
}

/**
 * What each operation in flight holds and what its next phase takes (`Design.holdings`,
 * `models/xengt/inflight.ts` `opHolds`): with a refusal's `blocked`, how `no-operation-waits-forever`
 * tells a wait that ends from one that never does.
 */
export function xenGtHoldings(config: XenGtConfig, state: XenGtState): Holding[] {
  return state.inflight.map((op) => ({ actor: opActor(config, op), kind: op.kind, ...opHolds(config, op) }));
}
