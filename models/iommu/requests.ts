/**
 * DMA requests the IOMMU has translated and that have not landed in memory yet, one per device
 * (source-id). An IOTLB invalidation completes only once the requests translated with the entries
 * it invalidates have drained (VT-d §6.5.5; Linux sets the descriptor's drain bits,
 * drivers/iommu/intel/iommu.h:1103–1116 `qi_desc_iotlb`, and `qi_submit_sync` waits for the wait
 * descriptor): each invalidation here marks the requests of its DID (and page range, for a PSI)
 * `drained`, and the caller lands them before going on. A request carries no translation of its
 * own: the caller that translated it keeps where it goes.
 *
 * Left out: requests that fault (they never reach memory: nothing to drain), device-TLB (ATS)
 * translated requests, and the ordering of several requests of one device.
 */
import type { IommuState, TranslatedRequest } from './types.js';

/** Records a request translated under (DID, PASID) at `iovaPage`, replacing the device's previous one. */
export function registerRequest(state: IommuState, request: Omit<TranslatedRequest, 'drained'>): void {
  state.requests = [
    ...state.requests.filter((other) => other.deviceId !== request.deviceId),
    { ...request, drained: false },
  ];
}

/** The device's request landed (or was abandoned): the IOMMU forgets it. */
export function completeRequest(state: IommuState, deviceId: number): void {
  if (state.requests.length === 0) return;
  state.requests = state.requests.filter((request) => request.deviceId !== deviceId);
}

/** An invalidation drains the requests `selects` picks. */
export function drainRequests(state: IommuState, selects: (request: TranslatedRequest) => boolean): void {
  if (state.requests.length === 0) return;
  state.requests = state.requests.map((request) =>
    !request.drained && selects(request) ? { ...request, drained: true } : request,
  );
}
