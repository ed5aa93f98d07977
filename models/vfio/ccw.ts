/**
 * A vfio-ccw style emulated-IOMMU device: a channel-program engine. Reference:
 * docs/debates.md#mediated-not-noiommu (Dong Jia / Williamson: "pin the pages → convert the ccw
 * program → perform the I/O → return the result → unpin the pages"), docs/reference/vfio-type1.md
 * §1.11.
 *
 * When the guest starts I/O (ssch), the driver pins every data page the program names through
 * `vfio_pin_pages` (IOMMU_READ | IOMMU_WRITE, as vfio-ccw's page_array_pin does), translating each
 * IOVA to the frame it pinned; the channel subsystem then transfers to those frames directly (no
 * IOMMU on the path); at completion the driver unpins. `ccwStartIo` + `ccwCompleteIo` keep the I/O
 * in flight between two steps, so an UNMAP_DMA of its pages can come in between (the driver's
 * dma_unmap op then aborts the I/O, see `mdev.ts`); `ccwRunIo` does both in one step.
 *
 * Left out: the CCW chain itself (read with vfio_dma_rw in Linux, not pinned), TIC and IDAL
 * handling, format-0/1 and 2K-block details, interrupts and status reporting. A program is a list
 * of transfers, each one data page. A program of more than 256 transfers is refused (EINVAL), as
 * a chain longer than CCWCHAIN_LEN_MAX is.
 */
import type { VfioConfig } from './config.js';
import { ccwReleaseProgram, driverPin } from './mdev.js';
import { deviceAt, err, ok, runOp } from './state.js';
import type { OpContext, Outcome } from './state.js';
import type { CcwTransfer, VfioDevice, VfioResult, VfioState } from './types.js';

export const CCW_CHAIN_MAX = 256;

export interface CcwProgramTransfer {
  readonly iovaPage: number;
  /** The device writes the page (a read from the device into guest memory). */
  readonly write: boolean;
}

export interface CcwStartArgs {
  readonly deviceId: number;
  readonly program: readonly CcwProgramTransfer[];
}

export interface CcwDeviceArgs {
  readonly deviceId: number;
}

function ccwDevice(state: VfioState, deviceId: number): VfioDevice | string {
  const device = deviceAt(state, deviceId);
  if (device === undefined || !device.open) return 'EBADF';
  if (device.kind !== 'ccw') return 'ENOTTY';
  return device;
}

function startIo(state: VfioState, ctx: OpContext, device: VfioDevice, program: unknown): Outcome {
  if (device.io !== null) return err('EBUSY');
  if (!Array.isArray(program) || program.length === 0 || program.length > CCW_CHAIN_MAX) return err('EINVAL');
  const transfers: CcwTransfer[] = [];
  for (const transfer of program as readonly CcwProgramTransfer[]) {
    if (typeof transfer !== 'object' || transfer === null || typeof transfer.write !== 'boolean') return err('EINVAL');
    const pinned = driverPin(state, ctx, device, transfer.iovaPage, 1, { read: true, write: true });
    if (!pinned.ok) return err(pinned.errno);
    const mfn = pinned.mfns[0];
    if (mfn === undefined) return err('EINVAL');
    transfers.push({ iovaPage: transfer.iovaPage, mfn, write: transfer.write });
  }
  device.io = transfers;
  return ok({ transfers: transfers.length });
}

function completeIo(state: VfioState, ctx: OpContext, device: VfioDevice): Outcome {
  const program = device.io;
  if (program === null) return err('EIO');
  for (const transfer of program) {
    ctx.accesses.push({
      deviceId: device.id,
      addressPage: transfer.iovaPage,
      write: transfer.write,
      outcome: 'landed',
      mfn: transfer.mfn,
      owner: state.memory.frames[transfer.mfn]?.owner ?? null,
    });
  }
  ccwReleaseProgram(state, device);
  return ok({ transfers: program.length });
}

/** ssch: pin and translate the program; the I/O is then in flight. EBUSY while one already is. */
export function ccwStartIo(state: VfioState, _config: VfioConfig, args: CcwStartArgs): VfioResult {
  return runOp(state, (ctx) => {
    const device = ccwDevice(state, args.deviceId);
    if (typeof device === 'string') return err(device);
    return startIo(state, ctx, device, args.program);
  });
}

/** The I/O completes: every transfer lands on its pinned frame, then the program is unpinned. EIO if none. */
export function ccwCompleteIo(state: VfioState, _config: VfioConfig, args: CcwDeviceArgs): VfioResult {
  return runOp(state, (ctx) => {
    const device = ccwDevice(state, args.deviceId);
    if (typeof device === 'string') return err(device);
    return completeIo(state, ctx, device);
  });
}

/** Synchronous I/O: start and complete in one step. */
export function ccwRunIo(state: VfioState, _config: VfioConfig, args: CcwStartArgs): VfioResult {
  return runOp(state, (ctx) => {
    const device = ccwDevice(state, args.deviceId);
    if (typeof device === 'string') return err(device);
    const started = startIo(state, ctx, device, args.program);
    if (!started.ok) return started;
    return completeIo(state, ctx, device);
  });
}
