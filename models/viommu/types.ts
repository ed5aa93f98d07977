/**
 * Plain-data state of the vIOMMU stack (docs/debates.md#viommu-shadow-or-nested,
 * docs/reference/viommu.md §7): a guest with an emulated VT-d and an assigned device, over the
 * host's VFIO type1 and VT-d models (the passthrough stack, strict mode). The guest's vIOMMU table
 * is guest memory: GIOVA page → GPA page with a write bit. How the device reaches memory depends on
 * the design:
 *
 * - `shadow`: the vIOMMU reports caching mode, so the guest invalidates after every map and unmap;
 *   the VMM traps each invalidation, walks the guest's table over the invalidated range and issues
 *   VFIO MAP_DMA / UNMAP_DMA with IOVA = GIOVA, so the host IOMMU holds GIOVA → frame;
 * - `nested`: the VMM maps all guest RAM once with IOVA = GPA into a nesting-parent domain (stage
 *   2) and binds the guest's table as the first level of a nested domain the device is attached
 *   to; the host IOMMU walks both levels and caches combined entries; the guest's invalidations are
 *   trapped and forwarded to the nested domain (IOMMU_HWPT_INVALIDATE).
 *
 * Guest RAM is the VMM process's memory: GPA page p is vaddr page `guestRam.vaddrPage + p`.
 *
 * Left out: the emulated vIOMMU's registers, root table and its invalidation queue (each
 * invalidation is one descriptor and one exit; the context entry and, in scalable mode, the
 * RID_PASID entry are kept as the DID they name: `lifecycle.ts`, `pasid.ts`), several guest domains or devices (one
 * guest domain, DID `GUEST_DID`), guest superpages, interrupt remapping, ATS. There is no flush
 * queue in this stack: the host's VFIO domains are strict (`unmanaged`), caching mode forces the
 * guest's vIOMMU driver to strict in shadow mode (§3.4), and a nested guest that defers its
 * invalidations is a guest that unmaps now and invalidates later, which the commands express.
 */
import type { FirstLevelEntry } from '../iommu/types.js';
import type { PassthroughConfig, PassthroughState } from '../passthrough/types.js';
import type { DmaAccess } from '../vfio/types.js';
import type { OpResult } from '../result.js';
import type { InvalidatedRange, VmmHooks, VmmRequest } from './vmm-hooks.js';

export type ViommuMode = 'shadow' | 'nested';
export const viommuModes: readonly ViommuMode[] = ['shadow', 'nested'];

/** The DID the guest's vIOMMU driver gave its one domain; an invalidation naming another is misdirected. */
export const GUEST_DID = 1;

/**
 * Deliberate bugs of the VMM (named deviations from what it must do), each a flawed built-in
 * handler of a trapped invalidation (`vmm-hooks.ts`). Both only hurt the guest: the host's pins
 * keep every frame the device can reach owned by the guest. The differential property (shadow and
 * nested agree) catches them.
 */
