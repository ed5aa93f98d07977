/**
 * A mediated driver's pin in two phases: `vfio_pin_pages` (vfio_iommu_type1_pin_pages, Linux
 * v6.12 drivers/vfio/vfio_iommu_type1.c:787–903, under `iommu->lock`), then the driver records the
 * pin in its own table. GVT-g holds its own lock across both (kvmgt.c `kvmgt_dma_map_guest_page`:
 * `vgpu->cache_lock` around `gvt_pin_guest_page` and `__gvt_cache_add`), and its `dma_unmap` op
 * takes the same lock (`intel_vgpu_dma_unmap`): a callback that arrives between the two phases waits
 * for the record, then releases the pin with the others (`finishDriverPins`). The generic driver of
 * `mdev.ts` does the same.
 *
 * The bug `mdev-records-pin-unlocked` records outside that lock: the callback meets a pin the driver
 * does not know yet, releases nothing, and UNMAP_DMA's walk meets the pin again and retries; with
 * nothing else running in between, it retries until `BUG_ON(++retries > 10)`.
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { vfioPinPagesInternal } from './external-pin.js';
import { addPinRecord } from './mdev.js';
import type { MdevPinArgs } from './mdev.js';
import { deviceAt, err, ok, unwound } from './state.js';
import type { OpContext } from './state.js';
import type { PhaseStep } from './inflight.js';
import type { DriverPinOp, VfioState } from './types.js';

/** Phase 1: `vfio_pin_pages`; the pin is the container's, not yet the driver's record. */
export function startDriverPin(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  args: MdevPinArgs,
): PhaseStep<DriverPinOp> {
  const refused = (errno: string): PhaseStep<DriverPinOp> => ({ outcome: err(errno), op: null });
  const device = deviceAt(state, args.deviceId);
  if (device === undefined) return refused('EBADF');
  if (typeof args.read !== 'boolean' || typeof args.write !== 'boolean') return refused('EINVAL');
  const result = vfioPinPagesInternal(state, ctx, device, args.iovaPage, args.npage, args, config);
  if (!result.ok) return { outcome: result.unwound === true ? unwound(result.errno) : err(result.errno), op: null };
  const firstMfn = result.mfns[0] ?? null;
  const op: DriverPinOp = {
    kind: 'mdevPinPages',
    deviceId: device.id,
    iovaPage: args.iovaPage,
    npage: args.npage,
    firstMfn,
  };
  return { outcome: ok({ npage: result.mfns.length, firstMfn }), op };
}

/** Phase 2: the driver records what it pinned. */
export function finishDriverPin(state: VfioState, op: DriverPinOp): PhaseStep<DriverPinOp> {
  state.inflight = state.inflight.filter((other) => other !== op);
  const device = state.devices[op.deviceId];
  if (device !== undefined) for (let i = 0; i < op.npage; i++) addPinRecord(device, op.iovaPage + i, 1);
  return { outcome: ok({ npage: op.npage, firstMfn: op.firstMfn }), op: null };
}

/** The drivers' `dma_unmap` waits for their pins in progress: each is recorded first. */
export function finishDriverPins(state: VfioState, config: VfioConfig): void {
  if (hasVfioBug(config, 'mdev-records-pin-unlocked')) return;
  for (const op of state.inflight) if (op.kind === 'mdevPinPages') finishDriverPin(state, op);
}
