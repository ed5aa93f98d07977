/**
 * Plain-data state of the Xen model: domains with their p2m, grant table v1 (shared entries,
 * active entries, maptrack), all JSON-serializable.
 *
 * Domains are identified by their domid, which is also their index in `XenState.domains`. The
 * world's domains exist from the start; the toolstack may create a domain again at the domid of
 * one that is fully gone (`create.ts`): the entry is replaced by the new incarnation.
 */
import type { HostMemory } from '../memory/frames.js';

/** p2m entry types that the model distinguishes (`p2m_type_t`, asm/p2m.h). */
export type P2mEntry =
  /** The domain's own RAM: holds the page's allocation reference (PGC_allocated). */
  | { readonly type: 'ram_rw'; readonly mfn: number }
  /** A grant host mapping of a translated mapper: the reference is the maptrack handle's. */
  | { readonly type: 'grant_map_rw' | 'grant_map_ro'; readonly mfn: number; readonly handle: number }
  /** XENMAPSPACE_gmfn_foreign: another domain's page, with its own page reference. */
  | {
      readonly type: 'map_foreign';
      readonly mfn: number;
      readonly foreignDomid: number;
      readonly foreignGfn: number;
      /** The foreign domain's incarnation when the entry was made (the model's record: Xen keeps the page reference only). */
      readonly foreignIncarnation: number;
    }
  /**
   * XENMAPSPACE_grant_table: a frame of the domain's own grant table (shared frame `idx`, or status
   * frame `idx` with XENMAPIDX_grant_table_status) put in its p2m by XENMEM_add_to_physmap
   * (`xenmem_add_to_physmap_one`, xen/arch/x86/mm/p2m.c). Xen's type is `p2m_ram_rw`; the model
   * tells it apart because, the frame being a Xen-heap page, the entry holds no page reference
   * (the table's allocation reference keeps the frame): `grant-v2.ts`.
   */
  | { readonly type: 'grant_table'; readonly mfn: number; readonly status: boolean; readonly idx: number };

/** `running` → (destroy) → `dying` (zombie while others still reference its frames) → `dead`. */
export type DomainLife = 'running' | 'dying' | 'dead';

/**
 * The stages of domain teardown the model distinguishes: `gnttab_release_mappings` (the domain as
 * a mapper gives back its pins and references) and the relinquishing of its p2m and memory
 * (`relinquish_p2m_mapping`, `relinquish_memory`).
 */
export type TeardownStage = 'release-mappings' | 'relinquish-memory';

/** Shared grant entry v1: `flags` decomposed into its fields; `frame` is the granted gfn. */
export interface GrantEntry {
  permitAccess: boolean;
  readonly: boolean;
  /** GTF_reading, written by Xen: the entry is pinned. */
  reading: boolean;
  /** GTF_writing, written by Xen: the entry is pinned writable. */
  writing: boolean;
  domid: number;
  frame: number;
}

/**
 * A v2 status word (`grant_status_t`, xen/include/public/grant_table.h): where Xen writes
 * GTF_reading / GTF_writing of a v2 grant (the v2 shared entry has no such bits).
 */
export interface GrantStatus {
  reading: boolean;
  writing: boolean;
}

/** One side of a GNTTABOP_copy in flight (`struct gnttab_copy_buf`): the frame Xen claimed and how. */
export interface GrantCopyBuf {
  /** The domain whose frame it is (`buf->domain`). */
  readonly domid: number;
  /** GNTCOPY_*_gref: the grant ref of `domid` it was acquired through (`acquire_grant_for_copy`); `null` for a gmfn of the caller. */
  readonly ref: number | null;
  /** The caller's gmfn (`get_paged_frame`) when `ref` is `null`. */
  readonly gmfn: number | null;
  /** The frame (`buf->mfn`), referenced (`buf->page`) and, through a ref, pinned (`have_grant`). */
  readonly mfn: number;
  /** The source is claimed read-only (`hstr`), the destination writable (`hstw`, `have_type`). */
  readonly readonly: boolean;
  /** Through a ref: whether the granter's entry said GTF_readonly when the copy acquired it (the guest's word). */
  readonly grantReadonly?: boolean;
}

/**
 * A GNTTABOP_copy of one segment between its claims (`gnttab_copy_claim_buf`, pins and page
 * references held) and its `memcpy` + release (`gnttab_copy_buf`, `gnttab_copy_release_buf`):
 * `grant-copy.ts`. Kept by the calling domain (its vCPU is in the hypercall).
 */
