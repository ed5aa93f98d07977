/**
 * Where Xen's hypercalls can fail for reasons the model does not otherwise produce (an allocation,
 * a reference count, a page-table or IOMMU update running out of memory), and how a caller says
 * which attempt fails: a stack arms "the nth attempt at a point fails" (issue 18, "Error
 * unwinding"; `models/xengt/fault.ts`) and hands the hypercall a `XenFaults` that counts attempts.
 * Each point's failure is unwound step by step as the source does it, by the function that meets it.
 *
 * The points (xen/common/grant_table.c, memory.c, domain.c at the pinned commit):
 * - `maptrack`: `get_maptrack_handle` in `map_grant_ref` finds no handle: GNTST_no_space, before
 *   anything is taken.
 * - `pageRef`: a page reference `map_grant_ref` takes: `get_paged_frame`'s `get_page` for a first
 *   pin (GNTST_bad_page, `unlock_out_clear`: the status bits `_set_status` set are reduced again),
 *   `page_get_owner_and_reference` of a pinned entry's frame, or the second `get_page(pg, rd)` of a
 *   host+device map (`could_not_pin` → `undo_out`).
 * - `hostMapping`: `create_grant_host_mapping` (`undo_out`: the references put, the pins dropped).
 * - `iommuMap`: `iommu_legacy_map` of a PV mapper's IOMMU context for another domain's frame
 *   (`gnttab_need_iommu_mapping`): `undo_out` with the host mapping made (`replace_grant_host_mapping`).
 * - `alloc`: `alloc_domheap_pages` in `populate_physmap`: the hypercall stops, returning the
 *   extents done (`a->nr_done = i`); the done ones stay.
 * - `p2mRemove`: `guest_physmap_remove_page` in `guest_remove_page`: the gfn stays, the
 *   allocation reference is kept, the temporary reference put; decrease_reservation stops there.
 * - `foreignMap`: `set_foreign_p2m_entry` in `p2m_add_foreign` (XENMEM_add_to_physmap,
 *   gmfn_foreign): the foreign page's reference is put again (`put_page`).
 * - `domainCreate`: `domain_create` failing before the domain joins the domain list (e.g.
 *   `grant_table_init`, -ENOMEM): its `fail:` path frees what it built and the domid
 *   (`_domain_destroy` → `domid_free`); nothing of the model's state was touched.
 */

export const xenFaultPoints = [
  'maptrack',
  'pageRef',
  'hostMapping',
  'iommuMap',
  'alloc',
  'p2mRemove',
  'foreignMap',
  'domainCreate',
] as const;

export type XenFaultPoint = (typeof xenFaultPoints)[number];

/** The caller's fault injection: counts an attempt at `point`; true when this attempt fails. */
export interface XenFaults {
  readonly strikes: (point: XenFaultPoint) => boolean;
}

/** Nothing fails but what the real system refuses. */
export const noFaults: XenFaults = { strikes: () => false };
