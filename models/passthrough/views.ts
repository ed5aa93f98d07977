/**
 * Read-only views of the passthrough stack for invariants: what the assigned devices can reach
 * through the VT-d model (page table and IOTLB, stale entries included), who holds each frame
 * (VFIO's holders plus the stack's flush holds), and where the IOMMU's page tables disagree with
 * the translations VFIO believes it programmed.
 */
import type { FirstLevelTable } from '../iommu/types.js';
import { domainTranslations, reachableByDevice } from '../iommu/views.js';
import { describeHolder, frameHolders } from '../vfio/views.js';
import type { VfioHolder } from '../vfio/views.js';
import { type1Backend } from '../vfio/state.js';
import { sourceIdOf } from './forward.js';
import type { PassthroughState } from './types.js';

export interface IommuReach {
  readonly deviceId: number;
  /** `page-table`: a present leaf; `iotlb`: a cached translation (possibly stale). */
  readonly via: 'page-table' | 'iotlb' | 'identity';
  readonly iovaPage: number;
  readonly mfn: number;
  readonly write: boolean;
}

// Several invariants read the same view of the same finished state; states are never modified once
// a step has returned them, so the views are memoized by state object.
const reachMemo = new WeakMap<PassthroughState, IommuReach[]>();
const holdersMemo = new WeakMap<PassthroughState, PassthroughHolder[][]>();

/**
 * Every frame each open assigned device can reach through the IOMMU now (frames that exist only).
 * Memoized: call it on finished states only, never on a draft a step is still editing.
 */
export function iommuReach(state: PassthroughState): readonly IommuReach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  const reach = computeIommuReach(state);
  reachMemo.set(state, reach);
  return reach;
}

/** `iommuReach` unmemoized; `firstLevel` is the guest's table when a device is attached to a nested domain. */
export function computeIommuReach(state: PassthroughState, firstLevel: FirstLevelTable = {}): IommuReach[] {
  const reach: IommuReach[] = [];
  const frameCount = state.vfio.memory.frames.length;
  for (const device of state.vfio.devices) {
    if (!device.open || device.kind !== 'pci') continue;
    for (const extent of reachableByDevice(state.iommu, sourceIdOf(device.id), firstLevel)) {
      const last = Math.min(extent.frame + extent.pages, frameCount);
      for (let mfn = extent.frame; mfn < last; mfn++) {
        const iovaPage = extent.iovaPage + (mfn - extent.frame);
        reach.push({ deviceId: device.id, via: extent.via, iovaPage, mfn, write: extent.write });
      }
    }
  }
  return reach;
}

/** A holder of a frame in the composed stack. */
export type PassthroughHolder = VfioHolder | { readonly kind: 'flush hold'; readonly seq: number };

export function describePassthroughHolder(holder: PassthroughHolder): string {
  return holder.kind === 'flush hold'
    ? `held until flush-queue entry ${holder.seq} is flushed`
    : describeHolder(holder);
}

/** Holders of every frame, indexed by mfn: VFIO's, and the references kept until a flush (memoized). */
export function passthroughFrameHolders(state: PassthroughState): readonly (readonly PassthroughHolder[])[] {
  const known = holdersMemo.get(state);
  if (known !== undefined) return known;
  const holders: PassthroughHolder[][] = frameHolders(state.vfio);
  for (const hold of state.held) holders[hold.mfn]?.push({ kind: 'flush hold', seq: hold.seq });
  holdersMemo.set(state, holders);
  return holders;
}

export interface IommuDisagreement {
  readonly domainId: number;
  readonly iovaPage: number;
  /** What VFIO recorded (`mfn n rw`) and what the IOMMU's page table holds, or `none`. */
  readonly vfio: string;
  readonly iommu: string;
}

function prot(read: boolean, write: boolean): string {
  return `${read ? 'r' : '-'}${write ? 'w' : '-'}`;
}

/**
 * Pages where the IOMMU's page tables (a real walk) differ from VFIO's domains: every translation
 * VFIO programmed must be there with its frame and permissions, and nothing else. A VFIO domain
 * without an IOMMU domain counts every translation as missing.
 */
export function iommuDisagreements(state: PassthroughState): IommuDisagreement[] {
  const problems: IommuDisagreement[] = [];
  for (const domain of type1Backend(state.vfio)?.domains ?? []) {
    const did = state.dids[domain.id];
    const leaves = new Map<number, string>();
    for (const leaf of did === undefined ? [] : domainTranslations(state.iommu, did)) {
      for (let i = 0; i < leaf.pages; i++)
        leaves.set(leaf.iovaPage + i, `mfn ${leaf.frame + i} ${prot(leaf.read, leaf.write)}`);
    }
    for (const [key, translation] of Object.entries(domain.translations)) {
      const iovaPage = Number(key);
      const expected = `mfn ${translation.mfn} ${prot(translation.read, translation.write)}`;
      const actual = leaves.get(iovaPage) ?? 'none';
      leaves.delete(iovaPage);
      if (actual !== expected) problems.push({ domainId: domain.id, iovaPage, vfio: expected, iommu: actual });
    }
    for (const [iovaPage, actual] of leaves)
      problems.push({ domainId: domain.id, iovaPage, vfio: 'none', iommu: actual });
  }
  return problems;
}