export interface GrantCopyInFlight {
  readonly callerDomid: number;
  readonly source: GrantCopyBuf;
  readonly dest: GrantCopyBuf;
  readonly sourceOffset: number;
  readonly destOffset: number;
  readonly len: number;
}

/** Where a GNTTABOP_copy's `memcpy` read or wrote: the frame, and its owner at that moment. */
export interface GrantCopyAccess {
  readonly mfn: number;
  readonly write: boolean;
  readonly owner: number | null;
}

/**
 * The last GNTTABOP_copy segment that reached its `memcpy` (the model's record of where Xen's
 * accesses landed, replaced by the next copy): what the copy invariants compare with the grant.
 */
export interface GrantCopyRecord {
  readonly callerDomid: number;
  readonly source: GrantCopyBuf;
  readonly dest: GrantCopyBuf;
  readonly accesses: readonly GrantCopyAccess[];
}

/** Xen-private active entry: four pin counters, the mapping domain and the pinned frame. */
export interface ActiveEntry {
  hstw: number;
  hstr: number;
  devw: number;
  devr: number;
  /** Domain holding the pins (meaningful while any counter is non-zero). */
  domid: number;
  /** Frame recorded at the first pin; reused while pinned even if the granter changes `frame`. */
  mfn: number | null;
}

/** A live maptrack entry of the mapping domain; the handle is its index. */
export interface MaptrackEntry {
  readonly granterDomid: number;
  /**
   * The granter's incarnation when the handle was made: the model's record of which domain the
   * handle names. Xen's maptrack keeps the domid only (`mt->domid`), which is why a domid may be
   * reused only once nothing refers to the old domain any more.
   */
  readonly granterIncarnation: number;
  readonly ref: number;
  host: boolean;
  device: boolean;
  readonly readonly: boolean;
  readonly mfn: number;
  /** Host address of the host part: a gfn for translated mappers, a virtual page number for PV. */
  readonly hostAddr: number | null;
}

/**
 * One entry of a domain's own IOMMU page table (dfn → mfn with permissions), for a domain whose
 * IOMMU tables are not shared with its p2m (`iommu_use_hap_pt(d)` false: PV, or HVM without
 * sharing). `IOMMUF_readable` / `IOMMUF_writable` (xen/include/xen/iommu.h).
 */
export interface IommuPte {
  readonly mfn: number;
  readonly read: boolean;
  readonly write: boolean;
}

/**
 * A domain's IOMMU context (`struct domain_iommu`, xen/include/xen/iommu.h) for a domain created
 * with `XEN_DOMCTL_CDF_iommu` (`is_iommu_enabled(d)`): whether its page tables are the p2m's
 * (`hap_pt_share`: the IOMMU walks the EPT itself) or its own, kept in sync with the p2m and, for a
 * PV domain, with page types (`need_sync`).
 */
export interface XenDomainIommu {
  /** `iommu_use_hap_pt(d)`: the IOMMU walks the p2m; `table` stays empty. */
  readonly sharePt: boolean;
  /** dfn → entry, decimal keys; for a translated domain the dfn is the gfn, for PV the mfn. */
  table: Record<string, IommuPte>;
  /**
   * dfns changed (unmapped or remapped) since the context's IOTLB was last flushed
   * (`iommu_iotlb_flush`): the hardware may still translate them the old way.
   */
  flushPending: number[];
}

/** Page type (`PGT_*` in `type_info`, xen/arch/x86/include/asm/mm.h); `none` = `PGT_none`. */
export type PageType = 'none' | 'writable' | 'l1' | 'l2' | 'l3' | 'l4' | 'seg_desc';

/**
 * A frame's type information (`page->u.inuse.type_info`): its current type, the type count
 * (`PGT_count_mask`), whether the contents were validated for the type (`PGT_validated`) and
 * whether the guest pinned it as a page table (`PGT_pinned`). Frames without an entry are
 * `none`, count 0.
 */
export interface PageTypeInfo {
  readonly type: PageType;
  readonly count: number;
  readonly validated: boolean;
  readonly pinned: boolean;
}

/**
 * A present PV L1 page-table entry (`l1_pgentry_t` with `_PAGE_PRESENT`): the frame it maps and
 * `_PAGE_RW`. The model's guests set no other flag (no cache attributes, no `_PAGE_GNTTAB`).
 */
export interface PvL1e {
  readonly mfn: number;
  readonly rw: boolean;
}

