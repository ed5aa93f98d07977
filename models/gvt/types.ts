/**
 * Plain-data state of the GVT-g mediator for one vGPU, shared by both hypervisor flavours (KVMGT
 * and XenGT): the guest's and the host's GGTT entries of the vGPU's partition, the PPGTT shadow
 * page tables, the page-track registrations, the per-gfn DMA cache and the queued workloads.
 * Reference: docs/reference/gvt-kvmgt.md §4.2–§4.9.
 *
 * Addresses: a graphics memory address is named by its GGTT index (one 4 KiB GTT page per index).
 * A guest page-table page or batch buffer is a guest frame number (gfn) whose contents are a few
 * qwords of guest memory (`GuestPage`). A shadow entry never holds a gfn: it holds a DMA address
 * (`dmaAddr`, a page number in the hypervisor's device address space) or points at a shadow table.
 */

/** One qword of guest memory, as the mediator interprets it. */
export type GuestQword =
  /**
   * A GTT entry: present bit and page frame number. `ips` (set only when true): the IPS bit of a
   * page-directory entry (`GEN8_PDE_IPS_64K`), which makes the page table it names a 64K table
   * (`ips64k.ts`); the mediator ignores it in any other entry. `pse` (set only when true): the PS
   * bit of a page-directory entry (`_PAGE_PSE`), which makes it a 2M entry mapping a 2M page
   * (`huge2m.ts`); ignored in a page table's entries.
   */
  | {
      readonly kind: 'pte';
      readonly present: boolean;
      readonly gfn: number;
      readonly ips?: boolean;
      readonly pse?: boolean;
    }
  /**
   * A command of a batch buffer: `store` is MI_STORE_DATA_IMM with the GGTT bit (its operand is a
   * graphics address, audited); `forbidden` is a command the parser refuses (MI_UPDATE_GTT and the
   * like); `end` is MI_BATCH_BUFFER_END.
   */
  | { readonly kind: 'cmd'; readonly op: 'store' | 'forbidden' | 'end'; readonly ggttIndex: number };

/** A guest page: its qwords (a page-table page has `entriesPerTable` of them). Absent pages read as zero. */
export type GuestPage = readonly GuestQword[];

/** The guest's view of a GGTT entry (`virtual_ggtt`). */
export interface GuestPte {
  readonly present: boolean;
  readonly gfn: number;
}

/** What the GPU sees in a host GGTT entry or a PPGTT shadow entry. */
export type ShadowPte =
  /** Not present, half written, or the translation failed: the scratch page (host-owned, harmless). */
  | { readonly kind: 'scratch' }
  /**
   * A leaf: the DMA address obtained for a guest page (or, for host GGTT entries, the host's own
   * page). `pages` (set only above 1): a 2M PDE shadowed whole, whose DMA mapping spans that many
   * pages from `dmaAddr` (`huge2m.ts`).
   */
  | { readonly kind: 'dma'; readonly dmaAddr: number; readonly pages?: number }
  /**
   * A 2M PDE shadowed split (`split_2MB_gtt_entry`): the shadow page table of its own the PDE
   * points at, kept inline (it has no guest page), each entry one 4K page of the 2M page from
   * `baseGfn`.
   */
  | { readonly kind: 'split2m'; readonly baseGfn: number; readonly entries: readonly ShadowPte[] }
  /** A non-leaf PPGTT entry: the shadow table of guest page-table page `gfn`. */
  | { readonly kind: 'table'; readonly gfn: number };

export const SCRATCH: ShadowPte = { kind: 'scratch' };

/** PPGTT levels of the model: a page directory (the root) and page tables (leaves). */
export type SptLevel = 'pd' | 'pt';

/** A shadow page table (`struct intel_vgpu_ppgtt_spt`) of one guest page-table page. */
export interface Spt {
  readonly gfn: number;
  readonly level: SptLevel;
  /**
   * `guest_page.pde_ips` (set only when true): a page table named by a page-directory entry with
   * the IPS bit, whose guest entries at every `ips64kStride`-th index are 64K entries, each split
   * into that many 4K shadow entries (`ips64k.ts`).
   */
  readonly ips?: boolean;
  /** Shadow entries and roots pointing at this table. */
  refcount: number;
  entries: ShadowPte[];
  /** Indices written partially (4 bytes), pointed at scratch until the next flush (post-shadow bitmap). */
  postShadow: number[];
}

/** A PPGTT (`struct intel_vgpu_mm`) named by its root page directory's gfn. */
export interface PpgttMm {
  readonly rootGfn: number;
  refcount: number;
}

/** An entry of the per-gfn DMA cache (`struct gvt_dma`), keyed by its first gfn. */
export interface DmaCacheEntry {
  readonly gfn: number;
  readonly dmaAddr: number;
  /** `gvt_dma.size` in 4K pages, set only above 1 (a 2M entry, `huge2m.ts`): the pages pinned and mapped from `gfn` and `dmaAddr`. */
  readonly pages?: number;
  kref: number;
}

/** A workload accepted by the command scanner and waiting for the GPU. */
export interface Workload {
  /** The batch buffer's guest page. */
  readonly batchGfn: number;
  /** The scanned host copy the GPU executes, or `null` when the GPU executes the guest buffer in place. */
  readonly shadowCopy: readonly GuestQword[] | null;
}

export interface GvtVgpu {
  /** Guest entries of the whole GGTT, as the guest wrote them (only the vGPU's ranges are kept up to date). */
  ggttGuest: GuestPte[];
  /** Host entries of the vGPU's ranges, by GGTT index; other indices are the host's and never written here. */
  ggttHost: ShadowPte[];
  /** GGTT indices with a 4-byte half written and the other half pending: index → byte offset of the half. */
  ggttPartial: Record<string, number>;
  mms: PpgttMm[];
  /** Shadow page tables by guest gfn. */
  spts: Record<string, Spt>;
  /** Gfns with a page track registered and enabled by the mediator (GVT's page-track tree). */
  tracked: number[];
  /** The DMA cache by gfn. */
  cache: Record<string, DmaCacheEntry>;
  workloads: Workload[];
  /** The scanner found a malicious command: the vGPU stopped emulating and runs no more workloads. */
  failsafe: boolean;
}

/** The part of a composed state the mediator works on. */
export interface GvtWorld {
  vgpu: GvtVgpu | null;
  /** The guest's memory contents by gfn (pages never written read as zero). */
  guestPages: Record<string, GuestPage>;
}

/** Where one GPU access through a shadow entry ended. */
export interface GpuAccess {
  /** Which entry: `ggtt 3` or `ppgtt root 2 [1][0]`. */
  readonly via: string;
  readonly write: boolean;
  readonly outcome: 'landed' | 'scratch' | 'fault';
  readonly mfn: number | null;
  /** Owner of the frame when the access landed (`null` = free frame). */
  readonly owner: number | null;
}