export const vmmBugs = [
  /** shadow: the trapped invalidation's handler maps what the guest added but never unmaps what it removed. */
  'shadow-misses-unmap',
  /** nested: the VMM traps the guest's invalidation but does not forward it to the nested domain. */
  'nested-drops-invalidation',
  /**
   * shadow: the VMM completes the guest's wait descriptor before it makes its UNMAP_DMA and MAP_DMA
   * requests (the built-in handler's requests, with the wait first): the guest's invalidation
   * returns while the host still maps what it cleared. Only an interleaving shows it (`phased.ts`).
   */
  'shadow-completes-wait-before-unmap',
  /**
   * shadow: a context-cache invalidation that finds the device's context entry cleared returns
   * without unmapping the device's shadow mappings, as QEMU's shadow sync did before it learnt that
   * a non-present context entry is valid ("intel-iommu: handle invalid ce for shadow sync", 2018):
   * the device keeps reaching what its detached guest domain mapped (`lifecycle.ts`).
   */
  'shadow-context-clear-keeps-shadow',
  /**
   * Either mode: the VMM skips a context-cache invalidation's resync (shadow: the whole-range replay;
   * nested: the flush of the nested domain's cached first-level translations) when the device's
   * context entry names the DID of its cached copy, taking a reused DID for "the device did not
   * move": the new domain inherits the earlier one's translations (`lifecycle.ts`).
   */
  'context-sync-skips-same-did',
  /**
   * shadow: turning translation back on (GCMD.TE), the VMM replays the guest's table but keeps the
   * no-DMAR mappings (all of guest RAM at IOVA = GPA) the table does not overwrite: the device keeps
   * reaching the guest's whole RAM through a vIOMMU the guest believes enabled (`lifecycle.ts`).
   */
  'shadow-te-on-keeps-no-dmar',
  /**
   * scalable mode: the VMM accepts a PASID-cache invalidation and does nothing with it, as QEMU did
   * before "intel_iommu: Handle PASID cache invalidation" and "Fix DMA failure when guest switches
   * IOMMU domain" (Zhenzhong Duan, 2025, first in v10.2.0; v9.2 `vtd_process_inv_desc`: "just
   * return true is enough so far"): a RID_PASID entry the guest cleared keeps its shadow, since no
   * IOTLB invalidation reaches a device whose RID_PASID entry is not present (`pasid.ts`).
   */
  'pasid-cache-ignored',
  /**
   * scalable mode: the VMM unmaps the shadow of a RID_PASID entry that is no longer valid only when
   * its PASID cache held the entry, as QEMU v10.2.0 `vtd_pasid_cache_sync_locked` does ("if
   * (!pc_entry->valid) return;"): a shadow built from guest memory while the cache was empty (after
   * a GCMD.TE switch, which empties it, or a setup without a PASID-cache invalidation) outlives the
   * entry (`pasid.ts`).
   */
  'pasid-invalid-unmap-needs-cache',
] as const;
export type VmmBug = (typeof vmmBugs)[number];

/**
 * What a vIOMMU design has that a VMM bug needs: `shadow-mode` (a caching-mode vIOMMU the VMM
 * shadows), `nested-mode` (a nested domain the VMM forwards to), `builtin-invalidation` (the
 * mode's built-in invalidation handler, which each bug replaces with its flawed twin),
 * `builtin-context` (the mode's built-in context-cache invalidation handler), `device-lifecycle`
 * (a guest that detaches the device or moves it to another domain).
 */
export type VmmFeature =
  | 'shadow-mode'
  | 'nested-mode'
  | 'builtin-invalidation'
  | 'builtin-context'
  | 'builtin-translation'
  | 'device-lifecycle'
  | 'scalable-mode'
  | 'builtin-pasid-cache';

/** How a refusal says a design lacks a feature: "the <design> …". */
export const vmmFeatureMissing: Readonly<Record<VmmFeature, string>> = {
  'shadow-mode': 'is not a shadow (caching-mode) vIOMMU',
  'nested-mode': 'has no nested domain',
  'builtin-invalidation': 'handles trapped invalidations with its own hook',
  'builtin-context': 'handles context-cache invalidations with its own hook',
  'builtin-translation': 'handles GCMD.TE switches with its own hook',
  'device-lifecycle': 'runs a guest program that never detaches the device nor moves it to another domain',
  'scalable-mode':
    "runs its guest in legacy mode (no scalable mode: the device's domain is not named by a RID_PASID entry)",
  'builtin-pasid-cache': 'handles PASID-cache invalidations with its own hook',
};

/** What each VMM bug needs, and what then never happens (the refusal's "so …"). */
export const vmmBugNeeds: Readonly<
  Record<VmmBug, { readonly needs: readonly VmmFeature[]; readonly otherwise: string }>
