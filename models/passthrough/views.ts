/**
 * Read-only views of the passthrough stack for invariants: what the assigned devices can reach
 * through the VT-d model (page table and IOTLB, stale entries included), and with them what the
 * emulated devices of a mixed container reach through their drivers' pins; who holds each frame
 * (VFIO's holders plus the stack's flush holds), and where the IOMMU's page tables disagree with
 * the translations VFIO believes it programmed.
 */
import { domainLeaves } from '../iommu/page-table.js';
import { pairMemo } from '../pair-memo.js';
import type { FirstLevelTable, IommuDomain, IommuState, LeafAt } from '../iommu/types.js';
import { getDomain } from '../iommu/state.js';
import { reachableByDevice } from '../iommu/views.js';
import { describeHolder, emulatedDeviceReach, frameHolders, inflightDmaReach } from '../vfio/views.js';
import type { VfioState } from '../vfio/types.js';
import type { VfioHolder } from '../vfio/views.js';
import { type1Backend } from '../vfio/state.js';
import { sourceIdOf } from './forward.js';
import type { PassthroughState } from './types.js';

export interface IommuReach {
  readonly deviceId: number;
  /**
   * `page-table`: a present leaf; `iotlb`: a cached translation (possibly stale); `pin`: a page an
   * emulated device's driver holds, reached with no IOMMU on the path (`deviceReach`);
   * `in-flight`: a DMA request already translated to the frame and not yet landed.
   */
  readonly via: 'page-table' | 'iotlb' | 'identity' | 'pin' | 'in-flight';
  readonly iovaPage: number;
  readonly mfn: number;
  readonly write: boolean;
}

// Several invariants read the same view of the same finished state; states are never modified once
// a step has returned them, so the views are memoized by state object.
const reachMemo = new WeakMap<PassthroughState, IommuReach[]>();
const holdersMemo = pairMemo<VfioState, PassthroughState['held'], PassthroughHolder[][]>();

/**
 * Every frame each assigned device can reach through the IOMMU now (frames that exist only): the
 * open ones, and with the lifecycle modelled the closed ones too.
 * Memoized: call it on finished states only, never on a draft a step is still editing.
 */
export function iommuReach(state: PassthroughState): readonly IommuReach[] {
  const known = reachMemo.get(state);
  if (known !== undefined) return known;
  // The reach reads the IOMMU, which devices are open and how many frames exist. A step that
  // changed only VFIO's books (a touch, an mmap, a refused request) hands on the same IOMMU
  // object, so the reach of the state before it is reused when the open devices are the same.
  const devices = openPciDevices(state);
  const sameIommu = reachByIommu.get(state.iommu);
  const reach = sameIommu !== undefined && sameIommu.devices === devices ? sameIommu.reach : computeIommuReach(state);
  reachByIommu.set(state.iommu, { devices, reach });
  reachMemo.set(state, reach);
  return reach;
}

const reachByIommu = new WeakMap<IommuState, { readonly devices: string; readonly reach: IommuReach[] }>();

/** The open PCI devices and the frame count, as a key: the rest of what the reach reads. */
function openPciDevices(state: PassthroughState): string {
  let key = String(state.vfio.memory.frames.length);
  for (const device of state.vfio.devices) if (issuesDma(state, device)) key += `,${device.id}`;
  return key;
}

/**
 * Whether a device's DMA goes through the IOMMU: a vfio-pci device with its fd open, or with the
 * lifecycle modelled any vfio-pci device (closing the fd does not stop the hardware).
 */
function issuesDma(state: PassthroughState, device: { readonly open: boolean; readonly kind: string }): boolean {
  return device.kind === 'pci' && (device.open || state.defaults !== undefined);
}

// A finished state's page tables never change either, and a step that leaves them alone (a DMA
// fills only the IOTLB) hands on the same table pool and domain objects: each domain's leaves are
// memoized by those two, so such a step recomputes only the IOTLB's part of the reach.
const leavesMemo = pairMemo<IommuState['tables'], IommuDomain, readonly LeafAt[]>();

function finishedDomainLeaves(iommu: IommuState, domain: IommuDomain): readonly LeafAt[] {
  return leavesMemo(iommu.tables, domain, () => domainLeaves(iommu, domain));
}

/**
 * `iommuReach` unmemoized (on finished states only: the leaves are); `firstLevel` is the guest's
 * table when a device is attached to a nested domain.
 */