/**
 * A PV mapper's per-mfn count of its live grant mappings of another domain's frame, read-only and
 * writable (`union maptrack_node`, `lgt->maptrack_tree`, xen/common/grant_table.c): what decides
 * the frame's entry in the mapper's own IOMMU table (`gnttab_need_iommu_mapping`).
 */
export interface GrantIommuCount {
  readonly read: number;
  readonly write: number;
}

export interface XenDomain {
  readonly domid: number;
  /**
   * How many domains had this domid before this one (0 for the world's own): the model's stand-in
   * for the `struct domain` itself (Xen tells incarnations apart by pointer and `d->unique_id`).
   */
  readonly incarnation: number;
  /** HVM/PVH (p2m-translated) vs PV. */
  readonly translated: boolean;
  /** May map other domains' memory (dom0 / hardware domain). */
  readonly privileged: boolean;
  life: DomainLife;
  /**
   * A teardown interrupted by a continuation (`domain_kill` returned -ERESTART): the stage it
   * resumes with, kept in the domain as Xen keeps its progress (`d->teardown`, `d->arch.rel_priv`).
   * Absent when no teardown is under way or it has finished.
   */
  teardownNext?: TeardownStage;
  /** Frames owned, including ballooned-out frames still referenced elsewhere (`d->tot_pages`). */
  totPages: number;
  /** gfn → entry; keys are decimal gfns. */
  p2m: Record<string, P2mEntry>;
  grantTable: GrantEntry[];
  active: ActiveEntry[];
  /** Index = handle; `null` = free handle. Length = maptrack limit. */
  maptrack: (MaptrackEntry | null)[];
  /** The domain's IOMMU context; absent when it was created without one (no device may be assigned). */
  iommu?: XenDomainIommu;
  /**
   * Grant table v2 (`grant-v2.ts`). `gt->gt_version`; absent = 1 (the XenGT worlds' domains).
   * A v2 table keeps GTF_reading/GTF_writing in `grantStatus`, never in the shared entries.
   */
  grantVersion?: 1 | 2;
  /** `gt->max_version` (`max_grant_version` of XEN_DOMCTL_createdomain); absent = 2. */
  maxGrantVersion?: 1 | 2;
  /** v2 status array (`gt->status`), one word per ref; present exactly while `grantVersion` is 2. */
  grantStatus?: GrantStatus[];
  /**
   * mfns of the table's shared frames (`gt->shared_raw`, Xen-heap pages shared with the domain,
   * `share_xen_page_with_guest`); absent: the world does not model them as host frames.
   */
  sharedFrames?: number[];
  /** mfns of the v2 status frames (`gt->status`, `nr_status_frames`); empty or absent in v1. */
  statusFrames?: number[];
  /**
   * The M2P entries of the table's frames (mfn → gfn, decimal keys): the gfn `p2m_add_page` last
   * put the frame at (`set_gpfn_from_mfn`), which `gnttab_get_frame_gfn` / `gnttab_status_gfn` read.
   * A translated domain's only; a frame absent here is at no gfn (INVALID_GFN).
   */
  grantFrameGfns?: Record<string, number>;
  /** Xen-heap pages shared with the domain (`d->xenheap_pages`): owned by it, not in tot_pages. */
  xenheapPages?: number;
  /** GNTTABOP_copy segments this domain's vCPUs have claimed and not yet copied (`grant-copy.ts`). */
  grantCopies?: GrantCopyInFlight[];
  /**
   * A PV mapper with IOMMU sync: its grant mappings of other domains' frames counted by mfn
   * (decimal keys; `maptrack_tree`). Absent or without the mfn's key: none.
   */
  grantIommuCounts?: Record<string, GrantIommuCount>;
}

export interface XenState {
  memory: HostMemory;
  domains: XenDomain[];
  /**
   * Page types by mfn (decimal keys), for the frames that have one (a PV world's); absent or
   * without the frame's key: `none`, count 0. Kept beside `memory` because the frames are shared
   * with the Linux stacks, which have no page types.
   */
  pageTypes?: Record<string, PageTypeInfo>;
  /** The last GNTTABOP_copy segment's accesses (`grant-copy.ts`); absent until a copy has run. */
  lastGrantCopy?: GrantCopyRecord;
  /**
   * What the guests wrote into frames, read as PV L1 entries (slot → entry, `null` not present), by
   * mfn (decimal keys); absent or without the frame's key: every slot empty. Entries hold page
   * references only while their frame is a validated L1 table (`models/xen/page-type.ts`).
   */
  frameContents?: Record<string, readonly (PvL1e | null)[]>;
}
