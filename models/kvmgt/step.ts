/**
 * The KVMGT stack's step function: a pure map from (state, command) to (new state, result). The
 * step works on its own copy; a refused command hands back the state it was given. After a kernel
 * BUG_ON (the vGPU ignored a dma_unmap) the host is down and every command is refused. A command
 * that would block (`schedule.ts`: a busy vCPU or GPU, the vGPU lock) is refused with EBUSY and
 * changes nothing; the mediator's commands and the phases of operations in flight are
 * `mediator-step.ts`.
 */
import { share } from '../copy-on-write.js';
import { isGvtCommand } from '../gvt/commands.js';
import { gpuDmaGgtt } from '../gvt/gpu-commands.js';
import { cloneVgpu, createdVgpu } from '../gvt/vgpu.js';
import { fail, succeed } from '../result.js';
import { closeDevice, openDevice } from '../vfio/container.js';
import { mapDma, mapDmaArgs } from '../vfio/map-dma.js';
import { allocateToOther, releaseFromOther } from '../vfio/other-owner.js';
import { mmapRegion, munmapRegion } from '../vfio/process-memory.js';
import { draftOf, finishDraft } from '../vfio/state.js';
import { PAGE_LIMIT, isPageNumber } from '../vfio/u64.js';
import { unmapAllArgs, unmapDma, unmapDmaArgs } from '../vfio/unmap-dma.js';
import type { KvmgtConfig } from './config.js';
import { OTHER_OWNER, RAM_VADDR_PAGE, VGPU_DEVICE } from './config.js';
import { clearFault, faultStruck, injectFault, undoStepPinFaults } from './fault.js';
import { kvmgtHost, vfioConfigFor } from './host.js';
import type { UnmapWait } from './host.js';
import { advanceOp, applyGgttWrite, applyMediator } from './mediator-step.js';
import type { Applied } from './mediator-step.js';
import { waitResource, waitsFor } from './schedule.js';
import type { KvmgtCommand, KvmgtResult, KvmgtState } from './types.js';

export interface KvmgtStep {
  readonly state: KvmgtState;
  readonly result: KvmgtResult;
}

/** A command that must wait: refused EBUSY, the state unchanged, what it waits for in `blocked`. */
function busy(state: KvmgtState, waiting: string): KvmgtStep {
  const blocked = { waitsFor: waitResource(state, waiting), holds: [] };
  return { state, result: { ...fail('EBUSY', { waitsFor: waiting }), blocked, accesses: [] } };
}

export function stepKvmgt(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): KvmgtStep {
  if (state.vfio.crash !== null) return { state, result: { ...fail('BUG_ON'), accesses: [] } };
  // A destroyed VM has no VMM, no guest and no vGPU left to act.
  if (state.vmDestroyed) return { state, result: { ...fail('ESRCH'), accesses: [] } };
  const waiting = waitsFor(state, config, command);
  if (waiting !== null) return busy(state, waiting);
  const next: KvmgtState = {
    vfio: draftOf(state.vfio),
    vgpu: cloneVgpu(state.vgpu),
    // Shared: the mediator replaces them rather than editing them in place.
    guestPages: state.guestPages,
    // The map is copied on its first write (`host.ts`).
    hostDma: { map: share(state.hostDma.map), free: [...state.hostDma.free] },
    writeProtected: state.writeProtected,
    vmDestroyed: state.vmDestroyed,
    // Operations are values: a phase replaces its operation in a new list.
    inflight: state.inflight,
    fault: state.fault,
    // Replaced, never edited in place.
    releasedGgtt: state.releasedGgtt,
  };
  const applied = apply(next, config, command);
  if (!applied.result.ok && faultStruck(next)) undoStepPinFaults(next);
  finishDraft(next.vfio);
  if (applied.blocked !== undefined) return busy(state, applied.blocked);
  const result: KvmgtResult = { ...applied.result, accesses: applied.accesses ?? [] };
  // A refusal changed nothing, except the BUG_ON that takes the host down — and a failure an
  // injected fault caused, which keeps what its unwind left (`fault.ts`): the atomicity invariant
  // judges the unwind itself.
  if (!result.ok && next.vfio.crash === null && !faultStruck(next)) return { state, result };
  return { state: next, result };
}