> = {
  'shadow-misses-unmap': {
    needs: ['shadow-mode', 'builtin-invalidation'],
    otherwise: 'no shadow replay of the guest table runs for the bug to skip its unmaps',
  },
  'nested-drops-invalidation': {
    needs: ['nested-mode', 'builtin-invalidation'],
    otherwise: 'no built-in forwarding to a nested domain runs for the bug to drop',
  },
  'shadow-completes-wait-before-unmap': {
    needs: ['shadow-mode', 'builtin-invalidation'],
    otherwise: 'no shadow replay of the guest table runs for the bug to reorder',
  },
  'shadow-context-clear-keeps-shadow': {
    needs: ['shadow-mode', 'builtin-context', 'device-lifecycle'],
    otherwise: 'no shadow sync of the address space runs for the bug to cut short',
  },
  'context-sync-skips-same-did': {
    needs: ['builtin-context', 'device-lifecycle'],
    otherwise: 'no built-in context-cache handling runs for the bug to skip',
  },
  'shadow-te-on-keeps-no-dmar': {
    needs: ['shadow-mode', 'builtin-translation', 'device-lifecycle'],
    otherwise: 'no shadow refresh of the address space runs for the bug to cut short',
  },
  'pasid-cache-ignored': {
    needs: ['scalable-mode', 'builtin-pasid-cache', 'device-lifecycle'],
    otherwise: 'no PASID-cache invalidation reaches the built-in PASID-cache sync for the bug to ignore',
  },
  'pasid-invalid-unmap-needs-cache': {
    needs: ['scalable-mode', 'builtin-pasid-cache', 'device-lifecycle'],
    otherwise: 'no PASID-cache invalidation reaches the built-in PASID-cache sync for the bug to gate',
  },
};

export interface ViommuConfig {
  readonly mode: ViommuMode;
  /**
   * The guest runs the vIOMMU in scalable mode (QEMU `x-scalable-mode=on`, shadow mode only): the
   * device's context entry names a PASID table, and its RID_PASID entry names the guest domain
   * (DID, second-level table) the device's requests without PASID use (`pasid.ts`).
   */
  readonly scalable: boolean;
  /** The VMM: what it does with a trapped invalidation and a balloon request (`vmm-hooks.ts`). */
  readonly vmm: VmmHooks;
  /** The VMM bugs its hooks carry (for reports; the hooks already are the flawed ones). */
  readonly vmmBugs: readonly VmmBug[];
  /** The host: VFIO over VT-d (always strict: VFIO's domains are `unmanaged`). */
  readonly host: PassthroughConfig;
}

/** Where the guest's RAM sits in the VMM process: GPA pages [0, pages) at vaddr pages from `vaddrPage`. */
export interface GuestRam {
  readonly vaddrPage: number;
  readonly pages: number;
}

export interface GuestState {
  /** The vIOMMU table, in guest memory: GIOVA page (decimal key) → entry; absent = not present. */
  table: Record<string, FirstLevelEntry>;
  /** GPA pages the balloon driver holds (given back to the host), ascending. */
  ballooned: number[];
  /**
   * GIOVA pages the guest cleared whose invalidation has completed (its wait descriptor returned),
   * ascending: the vIOMMU's contract is that the device reaches nothing through them until the
   * guest maps them again (VT-d: an invalidation wait completes after every invalidation before
   * it). A page leaves the list when the guest maps it.
   */
  invalidated: number[];
  /**
   * The device's context entry as the guest last wrote it: the DID of the guest domain the device is
   * attached to, or null when the guest cleared it (blocked: `device_block_translation`). Starts at
   * `GUEST_DID` (`lifecycle.ts`).
   */
  did: number | null;
  /**
   * The guest wrote the device's context entry and has not yet seen a context-cache invalidation
   * issued after that write complete: until it does, the vIOMMU may still translate through the
   * earlier context (VT-d §6.5.2.1, caching mode: software invalidates after every context change).
   */
  contextPending: boolean;
  /**
   * GIOVA pages the device could reach through an earlier guest domain (or the VMM had shadowed for
   * it) when the guest rewrote the context entry, ascending: once the context-cache invalidation
   * completes, the device reaches nothing through them until the domain now attached maps them. A
   * page leaves the list when the guest maps it.
   */
  retired: number[];
  /**
   * GCMD.TE as the guest last set it (QEMU `dmar_enabled`): with translation off every device uses
   * the no-DMAR region, all of guest RAM at IOVA = GPA, and the context entries and the guest's
   * table are ignored (`lifecycle.ts`). Starts on.
   */
  translation: boolean;
  /**
   * Scalable mode: the invalidations the guest still owes its last RID_PASID entry writes (VT-d
   * §6.5.2.1, caching mode: a PASID-cache invalidation, then an IOTLB invalidation of the entry's
   * domain), null when it owes none; `contextPending` is true exactly while it is not null
   * (`pasid.ts`). Always null in legacy mode.
   */
  pasidFlush: PasidFlush | null;
}

