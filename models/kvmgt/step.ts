/**
 * The KVMGT stack's step function: a pure map from (state, command) to (new state, result). The
 * step works on its own copy; a refused command hands back the state it was given. After a kernel
 * BUG_ON (the vGPU ignored a dma_unmap) the host is down and every command is refused.
 */
import { executeWorkload, submitBatch } from '../gvt/cmd.js';
import { ownsGgttIndex } from '../gvt/config.js';
import { emulateGgttWrite } from '../gvt/ggtt.js';
import { accessDetail, accessThrough, ggttEntryForGpu, ppgttLeaf } from '../gvt/gpu.js';
import { createPpgtt, destroyPpgtt, flushPostShadow } from '../gvt/ppgtt.js';
import type { GpuAccess, GuestQword } from '../gvt/types.js';
import { cloneVgpu, newVgpu, storeGuestQword, trackedWrite } from '../gvt/vgpu.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { closeDevice, openDevice } from '../vfio/container.js';
import { mapDma, mapDmaArgs } from '../vfio/map-dma.js';
import { allocateToOther, releaseFromOther } from '../vfio/other-owner.js';
import { mmapRegion, munmapRegion, touchPage } from '../vfio/process-memory.js';
import { draftOf, finishDraft } from '../vfio/state.js';
import { unmapAllArgs, unmapDma, unmapDmaArgs } from '../vfio/unmap-dma.js';
import type { KvmgtConfig } from './config.js';
import { OTHER_OWNER, RAM_PAGES, RAM_VADDR_PAGE, VGPU_DEVICE, isGuestRam, kvmgtLayout } from './config.js';
import { kvmgtHost, vfioConfigFor } from './host.js';
import type { KvmgtCommand, KvmgtResult, KvmgtState } from './types.js';

export interface KvmgtStep {
  readonly state: KvmgtState;
  readonly result: KvmgtResult;
}

interface Applied {
  readonly result: OpResult;
  readonly accesses?: readonly GpuAccess[];
}

export function stepKvmgt(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): KvmgtStep {
  if (state.vfio.crash !== null) return { state, result: { ...fail('BUG_ON'), accesses: [] } };
  // A destroyed VM has no VMM, no guest and no vGPU left to act.
  if (state.vmDestroyed) return { state, result: { ...fail('ESRCH'), accesses: [] } };
  const next: KvmgtState = {
    vfio: draftOf(state.vfio),
    vgpu: cloneVgpu(state.vgpu),
    guestPages: { ...state.guestPages },
    hostDma: { map: { ...state.hostDma.map }, free: [...state.hostDma.free] },
    writeProtected: [...state.writeProtected],
    vmDestroyed: state.vmDestroyed,
  };
  const applied = apply(next, config, command);
  finishDraft(next.vfio);
  const result: KvmgtResult = { ...applied.result, accesses: applied.accesses ?? [] };
  // A refusal changed nothing, except the BUG_ON that takes the host down.
  if (!result.ok && next.vfio.crash === null) return { state, result };
  return { state: next, result };
}

function apply(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): Applied {
  const gvt = config.gvt;
  switch (command.kind) {
    case 'ggttWrite':
      return { result: emulateGgttWrite(state, kvmgtHost(config), gvt, command) };
    case 'guestWritePte':
      return guestStore(state, config, command, command.sizeBytes, {
        kind: 'pte',
        present: command.present,
        gfn: command.targetGfn,
      });
    case 'guestWriteCmd':
      return guestStore(state, config, command, 8, { kind: 'cmd', op: command.op, ggttIndex: command.ggttIndex });
    case 'ppgttCreate':
      return { result: createPpgtt(state, kvmgtHost(config), gvt, command.rootGfn) };
    case 'ppgttDestroy':
      return { result: destroyPpgtt(state, kvmgtHost(config), gvt, command.rootGfn) };
    case 'submitBatch':
      return { result: submitBatch(state, kvmgtHost(config), gvt, command) };
    case 'vmmUnmapRam':
      return {
        result: unmapDma(
          state.vfio,
          vfioConfigFor(state, config),
          unmapDmaArgs({ iovaPage: command.gfn, npages: command.npages }),
        ),
      };
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
    case 'gpuExecute':
      return gpuExecute(state, config);
    case 'gpuDma':
      return gpuDmaGgtt(state, config, command);
    case 'gpuDmaPpgtt':
      return gpuDmaPpgtt(state, config, command);
  }
}

