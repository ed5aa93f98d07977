/**
 * Emulated-IOMMU (mediated) device drivers: how they pin guest memory through the container, what
 * they do when the container calls their `dma_unmap` op, and what they release on close.
 * Reference: docs/reference/vfio-type1.md §1.11 (the contract), §1.4 step 9 (the notification), §5.1 (GVT-g ↔ VFIO).
 *
 * A driver keeps its own record of the pins it holds (`device.pins`: iova page → times pinned).
 * The commands `mdevPinPages` / `mdevUnpinPages` are the generic driver (GVT-g style) pinning a
 * guest page for its own use and letting it go; they call `vfio_pin_pages` / `vfio_unpin_pages`
 * and keep the record. A correct driver unpins only IOVAs its record holds; the bug
 * `mdev-unpins-foreign-pins` is the driver that calls vfio_unpin_pages over a whole range, modelled
 * as Linux sees it (the shared `vfio_pfn` count drops); its own record never goes below zero.
 *
 * `dma_unmap(iova, length)` contract: the driver must unpin every IOVA it pinned in the range
 * before returning. The generic driver unpins its pins in the range; the vfio-ccw driver, when its
 * channel program has a page in the range, resets the device (`cp_free`: the I/O is aborted and
 * every page of the program unpinned), then releases any other pin it holds in the range. The bug
 * `mdev-ignores-unmap` makes every driver return without unpinning.
 *
 * Left out: the v4.10–v5.x notifier registration (`vfio_register_notifier`): same contract,
 * different plumbing (§1.11 history).
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import {
  VFIO_PIN_PAGES_MAX_ENTRIES,
  hasDmaUnmapOp,
  vfioPinPagesInternal,
  vfioUnpinPagesInternal,
} from './external-pin.js';
import type { PinPagesResult } from './external-pin.js';
import { writableDevicePins } from './copied-parts.js';
import { deviceAt, err, ok, runOp, unwound } from './state.js';
import type { OpContext } from './state.js';
import type { Type1Backend, VfioDevice, VfioDma, VfioResult, VfioState } from './types.js';
import { isPageNumber } from './u64.js';

export interface MdevPinArgs {
  readonly deviceId: number;
  readonly iovaPage: number;
  readonly npage: number;
  readonly read: boolean;
  readonly write: boolean;
}

export interface MdevUnpinArgs {
  readonly deviceId: number;
  readonly iovaPage: number;
  readonly npage: number;
}

export function addPinRecord(device: VfioDevice, iovaPage: number, delta: number): void {
  const count = (device.pins[iovaPage] ?? 0) + delta;
  if (count > 0) writableDevicePins(device)[iovaPage] = count;
  else delete writableDevicePins(device)[iovaPage];
}

/** The driver pins `npage` pages at `iovaPage` through vfio_pin_pages and records them. */
export function driverPin(
  state: VfioState,
  ctx: OpContext,
  device: VfioDevice,
  iovaPage: number,
  npage: number,
  prot: { readonly read: boolean; readonly write: boolean },
  config?: VfioConfig,
): PinPagesResult {
  const result = vfioPinPagesInternal(state, ctx, device, iovaPage, npage, prot, config);
  if (result.ok) for (let i = 0; i < npage; i++) addPinRecord(device, iovaPage + i, 1);
  return result;
}

/** The driver unpins through vfio_unpin_pages and updates its record for the pages processed. */
export function driverUnpin(state: VfioState, device: VfioDevice, iovaPage: number, npage: number): number | string {
  const result = vfioUnpinPagesInternal(state, device, iovaPage, npage);
  if (!result.ok) return result.errno;
  for (let i = 0; i < result.processed; i++) {
    if ((device.pins[iovaPage + i] ?? 0) > 0) addPinRecord(device, iovaPage + i, -1);
  }
  return result.processed;
}

/** vfio-ccw `cp_free`: the channel program's pages are unpinned and the I/O is gone. */
export function ccwReleaseProgram(state: VfioState, device: VfioDevice): number {
  const program = device.io;
  if (program === null) return 0;
  device.io = null;
  for (const transfer of program) driverUnpin(state, device, transfer.iovaPage, 1);
  return program.length;
}

/** Releases every pin the driver records in `[iovaPage, iovaPage + npages)`. */
function releaseRecordedPins(state: VfioState, device: VfioDevice, iovaPage: number, npages: number): void {
  for (const [key, count] of Object.entries(device.pins)) {
    const page = Number(key);
    if (page < iovaPage || page >= iovaPage + npages) continue;
    for (let i = 0; i < count; i++) driverUnpin(state, device, page, 1);
    delete writableDevicePins(device)[key];
  }
}