/**
 * The invalidations a scalable-mode guest owes after writing the device's RID_PASID entry (Linux
 * v6.12 drivers/iommu/intel/pasid.c: `intel_pasid_tear_down_entry` issues a PASID-selective
 * PASID-cache invalidation, then a domain-selective IOTLB invalidation of the old DID;
 * `pasid_flush_caches` after `intel_pasid_setup_second_level`, a PASID-selective PASID-cache
 * invalidation, then a PASID-based IOTLB invalidation of the whole PASID with the new DID).
 */
export interface PasidFlush {
  /** `pasid-cache`: the PASID-cache invalidation is still owed; `iotlb`: it completed, the IOTLB one is owed. */
  readonly stage: 'pasid-cache' | 'iotlb';
  /** The DIDs the entries written since the guest last owed nothing named (before and after each write), ascending. */
  readonly dids: readonly number[];
}

/**
 * The VMM's cached copy of the device's RID_PASID entry (QEMU v10.2.0 `vtd_as->pasid_cache_entry`):
 * its DID, and whether the guest's entry is still the one cached (QEMU compares the two with
 * `memcmp`; every write of the model's guest names a new second-level table, so any write since
 * the cache was filled makes them differ).
 */
export interface PasidCacheEntry {
  readonly did: number;
  readonly current: boolean;
}

export interface ViommuState {
  /** VFIO (the VMM process, pins, mappings) over the host's VT-d. */
  host: PassthroughState;
  guest: GuestState;
  readonly guestRam: GuestRam;
  /** nested: the DID of the host's nested domain the device is attached to; null in shadow. */
  readonly nestedDid: number | null;
  /**
   * The VMM's cached copy of the device's context entry (QEMU `vtd_as->context_cache_entry`): the
   * DID it last synced the device's address space to, null for a cleared entry. Refreshed by each
   * context-cache invalidation the VMM handles (`lifecycle.ts`).
   */
  contextCache: number | null;
  /** The guest runs its vIOMMU in scalable mode (`ViommuConfig.scalable`): `guest.did` is its RID_PASID entry's. */
  readonly scalable: boolean;
  /** Scalable mode: the VMM's PASID cache of the device's RID_PASID entry, null when not valid (`pasid.ts`). */
  pasidCache: PasidCacheEntry | null;
  /** A trapped invalidation the VMM is handling, phase by phase (`phased.ts`); at most one. */
  inflight: InvalidationOp[];
}

/**
 * A guest invalidation in flight (`phased.ts`): the guest has written its invalidation and wait
 * descriptors and the queue tail, and the VMM is handling the trap.
 */
export interface InvalidationOp {
  /** An IOTLB invalidation, or a context-cache invalidation (`lifecycle.ts`). */
  readonly kind: 'guestInvalidate' | 'guestInvalidateContext';
  /**
   * A context-cache invalidation: the context entry the VMM read at the trap (the DID, null when
   * cleared), and whether it still covers the guest's last context write (a later write leaves it
   * covering an earlier one). Absent for an IOTLB invalidation.
   */
  readonly context?: { readonly did: number | null; readonly covers: boolean };
  /** The GIOVA pages invalidated. */
  readonly range: InvalidatedRange;
  /** GIOVA pages of the range the device could reach, and the guest's table did not map, when it submitted. */
  readonly cleared: readonly number[];
  /**
   * Scalable mode: completing this invalidation's wait settles the IOTLB invalidation the guest owes
   * its RID_PASID entry writes (a later write leaves it settling nothing).
   */
  readonly pasidStep?: boolean;
  /** The VMM's requests not made yet, in order (the wait descriptor's completion among them). */
  readonly requests: readonly VmmRequest[];
  /** A MAP_DMA or UNMAP_DMA of the VMM's is in flight on the host (advanced one host phase at a time). */
  readonly hostBusy: boolean;
  /** The wait descriptor has completed: the guest's vCPU has gone on. */
  readonly waitDone: boolean;
}