/**
 * A guest CPU store into its own memory: the page is faulted in, the bytes land, and if KVM
 * write-tracks the page the notifier runs afterwards. Stores narrower than 4 bytes are left out.
 */
function guestStore(
  state: KvmgtState,
  config: KvmgtConfig,
  target: { readonly gfn: number; readonly index: number },
  sizeBytes: number,
  qword: GuestQword,
): Applied {
  if (!isGuestRam(target.gfn)) return { result: fail('EFAULT') };
  if (!Number.isInteger(target.index) || target.index < 0 || target.index >= kvmgtLayout.entriesPerTable) {
    return { result: fail('EINVAL') };
  }
  if (sizeBytes !== 4 && sizeBytes !== 8) return { result: fail('EINVAL') };
  const touched = touchPage(state.vfio, config.vfio, { vaddrPage: RAM_VADDR_PAGE + target.gfn, write: true });
  if (!touched.ok) return { result: fail('EFAULT') };
  storeGuestQword(state, kvmgtLayout, { gfn: target.gfn, index: target.index, qword });
  if (!state.writeProtected.includes(target.gfn)) return { result: succeed({ trapped: false }) };
  const handlerError = trackedWrite(state, kvmgtHost(config), config.gvt, {
    gfn: target.gfn,
    index: target.index,
    sizeBytes,
  });
  return { result: succeed({ trapped: true, ...(handlerError !== null ? { handlerError } : {}) }) };
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
  state.vgpu = newVgpu(kvmgtLayout);
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
  const released = munmapRegion(state.vfio, config.vfio, { vaddrPage: RAM_VADDR_PAGE, npages: RAM_PAGES });
  if (!released.ok) return { result: released };
  state.guestPages = {};
  state.vmDestroyed = true;
  return { result: succeed() };
}

/** The GPU runs for the vGPU only while it is not in failsafe mode. */
function runnable(state: KvmgtState): OpResult | null {
  if (state.vgpu === null) return fail('ENODEV');
  if (state.vgpu.failsafe) return fail('EIO');
  return null;
}

function gpuExecute(state: KvmgtState, config: KvmgtConfig): Applied {
  const refused = runnable(state);
  if (refused !== null) return { result: refused };
  return executeWorkload(state, kvmgtHost(config), config.gvt, kvmgtHost(config));
}

function gpuDmaGgtt(
  state: KvmgtState,
  config: KvmgtConfig,
  args: { readonly entry: number; readonly write: boolean },
): Applied {
  const refused = runnable(state);
  if (refused !== null) return { result: refused };
  // A graphics address outside the vGPU's ranges never reaches the bus: the scanner refuses it.
  if (!ownsGgttIndex(config.gvt.layout, args.entry)) return { result: fail('EFAULT') };
  const pte = ggttEntryForGpu(state, config.gvt, kvmgtHost(config), args.entry);
  const access = accessThrough(state, kvmgtHost(config), pte, `ggtt ${args.entry}`, args.write);
  return { result: succeed(accessDetail(access)), accesses: [access] };
}

function gpuDmaPpgtt(
  state: KvmgtState,
  config: KvmgtConfig,
  args: { readonly rootGfn: number; readonly pdIndex: number; readonly ptIndex: number; readonly write: boolean },
): Applied {
  const refused = runnable(state);
  if (refused !== null) return { result: refused };
  const entries = config.gvt.layout.entriesPerTable;
  const validIndex = (index: number): boolean => Number.isInteger(index) && index >= 0 && index < entries;
  if (
    !state.vgpu?.mms.some((mm) => mm.rootGfn === args.rootGfn) ||
    !validIndex(args.pdIndex) ||
    !validIndex(args.ptIndex)
  ) {
    return { result: fail('EINVAL') };
  }
  // The workload is dispatched: partially written entries are shadowed first.
  flushPostShadow(state, kvmgtHost(config), config.gvt);
  const pte = ppgttLeaf(state, args.rootGfn, args.pdIndex, args.ptIndex);
  const access = accessThrough(
    state,
    kvmgtHost(config),
    pte,
    `ppgtt ${args.rootGfn} [${args.pdIndex}][${args.ptIndex}]`,
    args.write,
  );
  return { result: succeed(accessDetail(access)), accesses: [access] };
}
