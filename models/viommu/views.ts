/**
 * Read-only views of the vIOMMU stack for invariants, explanations and cost counting: what the
 * assigned device can reach through the host IOMMU (for a nested domain, through the guest's table
 * and stage 2, and the combined IOTLB entries), and which frames VFIO pins.
 */
import type { IommuReach } from '../passthrough/views.js';
import { computeIommuReach } from '../passthrough/views.js';
import { iommuPins } from '../vfio/views.js';
import { type1Backend } from '../vfio/state.js';
import type { ViommuState } from './types.js';

// States are never modified once a step has returned them; a step that changed only the guest's
// table shares the host, so the memo is keyed by the whole state, not by the host.
const reachMemo = new WeakMap<ViommuState, IommuReach[]>();

/** Every frame the device can reach through the host IOMMU now (memoized: finished states only). */
export function viommuReach(state: ViommuState): readonly IommuReach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  const reach = computeIommuReach(state.host, state.nestedDid === null ? {} : state.guest.table);
  reachMemo.set(state, reach);
  return reach;
}

/** Frames VFIO holds an IOMMU-path pin on, ascending. */
export function pinnedFrames(state: ViommuState): number[] {
  const frames = new Set<number>();
  for (const dma of type1Backend(state.host.vfio)?.dmas ?? []) {
    for (const pin of iommuPins(state.host.vfio, dma)) frames.add(pin.mfn);
  }
  return [...frames].sort((a, b) => a - b);
}
