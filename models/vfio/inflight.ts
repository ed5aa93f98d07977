/**
 * Operations that take time in the VFIO model: who runs each command, what is in flight, and what
 * an operation in flight keeps others from doing. The phases themselves are in `phased-dma.ts`,
 * `phased-map.ts`, `phased-unmap.ts` and `phased-pin.ts`; `step.ts` dispatches.
 *
 * Actors (Linux v6.12, drivers/vfio/vfio_iommu_type1.c):
 * - `VMM`: the container, group and device ioctls. The VMM issues them one at a time (QEMU under
 *   its big lock), so while its MAP_DMA or UNMAP_DMA is in flight it issues no other (EBUSY).
 * - `VMM (mm)`: the VMM process's memory (mmap, munmap, MADV_DONTNEED, touches), which another
 *   thread of the process may change at any time: it takes `mmap_lock`, never `iommu->lock`.
 * - `device N`: an assigned device's DMA engine, one request outstanding (a second DMA by the same
 *   device while one is in flight is refused EBUSY); `mdev N driver`, `ccw N driver`: a mediated
 *   driver, one call at a time (it serialises on its own lock).
 * - `other VM`: frames taken and given back by another owner; `fault injection`: the harness.
 *
 * `iommu->lock` (a mutex): vfio_dma_do_map holds it from its checks to the end of
 * vfio_pin_map_dma (lines 1572–1664), vfio_dma_do_unmap from its checks to its end (1284–1413),
 * except while vfio_notify_dma_unmap calls the drivers' `dma_unmap` with it dropped (1261–1267).
 * While an operation in flight holds it, every command that takes it — the container's ioctls,
 * vfio_pin_pages and vfio_unpin_pages (787–932), a driver's close — would wait: the model refuses
 * it with EBUSY (the scheduler runs it later instead), and the state is unchanged. Device DMA and
 * the process's memory never take it.
 *
 * Not phased, because no other actor can see between their steps: a driver's `vfio_unpin_pages`
 * (vfio_iommu_type1_unpin_pages, 906–932, the whole loop under `iommu->lock`, called by the driver
 * under its own lock, which a `dma_unmap` callback takes too); a driver's `dma_unmap` callback
 * itself (it runs under the driver's lock inside UNMAP_DMA's notify phase, with `iommu->lock`
 * dropped — that window is the notify/recheck boundary of `phased-unmap.ts`; vfio-ccw's wait for
 * the subchannel to quiesce inside it is the ccw I/O in flight, `ccw.ts`).
 *
 * Left out: several VMM threads racing their own ioctls (the lock serialises all of them but the
 * `dma_unmap` window, where another thread's MAP_DMA of the same range meets the mapping being
 * unmapped and fails EEXIST); a driver pinning from several threads at once.
 */
import type { VfioCommand } from './commands.js';
import type { Outcome } from './state.js';
import type { VfioOp, VfioState } from './types.js';
import type { Holding } from '../result.js';

/** What a phase did: its outcome, and the operation as it now stands (null once it has finished). */
export interface PhaseStep<O extends VfioOp = VfioOp> {
  readonly outcome: Outcome;
  readonly op: O | null;
}

/** Who runs an operation in flight. */
export function actorOfOp(op: VfioOp): string {
  switch (op.kind) {
    case 'deviceDma':
      return `device ${op.deviceId}`;
    case 'mdevPinPages':
      return `mdev ${op.deviceId} driver`;
    case 'mapDma':
    case 'unmapDma':
    case 'groupUnsetContainer':
      return 'VMM';
  }
}

/** The phase an operation in flight runs next, in the real code's words. */
export function nextPhaseOf(op: VfioOp): string {
  switch (op.kind) {
    case 'deviceDma':
      return 'access';
    case 'mdevPinPages':
      return 'record';
    case 'mapDma':
      return op.next === 'map' ? 'iommu_map' : 'pin';
    case 'unmapDma':
      return op.next === 'recheck' ? 'relock and walk again' : op.next === 'sync' ? 'iotlb_sync' : 'unpin';
    case 'groupUnsetContainer':
      return 'unmap, unpin and free the domain';
  }
}

/** Who runs a command (for `advance`, the operation it advances). */
export function actorOfVfioCommand(state: VfioState, command: VfioCommand): string {
  switch (command.kind) {
    case 'advance': {
      const op = state.inflight[command.op];
      return op === undefined ? 'scheduler' : actorOfOp(op);
    }
    case 'deviceDma':
      return `device ${command.deviceId}`;
    case 'mdevPinPages':
    case 'mdevUnpinPages':
      return `mdev ${command.deviceId} driver`;
    case 'ccwStartIo':
    case 'ccwCompleteIo':
    case 'ccwRunIo':
      return `ccw ${command.deviceId} driver`;
    case 'mmap':
    case 'munmap':
    case 'discard':
    case 'touch':
      return 'VMM (mm)';
    case 'allocateToOther':
    case 'releaseFromOther':
      return 'other VM';
    case 'injectFault':
    case 'clearFault':
      return 'fault injection';
    case 'groupSetContainer':
    case 'groupUnsetContainer':
    case 'setIommu':
    case 'openDevice':
    case 'closeDevice':
    case 'mapDma':
    case 'unmapDma':
    case 'checkExtension':
    case 'getInfo':
    case 'exec':
      // execve is the VMM's too: it waits for the VMM's ioctl in flight (de_thread).
      return 'VMM';
  }
}