function apply(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): Applied {
  const gvt = config.gvt;
  if (command.kind === 'advance') return advanceOp(state, config, command.op);
  if (isGvtCommand(command)) return applyMediator(state, config, command);
  // The VMM's requests over guest RAM (the only commands with a page count).
  if ('npages' in command && !isRamRange(command)) return { result: fail('EINVAL') };
  switch (command.kind) {
    case 'ggttWrite':
      return applyGgttWrite(state, config, command);
    case 'vmmUnmapRam': {
      // The vGPU's op may wait for the vGPU lock (`unmapLock: 'vgpu'`): then UNMAP_DMA blocks.
      const wait: UnmapWait = { waitsFor: null };
      const result = unmapDma(
        state.vfio,
        vfioConfigFor(state, config, wait),
        unmapDmaArgs({ iovaPage: command.gfn, npages: command.npages }),
      );
      return wait.waitsFor === null ? { result } : { result, blocked: wait.waitsFor };
    }
    case 'vmmMapRam':
      return {
        result: mapDma(
          state.vfio,
          vfioConfigFor(state, config),
          mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + command.gfn, iovaPage: command.gfn, npages: command.npages }),
        ),
      };
    case 'vmmUnplugRam':
      return unplugRam(state, config, command);
    case 'vmmPlugRam':
      return {
        result: mmapRegion(state.vfio, config.vfio, {
          vaddrPage: RAM_VADDR_PAGE + command.gfn,
          npages: command.npages,
          writable: true,
        }),
      };
    case 'otherVmAllocate':
      return { result: allocateToOther(state.vfio, config.vfio, { owner: OTHER_OWNER }) };
    case 'otherVmRelease':
      return { result: releaseFromOther(state.vfio, config.vfio, command) };
    case 'vgpuCreate':
      return createVgpu(state, config);
    case 'vgpuDestroy':
      if (state.vgpu === null) return { result: fail('ENODEV') };
      return { result: closeDevice(state.vfio, vfioConfigFor(state, config), { deviceId: VGPU_DEVICE }) };
    case 'vmDestroy':
      return destroyVm(state, config);
    case 'injectFault':
      return { result: injectFault(state, command) };
    case 'clearFault':
      return { result: clearFault(state) };
    case 'gpuDma':
      return gpuDmaGgtt(state, kvmgtHost(config), gvt, command);
  }
}

/**
 * A VMM request over guest RAM names GPA pages `[gfn, gfn + npages)`, the IOVA and vaddr range it
 * becomes: pages of a 64-bit address space. Anything else cannot be put in the ioctl or the
 * syscall the VMM makes (EINVAL); what can, the VFIO model answers.
 */
function isRamRange(range: { readonly gfn: number; readonly npages: number }): boolean {
  return isPageNumber(range.gfn) && Number.isInteger(range.npages) && range.npages >= 0 && range.npages <= PAGE_LIMIT;
}

/**
 * munmap of the RAM's vaddrs: frames a pin holds stay, the rest are freed, and neither the guest
 * nor the mediator can reach the range until it is plugged in again. The model keeps the range's
 * contents (`guestPages`) for when it is: a real fresh mapping reads zeros, which would only make
 * the guest's tables disagree with shadows built before the unplug — the guest's own doing.
 */
function unplugRam(
  state: KvmgtState,
  config: KvmgtConfig,
  args: { readonly gfn: number; readonly npages: number },
): Applied {
  return {
    result: munmapRegion(state.vfio, config.vfio, { vaddrPage: RAM_VADDR_PAGE + args.gfn, npages: args.npages }),
  };
}

function createVgpu(state: KvmgtState, config: KvmgtConfig): Applied {
  if (state.vgpu !== null) return { result: fail('EEXIST') };
  const opened = openDevice(state.vfio, config.vfio, { deviceId: VGPU_DEVICE });
  if (!opened.ok) return { result: opened };
  // intel_gvt_create_vgpu → intel_vgpu_init_gtt → intel_vgpu_reset_ggtt(vgpu, false) points the
  // (possibly reused) ranges at scratch; a design that skips it inherits what the hardware holds.
  state.vgpu = createdVgpu(config.world.layout, state.releasedGgtt, config.lifecycle?.createResetsGgtt !== false);
  state.releasedGgtt = null;
  return { result: succeed() };
}

/**
 * VM destruction as the VMM's exit performs it: the vGPU's fd is closed (close then destroy), the
 * container drops every mapping (UNMAP_DMA of everything), and guest RAM is unmapped. Frames
 * nothing else holds go back to the allocator.
 */
function destroyVm(state: KvmgtState, config: KvmgtConfig): Applied {
  const vfioConfig = vfioConfigFor(state, config);
  if (state.vgpu !== null) {
    const closed = closeDevice(state.vfio, vfioConfig, { deviceId: VGPU_DEVICE });
    if (!closed.ok) return { result: closed };
  }
  const unmapped = unmapDma(state.vfio, vfioConfig, unmapAllArgs());
  if (!unmapped.ok) return { result: unmapped };
  const released = munmapRegion(state.vfio, config.vfio, { vaddrPage: RAM_VADDR_PAGE, npages: config.world.ramPages });
  if (!released.ok) return { result: released };
  state.guestPages = {};
  state.vmDestroyed = true;
  return { result: succeed() };
}
