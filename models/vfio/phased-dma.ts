/**
 * A device's DMA in two phases: translate, then access. An assigned device's request is translated
 * (here by the translations VFIO programmed, `device-dma.ts`; in the passthrough stack by the VT-d
 * model's IOTLB or page walk) and then travels to memory, where it lands later in the frame the
 * translation named, whatever the tables say by then. A translated request not yet landed is
 * reach: the frame must stay the guest's and pinned until it lands.
 *
 * What bounds the window: an IOTLB invalidation completes only once the requests translated with
 * the entries it invalidates have drained to memory (VT-d: the invalidation descriptor's drain
 * bits, `qi_desc_iotlb` in drivers/iommu/intel/iommu.h:1103–1116 sets DW/DR when the IOMMU
 * reports them, and `qi_submit_sync` waits for the wait descriptor). So `iommu_iotlb_sync` (and
 * the `iommu_unmap` of a second domain, which syncs) lands every in-flight request of the domain's
 * devices in the synced range before it returns (`drainDomainDmas`); VFIO unpins only after that.
 * A vfio-pci device's close resets it, and a function-level reset first waits for its pending
 * transactions (`pcie_flr` → `pci_wait_for_pending_transaction`): closing a device lands its DMA.
 * Under VFIO_NO_IOMMU nothing translates and nothing drains: the request lands at its bus address.
 *
 * Left out: several outstanding requests per device (one is enough to hold a frame), posted-write
 * ordering, and requests a fault aborts (a faulting request stays in flight and reports its fault
 * when it completes).
 */
import { resolveDeviceDma, deviceDmaRefusal } from './device-dma.js';
import type { DeviceDmaArgs } from './device-dma.js';
import type { PhaseStep } from './inflight.js';
import { domainOfGroup, err, ok, type1Backend } from './state.js';
import type { OpContext } from './state.js';
import type { DeviceDmaOp, DmaAccess, VfioState } from './types.js';

/** The access a request in flight makes when it lands now (the frame's owner at landing). */
export function landingAccess(state: VfioState, op: DeviceDmaOp): DmaAccess {
  const base = { deviceId: op.deviceId, addressPage: op.addressPage, write: op.write };
  if (op.outcome !== 'landed' || op.mfn === null) return { ...base, outcome: op.outcome, mfn: null, owner: null };
  const frame = state.memory.frames[op.mfn];
  if (frame === undefined) return { ...base, outcome: 'master-abort', mfn: null, owner: null };
  return { ...base, outcome: 'landed', mfn: op.mfn, owner: frame.owner };
}

/** Lands the in-flight requests `selects` picks, oldest first, recording their accesses. */
export function landDmas(state: VfioState, ctx: OpContext, selects: (op: DeviceDmaOp) => boolean): number {
  let landed = 0;
  state.inflight = state.inflight.filter((op) => {
    if (op.kind !== 'deviceDma' || !selects(op)) return true;
    ctx.accesses.push(landingAccess(state, op));
    landed += 1;
    return false;
  });
  return landed;
}

/**
 * The drain of an IOTLB sync of VFIO domain `domainId` over `[startPage, endPage)`: every request
 * VFIO's own translation sent through that domain into the range lands now.
 */
export function drainDomainDmas(
  state: VfioState,
  ctx: OpContext,
  domainId: number,
  startPage: number,
  endPage: number,
): void {
  if (state.inflight.length === 0) return;
  landDmas(
    state,
    ctx,
    (op) =>
      op.requestId === null && op.domainId === domainId && op.addressPage >= startPage && op.addressPage < endPage,
  );
}

/** The translate phase of an assigned device's DMA, by VFIO's own translations: the request is in flight. */
export function startDeviceDma(state: VfioState, args: DeviceDmaArgs): PhaseStep<DeviceDmaOp> {
  const refusal = deviceDmaRefusal(state, args);
  if (refusal !== null) return { outcome: err(refusal), op: null };
  const access = resolveDeviceDma(state, args.deviceId, args.addressPage, args.write);
  const backend = type1Backend(state);
  const device = state.devices[args.deviceId];
  const domain = backend === null || device === undefined ? undefined : domainOfGroup(backend, device.groupId);
  const op: DeviceDmaOp = {
    kind: 'deviceDma',
    deviceId: args.deviceId,
    addressPage: args.addressPage,
    write: args.write,
    outcome: access.outcome,
    mfn: access.mfn,
    domainId: access.outcome === 'landed' && domain !== undefined ? domain.id : null,
    requestId: null,
    via: state.container.backend?.kind === 'noiommu' ? 'bus address' : 'domain',
  };
  return { outcome: ok({ translated: access.outcome, mfn: access.mfn }), op };
}

/** The access phase: the request lands where its translation sent it. */
export function finishDeviceDma(state: VfioState, ctx: OpContext, op: DeviceDmaOp): PhaseStep<DeviceDmaOp> {
  const access = landingAccess(state, op);
  ctx.accesses.push(access);
  return { outcome: ok({ outcome: access.outcome, mfn: access.mfn, owner: access.owner }), op: null };
}