/** The device's `dma_unmap(iova, length)` op. */
export function dmaUnmapCallback(
  state: VfioState,
  config: VfioConfig,
  device: VfioDevice,
  iovaPage: number,
  npages: number,
): void {
  if (hasVfioBug(config, 'mdev-ignores-unmap')) return;
  if (device.kind === 'mdev' && config.mdevOps !== undefined) {
    config.mdevOps.dmaUnmap(state, device, iovaPage, npages);
    return;
  }
  if (device.kind === 'ccw' && device.io?.some((t) => t.iovaPage >= iovaPage && t.iovaPage < iovaPage + npages)) {
    if (hasVfioBug(config, 'ccw-unmap-skips-quiesce')) {
      // cp_free without the quiesce: the program's pages go, the I/O stays in flight.
      for (const transfer of device.io) driverUnpin(state, device, transfer.iovaPage, 1);
    } else ccwReleaseProgram(state, device);
  }
  releaseRecordedPins(state, device, iovaPage, npages);
}

/** `vfio_notify_dma_unmap`: every registered device is told about the whole mapping's range. */
export function notifyDmaUnmap(state: VfioState, config: VfioConfig, backend: Type1Backend, dma: VfioDma): void {
  for (const deviceId of [...backend.deviceIds]) {
    const device = state.devices[deviceId];
    if (device !== undefined) dmaUnmapCallback(state, config, device, dma.iovaPage, dma.npages);
  }
}

/** The driver's `close_device`: any I/O is torn down and every pin it holds is released. */
export function closeDeviceDriver(state: VfioState, config: VfioConfig, device: VfioDevice): void {
  if (device.kind === 'mdev' && config.mdevOps !== undefined) {
    config.mdevOps.close(state, device);
    return;
  }
  ccwReleaseProgram(state, device);
  for (const [key, count] of Object.entries(device.pins)) {
    for (let i = 0; i < count; i++) driverUnpin(state, device, Number(key), 1);
  }
  device.pins = {};
}

// ---------------------------------------------------------------------------------------------
// Commands: the generic mediated driver pins and unpins guest pages.

/**
 * A correct driver lets go only of what it pinned: for each page of the range its record holds,
 * in address order, one vfio_unpin_pages call. Pages it never pinned are not its to unpin (the
 * vfio_pfn counts are shared by every driver of the container), so it skips them. The request
 * itself is checked as vfio_unpin_pages checks it, and an IOVA that is not a page of a u64 address
 * cannot be passed to it at all (EINVAL). The driver walks its record, not the range: the work is
 * bounded by what it holds, whatever the request.
 */
function releaseOwnPins(
  state: VfioState,
  device: VfioDevice,
  args: MdevUnpinArgs,
): ReturnType<typeof err> | ReturnType<typeof ok> {
  if (!device.open || !hasDmaUnmapOp(device)) return err('EINVAL', { warn: true });
  if (!Number.isInteger(args.npage) || args.npage <= 0 || args.npage > VFIO_PIN_PAGES_MAX_ENTRIES)
    return err('EINVAL', { warn: true });
  if (!isPageNumber(args.iovaPage)) return err('EINVAL', { warn: true });
  const held = Object.keys(device.pins)
    .map(Number)
    .filter((page) => page >= args.iovaPage && page < args.iovaPage + args.npage)
    .sort((a, b) => a - b);
  let processed = 0;
  for (const page of held) {
    const result = driverUnpin(state, device, page, 1);
    if (typeof result === 'string') return err(result, { warn: true });
    processed += result;
  }
  return ok({ processed, warn: false });
}

export function mdevPinPages(state: VfioState, config: VfioConfig, args: MdevPinArgs): VfioResult {
  return runOp(state, (ctx) => {
    const device = deviceAt(state, args.deviceId);
    if (device === undefined) return err('EBADF');
    if (typeof args.read !== 'boolean' || typeof args.write !== 'boolean') return err('EINVAL');
    const result = driverPin(state, ctx, device, args.iovaPage, args.npage, args, config);
    // vfio_pin_pages walked its own pins back (`external-pin.ts`): compared, not restored.
    if (!result.ok) return result.unwound === true ? unwound(result.errno) : err(result.errno);
    return ok({ npage: result.mfns.length, firstMfn: result.mfns[0] ?? null });
  });
}

export function mdevUnpinPages(state: VfioState, config: VfioConfig, args: MdevUnpinArgs): VfioResult {
  return runOp(state, () => {
    const device = deviceAt(state, args.deviceId);
    if (device === undefined) return err('EBADF');
    if (!hasVfioBug(config, 'mdev-unpins-foreign-pins')) return releaseOwnPins(state, device, args);
    const processed = driverUnpin(state, device, args.iovaPage, args.npage);
    if (typeof processed === 'string') return err(processed, { warn: true });
    return ok({ processed, warn: processed !== args.npage });
  });
}
