/**
 * Plain-data state of the Xen passthrough stack: Xen's state (domains, p2m, grants, memory, each
 * domain's IOMMU context), the PCI devices, the hardware IOTLB, and the operations in flight.
 */
import type { PciDev } from '../xen/pci.js';
import type { XenState } from '../xen/types.js';

/** Where a translation lands: a machine frame, or a device's quarantine scratch page (by id). */
export type DmaTarget =
  { readonly kind: 'frame'; readonly mfn: number } | { readonly kind: 'scratch'; readonly id: number };

/** One IOTLB entry: a translation the IOMMU cached for a context (DID) and dfn. */
export interface IotlbEntry {
  readonly target: DmaTarget;
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * An IOMMU context as the IOTLB tags it: a domain's DID (`dom3`: the model uses the domid) or a
 * quarantined device's pseudo domain id (`q1`: `pdev->arch.pseudo_domid`).
 */
export type ContextId = string;

/** A DMA issued by a device's driver and not yet performed (`dma` with `phased`). */
export interface DmaInFlight {
  readonly kind: 'dma';
  readonly device: number;
  readonly dfn: number;
  readonly write: boolean;
  /** The device's owner when the DMA was issued: whose request it is. */
  readonly issuer: number;
}

/**
 * XENMEM_add_to_physmap (XENMAPSPACE_gmfn_range, one extent) between its loop and the deferred
 * IOTLB flush: the page reference taken for the flush (`pages[i]`), unless the design put it.
 */
export interface MoveGfnInFlight {
  readonly kind: 'moveGfn';
  readonly domid: number;
  readonly idx: number;
  readonly gpfn: number;
  /** The frame moved, on which the operation holds a reference until the flush; null: none held. */
  readonly heldMfn: number | null;
}

/** XEN_DOMCTL_destroydomain between its calls: the stages still to run, in order. */
export interface DestroyInFlight {
  readonly kind: 'destroyDomain';
  readonly domid: number;
  /** The incarnation being destroyed: a domain created at the domid meanwhile is another. */
  readonly incarnation: number;
  readonly stages: readonly TeardownStep[];
}

/** The stages of a passthrough domain's destruction after `domain_kill`'s first call. */
export type TeardownStep = 'release-devices' | 'relinquish-memory';

/** GNTTABOP_copy between its claims and its memcpy (models/xenpt/grant-v2.ts): the segment is in the caller's `grantCopies`. */
export interface GrantCopyOp {
  readonly kind: 'grantCopy';
  readonly callerDomid: number;
  readonly incarnation: number;
}

export type XenPtOp = DmaInFlight | MoveGfnInFlight | DestroyInFlight | GrantCopyOp;

export interface XenPtState {
  readonly xen: XenState;
  readonly devices: readonly PciDev[];
  /** `${context}/${dfn}` → the cached translation. */
  readonly iotlb: Readonly<Record<string, IotlbEntry>>;
  readonly inflight: readonly XenPtOp[];
}

/** One DMA access as the step reports it. */
export interface DmaAccess {
  readonly device: number;
  readonly dfn: number;
  readonly write: boolean;
  readonly issuer: number;
  /** The device's owner when the access was made. */
  readonly owner: number;
  /** How it was translated: a cached IOTLB entry, or a walk of the context. */
  readonly via: 'iotlb' | 'walk';
  /** Where it landed; null: it faulted. */
  readonly target: DmaTarget | null;
  /** The landed frame's owner at the access (null: free); undefined for a scratch page or a fault. */
  readonly frameOwner?: number | null;
}
