/**
 * Commands of the VFIO model, as data: one per operation, every field JSON-safe. ioctl u64
 * arguments are decimal strings (`u64.ts`); everything else is a page number, a count or an index
 * into the fixed sets of groups and devices.
 *
 * Operations that take time (`inflight.ts`): `mapDma`, `unmapDma`, `deviceDma` and `mdevPinPages`
 * with `phased: true` run their first phase and stay in flight; `advance` runs the next phase of
 * operation `op` (an index into `VfioState.inflight`, oldest first). Without `phased` they run
 * every phase at once, as they always did.
 */
import type { CcwStartArgs, CcwDeviceArgs } from './ccw.js';
import type { DeviceArgs, GroupArgs, SetIommuArgs } from './container.js';
import type { DeviceDmaArgs } from './device-dma.js';
import type { ExecArgs } from './exec.js';
import type { MapDmaArgs } from './map-dma.js';
import type { MdevPinArgs, MdevUnpinArgs } from './mdev.js';
import type { OtherFrameArgs, OtherOwnerArgs } from './other-owner.js';
import type { MmapArgs, TouchArgs, VaddrRangeArgs } from './process-memory.js';
import type { CheckExtensionArgs, GetInfoArgs } from './query.js';
import type { FaultInjection } from './types.js';
import type { UnmapDmaArgs } from './unmap-dma.js';

export type VfioCommand =
  // Container and group lifecycle (the VMM).
  | ({ readonly kind: 'groupSetContainer' } & GroupArgs)
  | ({ readonly kind: 'groupUnsetContainer'; readonly phased?: boolean } & GroupArgs)
  | ({ readonly kind: 'setIommu' } & SetIommuArgs)
  | ({ readonly kind: 'openDevice' } & DeviceArgs)
  | ({ readonly kind: 'closeDevice' } & DeviceArgs)
  // Container ioctls with arbitrary argument values.
  | ({ readonly kind: 'mapDma'; readonly phased?: boolean } & MapDmaArgs)
  | ({ readonly kind: 'unmapDma'; readonly phased?: boolean } & UnmapDmaArgs)
  // Container queries: VFIO_CHECK_EXTENSION, VFIO_IOMMU_GET_INFO (`query.ts`).
  | ({ readonly kind: 'checkExtension' } & CheckExtensionArgs)
  | ({ readonly kind: 'getInfo' } & GetInfoArgs)
  // The VMM process's memory (the guest's RAM).
  | ({ readonly kind: 'mmap' } & MmapArgs)
  | ({ readonly kind: 'munmap' } & VaddrRangeArgs)
  | ({ readonly kind: 'discard' } & VaddrRangeArgs)
  | ({ readonly kind: 'touch' } & TouchArgs)
  // execve (QEMU's cpr-exec): a new mm, the guest's RAM (a memfd) mapped again `shiftPages` higher.
  | ({ readonly kind: 'exec' } & ExecArgs)
  // Another owner takes a free frame or gives one back.
  | ({ readonly kind: 'allocateToOther' } & OtherOwnerArgs)
  | ({ readonly kind: 'releaseFromOther' } & OtherFrameArgs)
  // Emulated-IOMMU drivers.
  | ({ readonly kind: 'mdevPinPages'; readonly phased?: boolean } & MdevPinArgs)
  | ({ readonly kind: 'mdevUnpinPages' } & MdevUnpinArgs)
  | ({ readonly kind: 'ccwStartIo' } & CcwStartArgs)
  | ({ readonly kind: 'ccwCompleteIo' } & CcwDeviceArgs)
  | ({ readonly kind: 'ccwRunIo' } & CcwStartArgs)
  // Device actions.
  | ({ readonly kind: 'deviceDma'; readonly phased?: boolean } & DeviceDmaArgs)
  // The next phase of an operation in flight.
  | { readonly kind: 'advance'; readonly op: number }
  // Fault injection.
  | ({ readonly kind: 'injectFault' } & FaultInjection)
  | { readonly kind: 'clearFault' };

export type VfioCommandKind = VfioCommand['kind'];
