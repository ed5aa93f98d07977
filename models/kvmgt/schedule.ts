/**
 * Who runs each KVMGT command, and what it waits for (issue "Interleavings"). The actors: the
 * guest's vCPUs (its stores, its trapped MMIO writes to the GTT range, PVINFO and the execlist
 * port), the VMM's thread (its memory and VFIO ioctls), the GPU, another VM and the toolstack.
 *
 * - A guest command runs on the first idle vCPU; a vCPU emulating a trapped store, or stuck in an
 *   MMIO exit whose emulation is in flight, runs nothing else (EBUSY when none is idle). Which
 *   vCPU runs a command is not part of it: the vCPUs are interchangeable.
 * - The vGPU lock (`vgpu->vgpu_lock`, Linux v6.12 `gvt.h`) serializes the mediator:
 *   `intel_vgpu_emulate_mmio_write` (GGTT writes, PVINFO notifications, ELSP submissions) and the
 *   page-track notifier take it, and so do dispatch (`dispatch_workload`) and vGPU release. A
 *   command that needs it while an operation in flight holds it would block; the model refuses it
 *   (EBUSY, nothing changed) and the scheduler runs it later — blocking at the lock changes
 *   nothing before it, so no interleaving is lost.
 * - The GPU has one access in flight at a time; the vGPU's release waits for it to go idle
 *   (`intel_gvt_release_vgpu` → deactivate), and the VM's destruction for every vCPU to leave the
 *   kernel (a store is emulated to its end).
 */
import { holdsVgpuLock, vcpuOf } from '../gvt/inflight.js';
import type { GvtOp } from '../gvt/inflight.js';
import type { KvmgtConfig } from './config.js';
import { hasKvmgtBug } from './config.js';
import type { KvmgtCommand, KvmgtState } from './types.js';
import type { Holding } from '../result.js';

/** Commands a guest vCPU issues. */
const guestKinds: ReadonlySet<string> = new Set([
  'ggttWrite',
  'guestWritePte',
  'guestWriteCmd',
  'ppgttCreate',
  'ppgttDestroy',
  'submitBatch',
]);

/** Guest commands emulated under the vGPU lock from their first phase (trapped MMIO writes). */
const lockedKinds: ReadonlySet<string> = new Set(['ggttWrite', 'ppgttCreate', 'ppgttDestroy', 'submitBatch']);

const gpuKinds: ReadonlySet<string> = new Set(['gpuDma', 'gpuDmaPpgtt', 'gpuExecute']);

export function isGuestCommand(command: KvmgtCommand): boolean {
  return guestKinds.has(command.kind);
}

/** The operation holds the vGPU lock between its phases (a store's handler does not with `track-write-skips-vgpu-lock`). */
export function holdsLock(config: KvmgtConfig, op: GvtOp): boolean {
  const store = op.kind === 'guestWritePte' || op.kind === 'guestWriteCmd';
  if (store && hasKvmgtBug(config, 'track-write-skips-vgpu-lock')) return false;
  return holdsVgpuLock(op);
}

/** The operation in flight holding the vGPU lock, if any. */
export function lockHolder(state: KvmgtState, config: KvmgtConfig): GvtOp | undefined {
  return state.inflight.find((op) => holdsLock(config, op));
}

/** The first guest vCPU with nothing in flight, or null when every one is busy. */
export function idleVcpu(state: KvmgtState, config: KvmgtConfig): number | null {
  const busy = new Set(state.inflight.map(vcpuOf));
  for (let vcpu = 0; vcpu < config.world.vcpus; vcpu++) if (!busy.has(vcpu)) return vcpu;
  return null;
}

export function gpuBusy(state: KvmgtState): boolean {
  return state.inflight.some((op) => op.kind === 'gpuDmaPpgtt');
}

/** An actor's name, in the reports' lanes. */
export function vcpuName(vcpu: number): string {
  return `guest vCPU${vcpu}`;
}

export function actorOfOp(op: GvtOp): string {
  const vcpu = vcpuOf(op);
  return vcpu === null ? 'GPU' : vcpuName(vcpu);
}

