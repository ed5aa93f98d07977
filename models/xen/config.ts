/** Configuration of the Xen model (`XenConfig`), and the deliberate bugs it can carry (`xenBugs`). */
import type { DomainTeardownOrdering } from './destroy.js';
import type { GrantCopyChecks } from './grant-copy.js';
import type { GrantMapOrdering } from './grant-table.js';
import type { GrantFrameMapping, GrantVersionSwitch } from './grant-v2.js';
import type { PvMemoryRules } from './pv-rules.js';

/**
 * Configuration of the Xen model, and the deliberate bugs it can carry.
 *
 * A bug is a named deviation from the reference (`docs/reference/xen.md` §2): flawed
 * variants of a mechanism are built from them, and the meta-tests show that the generic
 * invariants catch each one. A correct model runs with no bugs.
 */
export const xenBugs = [
  /** GNTTABOP_unmap_grant_ref releases the handle but never drops its page references. */
  'unmap-skips-page-put',
  /** GNTTABOP_unmap_grant_ref drops page references but leaves the pin counters. */
  'unmap-skips-pin-drop',
  /** Unmap drops pins but leaves GTF_reading/GTF_writing set (no reduce_status_for_pin). */
  'unmap-keeps-status-bits',
  /** A v1 end_foreign_access clears the entry although it is still pinned. */
  'end-access-ignores-pin',
  /** Domain destruction skips gnttab_release_mappings: the dead mapper keeps its handles. */
  'destroy-skips-release-mappings',
  /** Domain destruction forgets relinquish_p2m_mapping: p2m entries outlive the domain. */
  'destroy-skips-p2m-teardown',
  /** A dying domain is declared dead while others still reference its frames. */
  'destroy-ignores-zombie-frames',
  /** A dying domain whose last frame was freed is never declared dead. */
  'zombie-never-dies',
  /** Freeing a frame forgets to decrement the owner's tot_pages. */
  'free-keeps-tot-pages',
  /** A map that fails after pinning returns the error without undoing the pin. */
  'failed-map-keeps-pin',
  /** decrease_reservation does not check page ownership: grant/foreign p2m entries are ballooned. */
  'balloon-ignores-owner',
  /** decrease_reservation frees the page outright (free_domheap_page) instead of dropping its reference. */
  'balloon-frees-referenced-page',
  /**
   * GNTTABOP_unmap_grant_ref drops the pins and page references (`unmap_common_complete`) before
   * the host mapping is removed and the handle freed (`unmap_common`), instead of after the TLB
   * flush: between the two, the mapper still maps a page it holds no reference on.
   */
  'grant-unmap-puts-before-flush',
  /**
   * decrease_reservation puts the allocation reference (`put_page_alloc_ref`, `put_page`) before
   * `guest_physmap_remove_page`: between the two, the gfn maps a frame that may be free already.
   */
  'balloon-puts-before-p2m-remove',
] as const;

export type XenBug = (typeof xenBugs)[number];

export interface XenConfig {
  readonly bugs: readonly XenBug[];
  /**
   * The decisions `map_grant_ref` makes around the window where it holds no lock (phased maps,
   * `startMapGrantRef` / `finishMapGrantRef`): Xen's (`soundGrantMap`) unless a design gives its own.
   */
  readonly grantMap?: GrantMapOrdering;
  /** The order of domain teardown's stages around its continuation: Xen's (`soundTeardown`) unless a design gives its own. */
  readonly teardown?: DomainTeardownOrdering;
  /** When a destroyed domain is gone and its domid free for a new domain: Xen's (`soundLifecycle`) unless a design gives its own. */
  readonly lifecycle?: DomainLifecycle;
  /** What `guest_remove_page` does when the p2m removal fails: Xen's (`soundGuestRemovePage`) unless a design gives its own. */
  readonly guestRemovePage?: GuestRemovePageUnwind;
  /** GNTTABOP_set_version's in-use scan and status-frame unpopulate: Xen's (`soundGrantVersionSwitch`) unless a design gives its own. */
  readonly grantVersion?: GrantVersionSwitch;
  /** XENMAPSPACE_grant_table's one-gfn rule: Xen's (`soundGrantFrameMapping`) unless a design gives its own. */
  readonly grantFrameMapping?: GrantFrameMapping;
  /** GNTTABOP_copy's checks and when it releases its claims: Xen's (`soundGrantCopy`) unless a design gives its own. */
  readonly grantCopy?: GrantCopyChecks;
  /** PV page types, the PV MMU and a PV mapper's grant IOMMU counts: Xen's (`soundPvMemory`) unless a design gives its own. */
  readonly pvMemory?: PvMemoryRules;
}

/**
 * `guest_remove_page`'s decision when `guest_physmap_remove_page` fails (e.g. -ENOMEM shattering a
 * superpage), as a hook: does it still put the allocation reference and report the page removed?
 * Xen checks the return value since XSA-222 (a0cce6048d, "guest_physmap_remove_page() needs its
 * return value checked"): `if ( !rc ) put_page_alloc_ref(page)`, the error returned.
 */
export interface GuestRemovePageUnwind {
  readonly name: string;
  readonly ignoresRemoveError: boolean;
}

/** Xen's: the gfn and its allocation reference stay, the error is returned. */
export const soundGuestRemovePage: GuestRemovePageUnwind = { name: 'xen', ignoresRemoveError: false };

/**
 * The decisions of a domain's end, as hooks. Xen's domain is gone — `_domain_destroy` run, its
 * domid freed (`domid_free`) for XEN_DOMCTL_createdomain — once its last reference is dropped;
 * every page it owns holds one (`get_knownalive_domain` in `assign_pages`, dropped by
 * `free_domheap_pages`, xen/common/page_alloc.c), so a zombie whose frames others still
 * reference keeps its domid (createdomain: EEXIST).
 */
export interface DomainLifecycle {
  readonly name: string;
  /** A dying domain whose teardown has finished: is it gone (the model's `dead`)? */
  readonly released: (domain: { readonly totPages: number }) => boolean;
  /**
   * XEN_DOMCTL_createdomain at the domid of `old` (a domain not running): is the domid free
   * (`domid_alloc`)? `teardownFinished`: `domain_kill` reached DOMDYING_dead (no continuation left).
   */
  readonly domidFree: (old: {
    readonly life: 'dying' | 'dead';
    readonly teardownFinished: boolean;
    readonly totPages: number;
  }) => boolean;
}

/** Xen's: gone once it owns no page; its domid free once it is gone. */
export const soundLifecycle: DomainLifecycle = {
  name: 'xen',
  released: ({ totPages }) => totPages === 0,
  domidFree: ({ life }) => life === 'dead',
};

export function hasBug(config: XenConfig, bug: XenBug): boolean {
  return config.bugs.includes(bug);
}
