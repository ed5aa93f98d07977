/**
 * The mediator's commands on KVMGT, and the phases of its operations in flight (issue
 * "Interleavings"; `models/gvt/inflight.ts` says where each splits, after Linux v6.12). A guest
 * store, a GGTT write (`models/gvt/ggtt-phased.ts`), a PPGTT's creation, a batch submission and a
 * GPU access through the PPGTT started with `phased: true` run their first phase and stay in
 * flight on the vCPU (or the GPU) that runs them; `advance` runs the next phase of one of them. Without the flag they run every phase at
 * once, as they always did. `schedule.ts` says who runs what and what waits for the vGPU lock.
 */
import { applyGvtCommand, isWellFormed, storeOf } from '../gvt/commands.js';
import { finishSubmit, startSubmit } from '../gvt/cmd.js';
import { emulateGgttWrite } from '../gvt/ggtt.js';
import { advanceGgttWrite, startGgttWritePhased } from '../gvt/ggtt-phased.js';
import { landPpgttDma, startPpgttDma } from '../gvt/gpu-dma.js';
import { advanceStore, startGuestStore, storeOp } from '../gvt/guest-store.js';
import type { GuestMemory, HandlerOptions } from '../gvt/guest-store.js';
import type { GvtOp, StoreOp } from '../gvt/inflight.js';
import { advancePpgttCreate, startPpgttCreate } from '../gvt/ppgtt-mm.js';
import type { GpuAccess } from '../gvt/types.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { touchPage } from '../vfio/process-memory.js';
import type { KvmgtConfig } from './config.js';
import { RAM_VADDR_PAGE, hasKvmgtBug, isGuestRam } from './config.js';
import { kvmgtHost } from './host.js';
import { idleVcpu, lockHolder, phaseWaits } from './schedule.js';
import type { KvmgtCommand, KvmgtGvtCommand, KvmgtState } from './types.js';

/** What a step did: its answer, the GPU's accesses, or the lock it would block on (then nothing changed). */
export interface Applied {
  readonly result: OpResult;
  readonly accesses?: readonly GpuAccess[];
  readonly blocked?: string;
}

/** The VM's memory as its stores reach it: its RAM, faulted in through the VMM's vaddrs, tracked by KVM. */
export function guestMemory(config: KvmgtConfig): GuestMemory<KvmgtState> {
  return {
    isGuestPage: (_state, gfn) => isGuestRam(config.world, gfn),
    faultIn: (state, gfn) => touchPage(state.vfio, config.vfio, { vaddrPage: RAM_VADDR_PAGE + gfn, write: true }).ok,
    writeProtected: (state) => state.writeProtected,
  };
}

/** How this design's handler runs: its map's insert deferred (an op without `cache_lock`), the trapped value shadowed. */
function handlerOptions(config: KvmgtConfig): HandlerOptions {
  return { defer: config.unmapLock === 'none', trappedValue: hasKvmgtBug(config, 'handler-shadows-trapped-value') };
}

/**
 * One of the mediator's commands. A store that traps while another operation holds the vGPU lock
 * cannot run its handler at once: it blocks (its started form lands and waits in flight).
 */