export function computeIommuReach(state: PassthroughState, firstLevel: FirstLevelTable = {}): IommuReach[] {
  const reach: IommuReach[] = [];
  const frameCount = state.vfio.memory.frames.length;
  const leavesOf = (domain: IommuDomain): readonly LeafAt[] => finishedDomainLeaves(state.iommu, domain);
  for (const device of state.vfio.devices) {
    if (!issuesDma(state, device)) continue;
    for (const extent of reachableByDevice(state.iommu, sourceIdOf(device.id), firstLevel, leavesOf)) {
      const last = Math.min(extent.frame + extent.pages, frameCount);
      for (let mfn = extent.frame; mfn < last; mfn++) {
        const iovaPage = extent.iovaPage + (mfn - extent.frame);
        reach.push({ deviceId: device.id, via: extent.via, iovaPage, mfn, write: extent.write });
      }
    }
  }
  return reach;
}

const stackReachMemo = new WeakMap<PassthroughState, readonly IommuReach[]>();

/**
 * Every frame any open device of the stack can reach: the vfio-pci devices through the IOMMU
 * (`iommuReach`) and through their requests already translated and not yet landed, and the
 * emulated devices' pinned pages and I/O in flight, which no IOMMU translates. Memoized like `iommuReach`: finished states only.
 */
export function stackReach(state: PassthroughState): readonly IommuReach[] {
  const known = stackReachMemo.get(state);
  if (known !== undefined) return known;
  const emulated = [...emulatedDeviceReach(state.vfio), ...inflightDmaReach(state.vfio)];
  const reach =
    emulated.length === 0
      ? iommuReach(state)
      : [
          ...iommuReach(state),
          ...emulated.map((found): IommuReach => ({
            deviceId: found.deviceId,
            via: found.via === 'in-flight' ? 'in-flight' : 'pin',
            iovaPage: found.addressPage,
            mfn: found.mfn,
            write: found.write,
          })),
        ];
  stackReachMemo.set(state, reach);
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
  // They read VFIO and the flush holds alone, which a DMA or an IOMMU-only step hands on as the
  // same objects: memoized by those two.
  return holdersMemo(state.vfio, state.held, () => {
    const holders: PassthroughHolder[][] = frameHolders(state.vfio);
    for (const hold of state.held) holders[hold.mfn]?.push({ kind: 'flush hold', seq: hold.seq });
    return holders;
  });
}

export interface IommuDisagreement {
  readonly domainId: number;
  readonly iovaPage: number;
  /** What VFIO recorded (`mfn n rw`) and what the IOMMU's page table holds, or `none`. */
  readonly vfio: string;
  readonly iommu: string;
}

interface PageTranslation {
  readonly mfn: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** `mfn 7 rw`, or `none`. */
function describe(page: PageTranslation | undefined): string {
  return page === undefined ? 'none' : `mfn ${page.mfn} ${page.read ? 'r' : '-'}${page.write ? 'w' : '-'}`;
}

/**
 * Pages where the IOMMU's page tables (a real walk) differ from VFIO's domains: every translation
 * VFIO programmed must be there with its frame and permissions, and nothing else. A VFIO domain
 * without an IOMMU domain counts every translation as missing. (Finished states only: the walk's
 * leaves are memoized.)
 */
export function iommuDisagreements(state: PassthroughState): IommuDisagreement[] {
  const problems: IommuDisagreement[] = [];
  for (const domain of type1Backend(state.vfio)?.domains ?? []) {
    const did = state.dids[domain.id];
    const iommuDomain = did === undefined ? undefined : getDomain(state.iommu, did);
    // Page by page: the frame and permissions the page table gives each IOVA page.
    const leaves = new Map<number, PageTranslation>();
    for (const leaf of iommuDomain === undefined ? [] : finishedDomainLeaves(state.iommu, iommuDomain)) {
      for (let i = 0; i < leaf.pages; i++)
        leaves.set(leaf.iovaPage + i, { mfn: leaf.frame + i, read: leaf.read, write: leaf.write });
    }
    for (const [key, translation] of Object.entries(domain.translations)) {
      const iovaPage = Number(key);
      const actual = leaves.get(iovaPage);
      leaves.delete(iovaPage);
      const same =
        actual !== undefined &&
        actual.mfn === translation.mfn &&
        actual.read === translation.read &&
        actual.write === translation.write;
      if (!same) problems.push({ domainId: domain.id, iovaPage, vfio: describe(translation), iommu: describe(actual) });
    }
    for (const [iovaPage, actual] of leaves)
      problems.push({ domainId: domain.id, iovaPage, vfio: 'none', iommu: describe(actual) });
  }
  return problems;
}
