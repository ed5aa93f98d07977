/**
 * Read-only views of the Xen passthrough state for the invariants and the generators: what each
 * device can reach (its context's IOTLB entries and its tables), and which frames a domain holds
 * (the XenState-level holder census of `properties/xengt/views.ts`, plus the references Xen
 * operations in flight hold on its behalf).
 */
import { DOMID_IO } from '../../models/xen/pci.js';
import type { PciDev } from '../../models/xen/pci.js';
import { iommuTranslate } from '../../models/xen/iommu.js';
import { deviceContext, inflightRefs, walkContext } from '../../models/xenpt/step.js';
import type { DmaTarget, XenPtState } from '../../models/xenpt/types.js';
import { holderCensus } from '../xengt/views.js';

/** One thing a device can reach: through a cached IOTLB entry, or its context's table. */
export interface Reach {
  readonly device: number;
  readonly via: 'iotlb' | 'table';
  readonly dfn: number;
  readonly target: DmaTarget;
}

const reachMemo = new WeakMap<XenPtState, readonly Reach[]>();

/** Every device's reach (memoized: call it on finished states only). */
export function deviceReach(state: XenPtState): readonly Reach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  const reach: Reach[] = [];
  for (const device of state.devices) reach.push(...reachOf(state, device));
  reachMemo.set(state, reach);
  return reach;
}

function reachOf(state: XenPtState, device: PciDev): Reach[] {
  const context = deviceContext(device);
  if (context === null) return [];
  const reach: Reach[] = [];
  const prefix = `${context}/`;
  for (const [key, entry] of Object.entries(state.iotlb)) {
    if (key.startsWith(prefix))
      reach.push({ device: device.sbdf, via: 'iotlb', dfn: Number(key.slice(prefix.length)), target: entry.target });
  }
  if (device.owner === DOMID_IO) {
    if (device.scratch !== null)
      reach.push({ device: device.sbdf, via: 'table', dfn: 0, target: { kind: 'scratch', id: device.scratch } });
    return reach;
  }
  const domain = state.xen.domains[device.owner];
  if (domain?.iommu === undefined) return reach;
  const dfns = domain.iommu.sharePt ? Object.keys(domain.p2m) : Object.keys(domain.iommu.table);
  for (const key of dfns) {
    const pte = iommuTranslate(domain, Number(key));
    if (pte !== null)
      reach.push({ device: device.sbdf, via: 'table', dfn: Number(key), target: { kind: 'frame', mfn: pte.mfn } });
  }
  return reach;
}

/** References domain `domid` holds on `mfn`: its p2m and maptrack entries, and its operations in flight. */
export function heldBy(state: XenPtState, domid: number, mfn: number): number {
  const counted = holderCensus(state.xen).byDomain[domid]?.[mfn] ?? 0;
  let inflight = 0;
  for (const op of state.inflight) if (op.kind === 'moveGfn' && op.domid === domid) inflight += inflightRefs(op, mfn);
  return counted + inflight;
}

/** References operations in flight hold on `mfn`. */
export function inflightHeld(state: XenPtState, mfn: number): number {
  return state.inflight.reduce((sum, op) => sum + inflightRefs(op, mfn), 0);
}

/** dfns `device` reaches through a stale IOTLB entry: its dfn awaits a flush, or the context now translates it elsewhere. */
export function staleDfns(state: XenPtState, device: number): number[] {
  const dev = state.devices[device];
  const context = dev === undefined ? null : deviceContext(dev);
  if (context === null) return [];
  const stale = deviceReach(state).filter((found) => {
    if (found.device !== device || found.via !== 'iotlb') return false;
    const now = walkContext(state.xen, state.devices, context, found.dfn);
    return now === null || describeTarget(now.target) !== describeTarget(found.target);
  });
  return [...new Set(stale.map((found) => found.dfn))].sort((left, right) => left - right);
}

/** dfns `device` reaches through a stale IOTLB entry, else every dfn it reaches; in order, each once. */
export function staleFirst(state: XenPtState, device: number): number[] {
  const stale = staleDfns(state, device);
  if (stale.length > 0) return stale;
  const reach = deviceReach(state).filter((found) => found.device === device);
  return [...new Set(reach.map((found) => found.dfn))].sort((left, right) => left - right);
}

/**
 * Where a DMA aims: the device's stale dfns; else the dfns it reaches, then those other contexts
 * map (what it would reach once reassigned).
 */
export function dmaAims(state: XenPtState, device: number): number[] {
  const stale = staleDfns(state, device);
  if (stale.length > 0) return stale;
  const own = staleFirst(state, device);
  const others = deviceReach(state)
    .filter((found) => found.device !== device && found.target.kind === 'frame')
    .map((found) => found.dfn);
  const hardware = Object.keys(state.xen.domains[0]?.iommu?.table ?? {}).map(Number);
  return [...new Set([...own, ...others, ...hardware])];
}

export function describeTarget(target: DmaTarget): string {
  return target.kind === 'frame' ? `mfn ${target.mfn}` : `scratch page ${target.id}`;
}