/** Who runs `command` from `state`. */
export function actorOf(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): string {
  if (command.kind === 'advance') {
    const op = state.inflight[command.op];
    return op === undefined ? 'scheduler' : actorOfOp(op);
  }
  switch (command.kind) {
    case 'ggttWrite':
    case 'guestWritePte':
    case 'guestWriteCmd':
    case 'ppgttCreate':
    case 'ppgttDestroy':
    case 'submitBatch':
      return vcpuName(idleVcpu(state, config) ?? 0);
    case 'gpuDma':
    case 'gpuDmaPpgtt':
    case 'gpuExecute':
      return 'GPU';
    case 'otherVmAllocate':
    case 'otherVmRelease':
      return 'another VM';
    case 'vgpuCreate':
    case 'vgpuDestroy':
    case 'injectFault':
    case 'clearFault':
      return 'toolstack';
    case 'vmmUnmapRam':
    case 'vmmMapRam':
    case 'vmmUnplugRam':
    case 'vmmPlugRam':
    case 'vmDestroy':
      return 'VMM';
  }
}

/**
 * What keeps a new command from running now, in words, or null. A store's handler, which needs
 * the lock only if the store traps, is the step's to check (`needsLockNow`).
 */
export function waitsFor(state: KvmgtState, config: KvmgtConfig, command: KvmgtCommand): string | null {
  if (command.kind === 'advance') return null;
  const holder = lockHolder(state, config);
  if (isGuestCommand(command)) {
    if (idleVcpu(state, config) === null) return 'every vCPU is busy';
    if (lockedKinds.has(command.kind) && holder !== undefined) return `the vGPU lock (${actorOfOp(holder)})`;
    return null;
  }
  if (gpuKinds.has(command.kind) && gpuBusy(state)) return 'the GPU access in flight';
  if (command.kind === 'gpuExecute' && holder !== undefined) return `the vGPU lock (${actorOfOp(holder)})`;
  if (command.kind === 'vgpuDestroy') {
    if (holder !== undefined) return `the vGPU lock (${actorOfOp(holder)})`;
    if (gpuBusy(state)) return 'the GPU to go idle';
  }
  if (command.kind === 'vmDestroy' && state.inflight.length > 0) return 'the operations in flight';
  return null;
}

/** Whether the phase `op` runs next needs the vGPU lock that another operation holds. */
export function phaseWaits(state: KvmgtState, config: KvmgtConfig, op: GvtOp): string | null {
  if (op.kind !== 'guestWritePte' && op.kind !== 'guestWriteCmd') return null;
  if (op.phase !== 'handle' || hasKvmgtBug(config, 'track-write-skips-vgpu-lock')) return null;
  const holder = lockHolder(state, config);
  return holder === undefined ? null : `the vGPU lock (${actorOfOp(holder)})`;
}

/** The vGPU lock's name in waits (`src/waits.ts`). */
export const VGPU_LOCK = 'the vGPU lock';

/**
 * The resource a refusal's words (`waitsFor`, `phaseWaits`, the vGPU's dma_unmap) name: the vGPU
 * lock, the GPU, a guest vCPU (the oldest busy one, when every vCPU is), or the oldest operation's
 * actor (the VM's destruction waits for every operation in flight).
 */
export function waitResource(state: KvmgtState, reason: string): string {
  if (reason.startsWith(VGPU_LOCK)) return VGPU_LOCK;
  if (reason.startsWith('the GPU')) return 'GPU';
  const [oldest] = state.inflight;
  if (reason === 'every vCPU is busy') {
    const vcpu = state.inflight.map(vcpuOf).find((busy) => busy !== null);
    return vcpuName(vcpu ?? 0);
  }
  return oldest === undefined ? reason : actorOfOp(oldest);
}

/**
 * What each operation in flight holds and needs (`Design.holdings`): its actor (a vCPU runs one
 * operation, the GPU one access), the vGPU lock while it holds it, and, for a store whose page-track
 * notifier is still to run, the vGPU lock it takes (`intel_vgpu_page_track_handler`).
 */
export function kvmgtHoldings(state: KvmgtState, config: KvmgtConfig): Holding[] {
  return state.inflight.map((op) => {
    const store = op.kind === 'guestWritePte' || op.kind === 'guestWriteCmd';
    const takesLock = store && op.phase === 'handle' && !hasKvmgtBug(config, 'track-write-skips-vgpu-lock');
    return {
      actor: actorOfOp(op),
      kind: op.kind,
      holds: holdsLock(config, op) ? [actorOfOp(op), VGPU_LOCK] : [actorOfOp(op)],
      needs: takesLock ? VGPU_LOCK : null,
    };
  });
}
