/**
 * Read-only views of the vIOMMU stack for invariants, explanations and cost counting: what the
 * assigned device can reach through the host IOMMU (for a nested domain, through the guest's table
 * and stage 2, and the combined IOTLB entries), and which frames VFIO pins.
 */
import type { IommuReach } from '../passthrough/views.js';
import { computeIommuReach } from '../passthrough/views.js';
import { iommuPins } from '../vfio/views.js';
import { type1Backend } from '../vfio/state.js';
import type { FirstLevelTable } from '../iommu/types.js';
import type { ViommuState } from './types.js';

// States are never modified once a step has returned them; a step that changed only the guest's
// table shares the host, so the memo is keyed by the whole state, not by the host.
const reachMemo = new WeakMap<ViommuState, IommuReach[]>();

/** GPA pages of guest RAM, each at its own address: what a nested device walks with translation off. */
const identityMemo = new WeakMap<ViommuState['guestRam'], FirstLevelTable>();

/**
 * The first level a nested domain's device walks: the guest's table, or with translation off
 * (GCMD.TE clear: the no-DMAR region) guest RAM at IOVA = GPA, so that stage 2 alone translates.
 */
export function firstLevelOf(state: ViommuState): FirstLevelTable {
  if (state.guest.translation) return state.guest.table;
  const known = identityMemo.get(state.guestRam);
  if (known !== undefined) return known;
  const identity: Record<string, { gpaPage: number; write: boolean }> = {};
  for (let page = 0; page < state.guestRam.pages; page++) identity[page] = { gpaPage: page, write: true };
  identityMemo.set(state.guestRam, identity);
  return identity;
}

/** Every frame the device can reach through the host IOMMU now (memoized: finished states only). */
export function viommuReach(state: ViommuState): readonly IommuReach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  const reach = computeIommuReach(state.host, state.nestedDid === null ? {} : firstLevelOf(state));
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