/**
 * Commands. Guest: write or clear an entry of its vIOMMU table (no exit), invalidate (one exit;
 * correct or not: any DID, any aligned block), balloon a RAM page out or back in (one exit), touch
 * a RAM page. Host: the VMM drops a RAM page on its own (madvise), another owner takes or gives
 * back a frame. Device: a DMA at a GIOVA page.
 */
export type ViommuCommand =
  | { readonly kind: 'guestMap'; readonly giovaPage: number; readonly gpaPage: number; readonly write: boolean }
  | { readonly kind: 'guestUnmap'; readonly giovaPage: number }
  | {
      readonly kind: 'guestInvalidate';
      /** `page`: page-selective (2^mask pages at giovaPage); `domain`: the whole DID; `global`: everything. */
      readonly granularity: InvalidationGranularity;
      readonly did: number;
      /** Ignored unless page-selective. */
      readonly giovaPage: number;
      readonly mask: number;
      /** Start it and leave the VMM's handling in flight (`phased.ts`); without, it runs to the end. */
      readonly phased?: boolean;
    }
  | { readonly kind: 'guestBalloonOut'; readonly gpaPage: number }
  | { readonly kind: 'guestBalloonIn'; readonly gpaPage: number }
  | { readonly kind: 'guestTouch'; readonly gpaPage: number }
  | { readonly kind: 'vmmDiscard'; readonly gpaPage: number }
  | { readonly kind: 'allocateToOther'; readonly owner: number }
  | { readonly kind: 'releaseFromOther'; readonly mfn: number }
  | { readonly kind: 'deviceDma'; readonly giovaPage: number; readonly write: boolean }
  /**
   * The guest clears the device's context entry (no exit: guest memory): `intel_iommu_attach_device`
   * / `device_block_translation` → `domain_context_clear_one` ([L] drivers/iommu/intel/iommu.c). Its
   * domain is freed with it, and so is its DID.
   */
  | { readonly kind: 'guestDetach' }
  /**
   * The guest points the device's context entry at a new guest domain with DID `did` and an empty
   * table (no exit): `device_block_translation`, then `dmar_domain_attach_device` →
   * `domain_context_mapping`. The earlier domain is freed; a DID equal to its is a reused DID
   * (`domain_attach_iommu` allocates the lowest free one).
   */
  | { readonly kind: 'guestAttach'; readonly did: number }
  /**
   * A context-cache invalidation (one exit): device-selective or global (QEMU
   * `vtd_context_device_invalidate`, `vtd_context_global_invalidate`; a domain-selective one is
   * handled as global).
   */
  | {
      readonly kind: 'guestInvalidateContext';
      readonly granularity: ContextInvalidationGranularity;
      /** Start it and leave the VMM's handling in flight (`phased.ts`); without, it runs to the end. */
      readonly phased?: boolean;
    }
  /**
   * The guest sets or clears GCMD.TE (one exit: a register write; QEMU `vtd_handle_gcmd_write` →
   * `vtd_handle_gcmd_te`, done before the guest's poll of GSTS.TES returns).
   */
  | { readonly kind: 'guestSetTranslation'; readonly enabled: boolean }
  /**
   * Scalable mode: the guest clears the device's RID_PASID entry (no exit: guest memory), blocking
   * it: `device_block_translation` → `intel_pasid_tear_down_entry` ([L] drivers/iommu/intel). Its
   * domain is freed with it. Nothing happens when the entry is not present.
   */
  | { readonly kind: 'guestClearPasid' }
  /**
   * Scalable mode: the guest points the device's RID_PASID entry at a new guest domain with DID
   * `did` and an empty second-level table (PGTT second-level; no exit): `intel_pasid_setup_second_level`,
   * which refuses a present entry (EBUSY).
   */
  | { readonly kind: 'guestSetupPasid'; readonly did: number }
  /**
   * Scalable mode: a PASID-cache invalidation descriptor (VTD_INV_DESC_PC; one exit): domain-selective
   * (`did`), PASID-selective (`did` and `pasid`) or global (QEMU `vtd_process_pasid_desc`).
   */
  | {
      readonly kind: 'guestInvalidatePasidCache';
      readonly granularity: PasidCacheGranularity;
      readonly did: number;
      readonly pasid: number;
    }
  /**
   * Scalable mode: a PASID-based IOTLB invalidation descriptor (VTD_INV_DESC_PIOTLB; one exit): every
   * translation of `pasid` in `did`, or 2^mask pages from `giovaPage` (QEMU `vtd_process_piotlb_desc`).
   */
  | {
      readonly kind: 'guestInvalidatePiotlb';
      readonly granularity: PiotlbGranularity;
      readonly did: number;
      readonly pasid: number;
      /** Ignored unless page-selective. */
      readonly giovaPage: number;
      readonly mask: number;
    }
  /** The next phase of the trapped invalidation in flight (`op`: its index, 0). */
  | { readonly kind: 'advance'; readonly op: number };

