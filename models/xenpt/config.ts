/**
 * Configuration of the Xen passthrough stack: the world, the quarantine mode, and the hooks at
 * Xen's decision points that a design supplies (sound ones are Xen's at the pinned commit; the
 * flawed variants of `properties/xenpt/designs.ts` use the same hooks).
 */
import type { XenConfig } from '../xen/config.js';
import type { QuarantineMode, QuarantineScratch } from '../xen/pci.js';
import type { IommuPte } from '../xen/types.js';

/** One domain of the world: its kind, RAM and IOMMU context. */
export interface XenPtDomainSpec {
  readonly translated: boolean;
  readonly privileged: boolean;
  readonly initialGfns: readonly number[];
  /** HVM: share the EPT with the IOMMU (`iommu_use_hap_pt`) or keep a table in sync. Ignored for PV. */
  readonly sharePt: boolean;
  /**
   * XEN_DOMCTL_createdomain's `max_grant_version` (xl.cfg `max_grant_version`); absent: 2. The
   * default world creates its PV domains with 1: a PV domain's v2 status frames are shared with it
   * read-only (`share_xen_page_with_guest(..., SHARE_ro)`: type none, count 1), which the model's
   * page types leave out, so a PV domain never switches to v2 here.
   */
  readonly maxGrantVersion?: 1 | 2;
}

export interface XenPtWorld {
  readonly frames: number;
  /** Domain `i` gets domid `i`; domain 0 is the hardware domain. */
  readonly domains: readonly XenPtDomainSpec[];
  /** Device `i`'s owner at start (assigned by the toolstack when the guest was built). */
  readonly devices: readonly number[];
  readonly grantEntries: number;
  readonly maptrackHandles: number;
  /** gfns (and dfns) the generators use: 0 … gfnSpace − 1. */
  readonly gfnSpace: number;
  /** Domains whose grant-table frames are host frames (they map them: XENMAPSPACE_grant_table). */
  readonly grantTableFrames?: readonly number[];
}

/**
 * The deferred IOTLB flush of XENMEM_add_to_physmap's batches (xen/common/memory.c
 * `xenmem_add_to_physmap`, `guest_remove_page`): since XSA-346 the page moved is held until the
 * flush of its old dfn, and a page freed inside the batch is flushed at once.
 */
export interface DeferredFlush {
  readonly name: string;
  /**
   * When the moved page's reference (`pages[i]`) is put: after the flush of its old dfn (Xen's
   * since XSA-346), before it, or both (a fix applied on top of the old put).
   */
  readonly putsPage: 'after-flush' | 'before-flush' | 'before-and-after-flush';
  /** `guest_remove_page` clears `iommu_dont_flush_iotlb` around `guest_physmap_remove_page`. */
  readonly removeFlushesNow: boolean;
  /**
   * The deferred `iommu_iotlb_flush` is passed its flags (`IOMMU_FLUSHF_modified`, `_added`);
   * without them it returns at once (`!flush_flags`), having flushed nothing.
   */
  readonly passesFlushFlags: boolean;
  /** `xenmem_add_to_physmap_one`'s error path (`put_both`) puts the page reference it took. */
  readonly putsPageOnError: boolean;
}

export const soundDeferredFlush: DeferredFlush = {
  name: 'xen',
  putsPage: 'after-flush',
  removeFlushesNow: true,
  passesFlushFlags: true,
  putsPageOnError: true,
};

/**
 * The p2m → IOMMU sync of a domain that does not share its p2m (`ept_set_entry` /
 * p2m-pt.c `p2m_pt_set_entry`: `need_iommu_pt_sync(d)` → `iommu_legacy_map` / `iommu_legacy_unmap`
 * whenever the entry's IOMMU flags or mfn change).
 */
export interface IommuSync {
  readonly name: string;
  /** Does this change of the entry's IOMMU view reach the IOMMU table? */
  readonly propagates: (old: IommuPte | null, next: IommuPte | null) => boolean;
}

export const soundIommuSync: IommuSync = { name: 'xen', propagates: () => true };

/**
 * Where `domain_relinquish_resources` (xen/arch/x86/domain.c) releases the domain's devices
 * (`pci_release_devices`, then `iommu_free_pgtables`): first, before `relinquish_p2m_mapping` and
 * `relinquish_memory` free its memory (Xen's), or after.
 */
export interface PassthroughTeardown {
  readonly name: string;
  readonly devicesBeforeMemory: boolean;
}

export const soundPassthroughTeardown: PassthroughTeardown = { name: 'xen', devicesBeforeMemory: true };

export interface XenPtConfig {
  readonly world: XenPtWorld;
  readonly xen: XenConfig;
  readonly quarantine: QuarantineMode;
  readonly scratch: QuarantineScratch;
  readonly deferredFlush: DeferredFlush;
  readonly iommuSync: IommuSync;
  readonly teardown: PassthroughTeardown;
}

/** The hardware domain (the toolstack's domain, the caller of every domctl). */
export const HARDWARE_DOMID = 0;

/**
 * The default world: dom0, PV hardware domain (`dom0-iommu=strict`: its table maps its own pages);
 * dom1, an HVM guest with device 0 and its grant-table frame a host frame; dom2, a PV guest with
 * device 1; ten grant entries (refs 8 and 9 beyond the reserved ones); twelve frames, four free (the grant-table frame is the fifth).
 */
export function defaultXenPtWorld(hvmSharePt: boolean): XenPtWorld {
  return {
    frames: 12,
    domains: [
      { translated: false, privileged: true, initialGfns: [0, 1], sharePt: false, maxGrantVersion: 1 },
      { translated: true, privileged: false, initialGfns: [0, 1, 2], sharePt: hvmSharePt },
      { translated: false, privileged: false, initialGfns: [0, 1], sharePt: false, maxGrantVersion: 1 },
    ],
    devices: [1, 2],
    grantEntries: 10,
    maptrackHandles: 2,
    gfnSpace: 4,
    grantTableFrames: [1],
  };
}