export function applyMediator(state: KvmgtState, config: KvmgtConfig, command: KvmgtGvtCommand): Applied {
  if (!isWellFormed(command)) return { result: fail('EINVAL') };
  const host = kvmgtHost(config);
  const gvt = config.gvt;
  const vcpu = idleVcpu(state, config) ?? 0;
  const phased = 'phased' in command && command.phased === true;
  const lockFree = lockHolder(state, config) === undefined;
  const defer = config.unmapLock === 'none';
  const start = (op: GvtOp): void => {
    state.inflight = [...state.inflight, op];
  };
  switch (command.kind) {
    case 'guestWritePte':
    case 'guestWriteCmd': {
      const store = storeOf(command);
      const started = startGuestStore(state, gvt, guestMemory(config), store);
      if (!started.trapped) return { result: started.result };
      const op = storeOp(store, vcpu);
      if (phased) {
        start(op);
        return { result: started.result };
      }
      const waiting = phaseWaits(state, config, op);
      if (waiting !== null) return { result: started.result, blocked: waiting };
      return { result: finishStore(state, config, op) };
    }
    case 'ppgttCreate': {
      if (!phased) break;
      const started = startPpgttCreate(state, host, gvt, command.rootGfn, defer, command.pse === true);
      if (started.op !== null) start({ ...started.op, vcpu });
      return { result: started.result };
    }
    case 'submitBatch': {
      if (!phased) break;
      const started = startSubmit(state, host, gvt, command, config.shadowOrder);
      if (started.op !== null) start({ ...started.op, vcpu });
      return { result: started.result };
    }
    case 'gpuDmaPpgtt': {
      const started = startPpgttDma(state, host, gvt, command, lockFree);
      if (started.op === null) return started.step;
      if (phased) {
        start(started.op);
        return started.step;
      }
      return landPpgttDma(state, host, started.op);
    }
    case 'ppgttDestroy':
    case 'gpuExecute':
      break;
  }
  return applyGvtCommand(state, host, gvt, guestMemory(config), command);
}

/** Every remaining phase of a trapped store, at once (the map inserting as it goes): what its command reports. */
function finishStore(state: KvmgtState, config: KvmgtConfig, first: StoreOp): OpResult {
  let op: StoreOp | null = first;
  let error: string | null = null;
  const options = { ...handlerOptions(config), defer: false };
  while (op !== null) {
    const advanced: { readonly next: StoreOp | null; readonly error: string | null } = advanceStore(
      state,
      kvmgtHost(config),
      config.gvt,
      guestMemory(config),
      op,
      options,
    );
    op = advanced.next;
    error = advanced.error ?? error;
  }
  return succeed({ trapped: true, ...(error !== null ? { handlerError: error } : {}) });
}

/** The next phase of the operation in flight at `index` (ENOENT when there is none). */
export function advanceOp(state: KvmgtState, config: KvmgtConfig, index: number): Applied {
  const op = state.inflight[index];
  if (op === undefined) return { result: fail('ENOENT') };
  const waiting = phaseWaits(state, config, op);
  if (waiting !== null) return { result: fail('EBUSY'), blocked: waiting };
  const host = kvmgtHost(config);
  const gvt = config.gvt;
  const settle = (next: GvtOp | null): void => {
    state.inflight = state.inflight.flatMap((other, at) => (at !== index ? [other] : next === null ? [] : [next]));
  };
  switch (op.kind) {
    case 'guestWritePte':
    case 'guestWriteCmd': {
      const { next, error } = advanceStore(state, host, gvt, guestMemory(config), op, handlerOptions(config));
      settle(next);
      return { result: succeed({ phase: op.phase, ...(error !== null ? { handlerError: error } : {}) }) };
    }
    case 'ppgttCreate':
      settle(advancePpgttCreate(state, host, gvt, op));
      return { result: succeed({ phase: op.phase }) };
    case 'submitBatch':
      settle(null);
      return { result: finishSubmit(state, host, gvt, op) };
    case 'gpuDmaPpgtt':
      settle(null);
      return landPpgttDma(state, host, op);
    case 'ggttWrite': {
      const { next, result } = advanceGgttWrite(state, host, gvt, op);
      settle(next);
      return { result };
    }
  }
}

/**
 * A GGTT write through the trapped MMIO range: at once (`emulateGgttWrite`, as always), or
 * started (`phased`): its translation made and the op left in flight on the vCPU, holding the
 * vGPU lock until its entries are written.
 */
export function applyGgttWrite(
  state: KvmgtState,
  config: KvmgtConfig,
  command: Extract<KvmgtCommand, { readonly kind: 'ggttWrite' }>,
): Applied {
  const host = kvmgtHost(config);
  if (command.phased !== true) return { result: emulateGgttWrite(state, host, config.gvt, command) };
  const vcpu = idleVcpu(state, config) ?? 0;
  const started = startGgttWritePhased(state, host, config.gvt, command, config.unmapLock === 'none');
  if (started.op !== null) state.inflight = [...state.inflight, { ...started.op, vcpu }];
  return { result: started.result };
}
