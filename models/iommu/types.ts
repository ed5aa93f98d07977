/**
 * Plain-data state of the VT-d model (docs/reference/vtd.md §3): one IOMMU with its capabilities, paging
 * domains with second-level page tables drawn from a pool of table pages, per-device context
 * entries (and PASID entries in scalable mode), the IOTLB, per-domain flush queues, and the flat
 * IOVA→frame reference map kept beside the page tables. All JSON-serializable.
 *
 * Identifiers: a domain's id is its DID (domain id tag); there is one IOMMU, so a domain has one
 * DID and every cache tag of the domain carries it. A device is named by its source-id
 * (bus/devfn, 0..0xffff). Table pages are named by their id in `tables`. Frames are host frame
 * numbers (`models/memory/frames.ts`); the IOMMU records them but holds no reference on them.
 *
 * Nested translation (§3.6, `nested.ts`): a `nested` domain has no page table of its own; its
 * first-level table lives in guest memory, outside this state, and is handed to each DMA
 * (`FirstLevelTable`); its stage-2 is its nesting-parent domain's second-level table. The IOTLB
 * caches the combined GIOVA→frame translation under the nested domain's DID.
 *
 * Left out: the root table and context-table pages themselves (a context entry is a record keyed
 * by source-id), the paging-structure caches (the IOTLB decides where a DMA lands; the PASID
 * cache, which decides which domain a request with PASID walks, is modelled when
 * `caps.pasidCacheEntries` is set, `pasid.ts`; the context cache, which decides it for a request
 * without PASID, when `caps.contextCacheEntries` is set, `context-cache.ts`), device-TLBs (ATS), interrupt
 * remapping, dirty tracking, PRI/page requests, SVA, the first-level table format (a first-level
 * domain, `cache-tags.ts`, walks the model's one table format; a guest's first-level table is
 * walked for a nested domain), snoop control, multiple IOMMUs.
 */
import type { LeafLevel, TableLevel } from './address.js';

/**
 * Linux domain types (`IOMMU_DOMAIN_*`). `unmanaged` (VFIO/iommufd), `dma` (DMA API, strict) and
 * `dma-fq` (DMA API, lazy flush queue) are paging domains; `identity` passes IOVA = physical
 * address through, `blocked` faults every DMA; `nested` (`IOMMU_DOMAIN_NESTED`) walks a guest's
 * first-level table, then its nesting parent's second-level table.
 */
export type DomainType = 'unmanaged' | 'dma' | 'dma-fq' | 'identity' | 'blocked' | 'nested';
/** The types `createDomain` allocates; a nested domain needs a parent (`createNestedDomain`). */
export const domainTypes: readonly DomainType[] = ['unmanaged', 'dma', 'dma-fq', 'identity', 'blocked'];

/** Hardware capabilities and model bounds; fixed for the life of the state. */
export interface IommuCaps {
  /** `cap.SLLPS` as a count of superpage levels: 0 = 4K only, 1 = +2M, 2 = +2M and 1G. */
  readonly superpageLevels: 0 | 1 | 2;
  /** `cap.CM`: the IOMMU may cache not-present entries (emulated VT-d, e.g. QEMU caching-mode=on). */
  readonly cachingMode: boolean;
  /** `cap.PSI`: page-selective invalidation supported (else every range flush is domain-selective). */
  readonly pageSelectiveInvalidation: boolean;
  /** `cap.MAMV`: largest address mask a page-selective invalidation may carry. */
  readonly maxAddressMaskValue: number;
  /** Scalable mode enabled: devices have PASID tables. */
  readonly scalableMode: boolean;
  /** `cap.ND` as a count: DIDs 1..domainIdCount-1 are usable (DID 0 is reserved). */
  readonly domainIdCount: number;
  /** IOTLB capacity in entries; the oldest entry is evicted when full. */
  readonly iotlbEntries: number;
  /** Page-table pages available to all domains together; running out is ENOMEM. */
  readonly tablePages: number;
  /** Flush-queue capacity per domain (Linux: 256 per CPU); a full queue is flushed before appending. */
  readonly flushQueueEntries: number;
  /**
   * PASID-cache capacity in entries (`pasid.ts`); absent or 0: the PASID cache is not modelled and
   * a PASID entry's change takes effect at once (the model before it; the default).
   */
  readonly pasidCacheEntries?: number;
  /**
   * Context-cache capacity in entries (`context-cache.ts`); absent or 0: the context cache is not
   * modelled and a context entry's change takes effect at once (the model before it; the default).
   */
  readonly contextCacheEntries?: number;
  /**
   * `ecap.C`: the IOMMU's page walks snoop the CPU's caches. Absent or true: coherent (the default);
   * false: a PTE write reaches the IOMMU only once written back (`coherency.ts`).
   */
  readonly coherentWalks?: boolean;
  /**
   * `ecap.FLTS`: first-level (first-stage) translation supported in scalable mode. Absent: false
   * (the default: every paging domain second-level, as before).
   */
  readonly firstLevelTranslation?: boolean;
  /** `ecap.SLTS`: second-level translation supported in scalable mode. Absent: true. */
  readonly secondLevelTranslation?: boolean;
}