/**
 * Whether an operation in flight holds `iommu->lock` between its phases (type1's detach_group holds
 * it from `iommu_detach_group` to the domain's free).
 */
export function holdsIommuLock(op: VfioOp): boolean {
  return op.kind === 'mapDma' || op.kind === 'groupUnsetContainer' || (op.kind === 'unmapDma' && op.next !== 'recheck');
}

/** Commands that take `iommu->lock` (directly, or through vfio_pin_pages / vfio_unpin_pages). */
const takesIommuLock: ReadonlySet<VfioCommand['kind']> = new Set([
  'groupSetContainer',
  'groupUnsetContainer',
  'setIommu',
  'openDevice',
  'closeDevice',
  'mapDma',
  'unmapDma',
  // get_info and the UPDATE_VADDR / DMA_CC extensions read the backend under iommu->lock.
  'checkExtension',
  'getInfo',
  'mdevPinPages',
  'mdevUnpinPages',
  'ccwStartIo',
  'ccwCompleteIo',
  'ccwRunIo',
]);

/** What a command that cannot run now waits for: a busy actor or a held lock (its name). */
export interface InflightWait {
  readonly waitsFor: string;
  /** The words of the refusal ("iommu->lock is held", "device 0 is busy"). */
  readonly reason: string;
}

/**
 * Why `command` cannot run now because of what is in flight: its actor is busy with an operation
 * of its own, or it needs `iommu->lock` that an operation in flight holds. Null when it may run.
 * (`advance` is checked by the phase it runs.)
 */
export function inflightWait(state: VfioState, command: VfioCommand): InflightWait | null {
  if (state.inflight.length === 0 || command.kind === 'advance') return null;
  const actor = actorOfVfioCommand(state, command);
  if (state.inflight.some((op) => actorOfOp(op) === actor)) return { waitsFor: actor, reason: `${actor} is busy` };
  // A device is closed through its driver, which finishes its own call first.
  if (
    command.kind === 'closeDevice' &&
    state.inflight.some((op) => op.kind === 'mdevPinPages' && op.deviceId === command.deviceId)
  ) {
    const driver = `mdev ${command.deviceId} driver`;
    return { waitsFor: driver, reason: `${driver} is busy` };
  }
  if (takesIommuLock.has(command.kind) && state.inflight.some(holdsIommuLock)) {
    return { waitsFor: IOMMU_LOCK, reason: 'iommu->lock is held' };
  }
  return null;
}

/** The words of `inflightWait`, or null. */
export function inflightRefusal(state: VfioState, command: VfioCommand): string | null {
  return inflightWait(state, command)?.reason ?? null;
}

/** The lock's name in waits (`src/waits.ts`). */
export const IOMMU_LOCK = 'iommu->lock';

/**
 * What each operation in flight holds and needs (`Design.holdings`): its actor (one operation at a
 * time), `iommu->lock` while it holds it between phases, and, for an UNMAP_DMA whose callbacks ran
 * with the lock dropped, the lock again to walk again.
 */
export function vfioHoldings(state: VfioState): Holding[] {
  return state.inflight.map((op) => ({
    actor: actorOfOp(op),
    kind: op.kind,
    holds: holdsIommuLock(op) ? [actorOfOp(op), IOMMU_LOCK] : [actorOfOp(op)],
    needs: op.kind === 'unmapDma' && op.next === 'recheck' ? IOMMU_LOCK : null,
  }));
}

/** Operations in flight of one kind, with their index (oldest first). */
export function inflightOfKind<K extends VfioOp['kind']>(
  state: VfioState,
  kind: K,
): { readonly index: number; readonly op: Extract<VfioOp, { kind: K }> }[] {
  const found: { index: number; op: Extract<VfioOp, { kind: K }> }[] = [];
  state.inflight.forEach((op, index) => {
    if (op.kind === kind) found.push({ index, op: op as Extract<VfioOp, { kind: K }> });
  });
  return found;
}

/** The MAP_DMA in flight over the mapping at `dmaIovaPage`, if any. */
export function mapInFlight(state: VfioState, dmaIovaPage: number): Extract<VfioOp, { kind: 'mapDma' }> | undefined {
  for (const op of state.inflight) if (op.kind === 'mapDma' && op.iovaPage === dmaIovaPage) return op;
  return undefined;
}

/** The UNMAP_DMA in flight removing the mapping at `dmaIovaPage` (cleared, not yet unpinned), if any. */
export function unmapInFlight(
  state: VfioState,
  dmaIovaPage: number,
): Extract<VfioOp, { kind: 'unmapDma' }> | undefined {
  for (const op of state.inflight) if (op.kind === 'unmapDma' && op.dmaIovaPage === dmaIovaPage) return op;
  return undefined;
}

/** True for a command that starts its operation and leaves it in flight. */
export function startsPhased(command: VfioCommand): boolean {
  return 'phased' in command && command.phased === true;
}

/** The kinds that have phases. */
export const phasedVfioKinds = ['deviceDma', 'mapDma', 'unmapDma', 'mdevPinPages'] as const;