export type ViommuCommandKind = ViommuCommand['kind'];

export type InvalidationGranularity = 'page' | 'domain' | 'global';
export const invalidationGranularities: readonly InvalidationGranularity[] = ['page', 'domain', 'global'];

export type ContextInvalidationGranularity = 'device' | 'global';

/** A PASID-cache invalidation's granularity (VTD_INV_DESC_PASIDC_G: DSI 0, PASID_SI 1, global 3). */
export type PasidCacheGranularity = 'domain' | 'pasid' | 'global';
export const pasidCacheGranularities: readonly PasidCacheGranularity[] = ['domain', 'pasid', 'global'];

/** A PASID-based IOTLB invalidation's granularity (VTD_INV_DESC_PIOTLB_G: ALL_IN_PASID 2, PSI_IN_PASID 3). */
export type PiotlbGranularity = 'pasid' | 'page';
export const piotlbGranularities: readonly PiotlbGranularity[] = ['pasid', 'page'];

/** The PASID requests without PASID use: the context entry's RID2PASID field, 0 as Linux sets it (IOMMU_NO_PASID). */
export const RID_PASID = 0;
/** PASIDs are 20 bits. */
export const PASID_MAX = 0xfffff;
export const contextInvalidationGranularities: readonly ContextInvalidationGranularity[] = ['device', 'global'];

/** What a step cost the host: the counters behind `dmaprop costs`. */
export interface StepCosts {
  /** Guest operations the VMM trapped: invalidations and balloon requests. */
  readonly vmExits: number;
  /** VFIO_IOMMU_MAP_DMA and UNMAP_DMA calls the VMM made (refused ones included). */
  readonly vfioIoctls: number;
  /** IOMMU_HWPT_INVALIDATE calls: guest invalidations forwarded to the nested domain. */
  readonly invalidateIoctls: number;
  /** IOTLB invalidations the host IOMMU performed: one per IOTLB sync after an unmap, one per forwarded invalidation. */
  readonly hostIotlbInvalidations: number;
  /** Pages VFIO pinned. */
  readonly pins: number;
}

export const noCosts: StepCosts = {
  vmExits: 0,
  vfioIoctls: 0,
  invalidateIoctls: 0,
  hostIotlbInvalidations: 0,
  pins: 0,
};

export function addCosts(a: StepCosts, b: StepCosts): StepCosts {
  return {
    vmExits: a.vmExits + b.vmExits,
    vfioIoctls: a.vfioIoctls + b.vfioIoctls,
    invalidateIoctls: a.invalidateIoctls + b.invalidateIoctls,
    hostIotlbInvalidations: a.hostIotlbInvalidations + b.hostIotlbInvalidations,
    pins: a.pins + b.pins,
  };
}

/** A step's answer; `accesses` are the device's, as the VFIO effect invariants read them. */
export interface ViommuResult extends OpResult {
  readonly accesses: readonly DmaAccess[];
  readonly costs: StepCosts;
}