/** A present second-level PTE: a pointer to the next-level table, or a leaf (SP bit = level > 1). */
export type PageTableEntry =
  | { readonly kind: 'table'; readonly tableId: number }
  | { readonly kind: 'leaf'; readonly frame: number; readonly read: boolean; readonly write: boolean };

/**
 * One 512-entry table page; `entries` is sparse, keyed by decimal index 0..511. Shared between
 * copies of the state until one writes it: a step edits it only through `writableEntries`
 * (`state.ts`).
 */
export interface PageTablePage {
  readonly domainId: number;
  readonly level: TableLevel;
  readonly entries: Readonly<Record<string, PageTableEntry>>;
}

/** A present leaf as seen by a walk: `pages` pages from `iovaPage` map to `pages` frames from `frame`. */
export interface Translation {
  readonly iovaPage: number;
  readonly frame: number;
  readonly pages: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** A leaf together with the level it sits at. */
export interface LeafAt extends Translation {
  readonly level: LeafLevel;
}

/** An unmap in lazy mode whose IOTLB invalidation (and page-table page freeing) waits for a flush. */
export interface FlushQueueEntry {
  /** Position in the IOMMU-wide order of queued unmaps; never reused. */
  readonly seq: number;
  /** The gathered IOVA range of the unmap. */
  readonly iovaPage: number;
  readonly pages: number;
  /** The leaves the unmap removed: their frames may still be reached through stale IOTLB entries. */
  readonly leaves: readonly Translation[];
  /** Page-table pages cleared by the unmap, kept allocated until the flush (§3.5). */
  readonly freedTableIds: readonly number[];
}

export interface IommuDomain {
  /** The DID. */
  readonly domainId: number;
  readonly type: DomainType;
  /** Allocated as a nesting parent (read-only maps refused, hardware erratum). */
  readonly nestingParent: boolean;
  /** Root (level-4) table of a paging domain; `null` for identity and blocked domains. */
  readonly rootTableId: number | null;
  /** Lazy (`dma-fq`) domains only; oldest first. */
  flushQueue: FlushQueueEntry[];
  /** A `nested` domain's stage-2: the DID of its nesting parent; `null` for every other type. */
  readonly parentDomainId: number | null;
  /**
   * A paging domain whose table is a first-level one (`dmar_domain->use_first_level`, `first-level.ts`):
   * its PASID entries (and RID2PASID entry) have PGTT 1, its IOTLB entries are first-level ones,
   * flushed only by PASID-based invalidations. Absent: second-level.
   */
  readonly firstLevel?: true;
  /**
   * A first-level domain's cache tags (`cache.c`): PASID (0 = `IOMMU_NO_PASID`, the requests without
   * PASID) → users, each tag carrying the domain's DID. Its flushes are one PASID-based invalidation
   * per tag. Absent for second-level domains, whose DID-based flushes reach every PASID of the DID.
   */
  cacheTags?: Record<string, number>;
}

/** What a device's context entry (and PASID table, in scalable mode) points at. */
export interface DeviceContext {
  /** Domain of requests without PASID; `null` when only PASID entries are present. */
  readonly domainId: number | null;
  /** PASID → domain id, keys decimal PASIDs 1..2^20-1. */
  readonly pasids: Readonly<Record<string, number>>;
  /**
   * The model's own mark, not hardware state: `domainId` names a domain that was freed while this
   * entry still pointed at it (`releaseDomain`); the DID may since belong to another domain.
   */
  readonly orphaned?: true;
}

/** A cached leaf translation, tagged with (DID, PASID or null for requests without PASID). */
export interface IotlbTranslation extends Translation {
  readonly kind: 'translation';
  readonly domainId: number;
  readonly pasid: number | null;
  /** The model's mark: filled from a domain since freed (`releaseDomain`); lookups ignore it. */
  readonly orphaned?: true;
  /**
   * Filled by a first-level walk (PGTT 1): only a PASID-based invalidation drops it (a request
   * without PASID is tagged with PASID 0, RID2PASID, for those). Absent: a second-level entry.
   */
  readonly firstLevel?: true;
}

/** Caching mode only: a cached "not present" for one 4 KiB page (§3.4). */
export interface IotlbNotPresent {
  readonly kind: 'not-present';
  readonly domainId: number;
  readonly pasid: number | null;
  readonly iovaPage: number;
  /** The model's mark: filled from a domain since freed (`releaseDomain`); lookups ignore it. */
  readonly orphaned?: true;
}

/**
 * A combined (nested) translation: one GIOVA page of a nested domain to the frame its first-level
 * entry's GPA page maps to in stage 2, with the permissions of both. Tagged with the nested
 * domain's DID. `gpaPage` is kept for the model's checks only (is the entry still what stage 2
 * says?); no invalidation selects entries by it, since hardware indexes them by GIOVA alone.
 */
export interface IotlbNestedTranslation {
  readonly kind: 'nested';
  readonly domainId: number;
  readonly pasid: number | null;
  /** The model's mark: filled from a domain since freed (`releaseDomain`); lookups ignore it. */
  readonly orphaned?: true;
  readonly iovaPage: number;
  readonly gpaPage: number;
  readonly frame: number;
  readonly read: boolean;
  readonly write: boolean;
}

export type IotlbEntry = IotlbTranslation | IotlbNotPresent | IotlbNestedTranslation;

/** A present first-level (stage-1) entry of a guest's table: GIOVA page → GPA page; present = readable. */
export interface FirstLevelEntry {
  readonly gpaPage: number;
  readonly write: boolean;
}

/** A guest's first-level table as the IOMMU walks it: GIOVA page (decimal key) → entry; absent = not present. */
export type FirstLevelTable = Readonly<Record<string, FirstLevelEntry>>;

/**
 * An unmap whose PTEs are cleared and whose IOTLB sync has not run yet: the caller's
 * `iommu_iotlb_gather` between `iommu_unmap_fast` and `iommu_iotlb_sync` (VFIO's
 * `vfio_unmap_unpin` holds it across the unmap of a whole mapping). The invalidation it awaits
 * covers its range; its cleared table pages are freed after it.
 */
export interface UnsyncedUnmap {
  readonly domainId: number;
  readonly iovaPage: number;
  readonly pages: number;
  readonly leaves: readonly Translation[];
  readonly freedTableIds: readonly number[];
  /**
   * The bug `fq-queues-before-pte-clear`: the entry was queued first and the PTEs are still
   * present; the sync clears them. The range to clear, in bytes.
   */
  readonly deferredClear: { readonly iova: number; readonly sizeBytes: number } | null;
  /** The flush-queue entry a deferred clear was queued as (null otherwise). */
  readonly queuedSeq: number | null;
}

/**
 * A DMA request translated and not yet landed in memory (`dma.ts`), one per device (source-id): an
 * invalidation that covers its (DID, page) drains it before completing (VT-d drain bits), which
 * marks it `drained`; the caller lands it then.
 */
export interface TranslatedRequest {
  readonly deviceId: number;
  readonly domainId: number;
  readonly pasid: number | null;
  readonly iovaPage: number;
  readonly drained: boolean;
}

/**
 * A cached PASID-table entry (`pasid.ts`): requests with `pasid` from source-id `deviceId` translate
 * through DID `domainId` until a PASID-cache invalidation covering (DID, PASID) drops it.
 */
export interface PasidCacheEntry {
  readonly deviceId: number;
  readonly pasid: number;
  readonly domainId: number;
  /** The model's mark: the DID's domain was freed while this entry was cached (`releaseDomain`). */
  readonly orphaned?: true;
}

/**
 * A cached context entry (`context-cache.ts`): requests without PASID from source-id `deviceId`
 * translate through DID `domainId` until a context-cache invalidation covering it drops it.
 */
export interface ContextCacheEntry {
  readonly deviceId: number;
  readonly domainId: number;
  /** The model's mark: the DID's domain was freed while this entry was cached (`releaseDomain`). */
  readonly orphaned?: true;
}

export interface IommuState {
  readonly caps: IommuCaps;
  /** Keyed by decimal domain id. */
  domains: Record<string, IommuDomain>;
  /**
   * Keyed by decimal source-id; absent = context entry not present. Shared between copies of the
   * state until one writes it: a step edits it only through `writableContexts` (`state.ts`).
   */
  contexts: Readonly<Record<string, DeviceContext>>;
  /** The page-table page pool, keyed by decimal table id. */
  tables: Record<string, PageTablePage>;
  /** Oldest first. */
  iotlb: IotlbEntry[];
  /**
   * The reference: paging domain id → its leaves, sorted by first IOVA page. Updated by its own
   * simple code beside the page-table code; `pageTableMatchesFlat` compares the two.
   */
  flat: Record<string, Translation[]>;
  /** Next flush-queue sequence number. */
  nextFlushSeq: number;
  /** Unmaps cleared and awaiting their caller's IOTLB sync, oldest first (`unmap.ts`). */
  unsynced: UnsyncedUnmap[];
  /** DMA requests translated and not yet landed, oldest first. */
  requests: TranslatedRequest[];
  /** With `caps.pasidCacheEntries`: the PASID cache, oldest first; absent otherwise. */
  pasidCache?: PasidCacheEntry[];
  /**
   * With `caps.contextCacheEntries`: the context cache (`context-cache.ts`), oldest first; absent
   * otherwise. Replaced whole on every change, never edited in place.
   */
  contextCache?: ContextCacheEntry[];
  /**
   * Without coherent walks (`caps.coherentWalks` false, `coherency.ts`): table id → entry index →
   * the value memory (the IOMMU's view) still holds for a PTE the CPU wrote and has not written
   * back (null: not present); decimal keys. Absent or empty: both views agree.
   */
  unflushed?: Record<string, Record<string, PageTableEntry | null>>;
  /**
   * Without coherent walks (`coherency.ts`): source-id → PASID → the PASID entry memory (the
   * IOMMU's view) still holds for an entry the CPU wrote and has not written back; decimal keys.
   * Replaced whole on every change. Absent or empty: both views agree.
   */
  unflushedPasids?: Record<string, Record<string, UnflushedPasidEntry>>;
  /**
   * Without coherent walks (`coherency.ts`): source-id → the context entry memory (the IOMMU's
   * view) still holds for a context entry the CPU wrote and has not written back; decimal keys.
   * Replaced whole on every change. Absent or empty: both views agree.
   */
  unflushedContexts?: Record<string, UnflushedContextEntry>;
  /**
   * A kdump kernel (`kdump.ts`): the source-ids whose context entry was copied from the crashed
   * kernel's tables and not yet torn down (`iommu->copied_tables`, `context_copied()`); decimal
   * keys. Replaced whole on every change. Absent or empty: no copied entry.
   */
  copiedContexts?: Record<string, true>;
}

/** What memory holds for a PASID entry the CPU changed: the DID it names, or null (not present). */
export interface UnflushedPasidEntry {
  readonly domainId: number | null;
  /** The model's mark: the DID's domain was freed while memory still named it (`releaseDomain`). */
  readonly orphaned?: true;
}

/** What memory holds for a context entry the CPU changed: the DID it names, or null (not present). */
export interface UnflushedContextEntry {
  readonly domainId: number | null;
  /** The model's mark: the DID's domain was freed while memory still named it (`releaseDomain`). */
  readonly orphaned?: true;
}
