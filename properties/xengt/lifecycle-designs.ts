/**
 * Flawed variants of Xen's and XenGT's lifecycle and error-unwinding mechanisms (issue 18), each
 * made through a typed hook a user's design could supply (`GrantMapOrdering`, `DomainLifecycle`,
 * `VgpuLifecycle`) on the sound `xen/map` design, and caught by the generic invariants alone:
 * atomicity, the frame and pin accounting, the reuse and teardown invariants, the GVT-g ones.
 * Reference: docs/reference/xen.md §2.13 (creation and reuse), §2.14 (fault injection and unwinds).
 */
import { soundGrantMap } from '../../models/xen/grant-table.js';
import { soundLifecycle } from '../../models/xen/config.js';
import { xenGtDesign } from './design.js';
import type { XenGtDesign } from './design.js';

/**
 * `undo_out` puts the host mapping's page reference only: the one a device mapping holds (the
 * reference `page_get_owner_and_reference` or `get_paged_frame` took, which "device_map claimed")
 * stays. Per-kind reference counting of this kind is what XSA-224 rewrote (75b384ece6, "gnttab:
 * correct logic to get page references during map requests": count `refcnt` and `typecnt` as they
 * are taken, put exactly those).
 */
export const xenMapUnwindKeepsDeviceRef = xenGtDesign({
  id: 'xen/map-unwind-keeps-device-ref',
  backend: 'map',
  expected: 'violates',
  grantMap: {
    ...soundGrantMap,
    name: 'unwind-puts-host-reference-only',
    unwindRefs: ({ taken, host }) => Math.min(taken, host ? 1 : 0),
  },
  description:
    "GNTTABOP_map_grant_ref's undo_out puts the host mapping's page reference and forgets the device mapping's: a device map that fails after taking its references (create_grant_host_mapping, the PV mapper's IOMMU map) leaves a reference no mapping holds, and the frame can never be freed (the per-kind reference counting XSA-224's 75b384ece6 made exact)",
  breaks: ['frame-refcount-matches-holders', 'failed-op-leaves-state-unchanged'],
});

/**
 * `undo_out` drops the host pins it took but not the device ones (`act->pin -= pin_incr` with the
 * device increment left out): the grant stays pinned by no handle.
 */
export const xenMapUnwindKeepsDevicePin = xenGtDesign({
  id: 'xen/map-unwind-keeps-device-pin',
  backend: 'map',
  expected: 'violates',
  grantMap: {
    ...soundGrantMap,
    name: 'unwind-drops-host-pins-only',
    unwindPins: ({ now, taken }) => ({ ...now, hstw: now.hstw - taken.hstw, hstr: now.hstr - taken.hstr }),
  },
  description:
    "GNTTABOP_map_grant_ref's undo_out drops the host pin counters it raised but not the device ones: a device map that fails part-way (a page reference, the host mapping, the IOMMU map) leaves the grant pinned by no maptrack handle, so GTF_reading stays set and the granter can never end access (the pin accounting XSA-224's unwind fixes were about)",
  breaks: ['grant-pins-match-handles', 'failed-op-leaves-state-unchanged'],
});

/**
 * The domid freed when `domain_kill` reaches DOMDYING_dead instead of in `_domain_destroy`: a
 * zombie whose frames others still reference loses its domid to the next createdomain.
 */
export const xenDomidFreedAtKill = xenGtDesign({
  id: 'xen/domid-freed-at-kill',
  backend: 'map',
  expected: 'violates',
  domainLifecycle: {
    ...soundLifecycle,
    name: 'domid-freed-at-kill',
    domidFree: ({ teardownFinished }) => teardownFinished,
  },
  description:
    "XEN_DOMCTL_createdomain reuses the domid of a destroyed domain as soon as domain_kill has finished, while the zombie still owns frames other domains reference (Xen frees the domid in _domain_destroy, which the zombie's tot_pages reference holds off): the new domain is counted the old one's frames, and the other domains' grant and foreign mappings of them now name the new domain",
  breaks: ['tot-pages-matches-owned-frames', 'mapping-names-current-domain'],
});

/** Neither the vGPU's destroy nor its create resets its GGTT ranges (`intel_vgpu_reset_ggtt`). */
export const xenGtNoGgttReset = xenGtDesign({
  id: 'xengt/no-ggtt-reset',
  backend: 'map',
  expected: 'violates',
  vgpuLifecycle: { destroyResetsGgtt: false, createResetsGgtt: false },
  description:
    "the guest's vGPU destroyed (with the guest, or alone) and created again for its next incarnation without intel_vgpu_reset_ggtt at destroy or create (before d650ac06): the hardware keeps the old host GGTT entries, whose DMA addresses — the backend's pool gfns — were unmapped with the DMA cache and are handed out again, and the new vGPU starts with entries its own DMA cache never mapped",
  breaks: ['unowned-ggtt-reaches-scratch', 'shadow-dma-addr-cached'],
});

/**
 * `guest_remove_page` ignoring `guest_physmap_remove_page`'s failure (before XSA-222's a0cce6048d):
 * the allocation reference put while the gfn still maps the page.
 */
export const xenBalloonIgnoresRemoveError = xenGtDesign({
  id: 'xen/balloon-ignores-remove-error',
  backend: 'map',
  expected: 'violates',
  guestRemovePage: { name: 'ignores-remove-error', ignoresRemoveError: true },
  description:
    "decrease_reservation's guest_remove_page puts the page's allocation reference although guest_physmap_remove_page failed (a superpage it could not shatter, no memory for the page table) and reports the extent done: the gfn still maps a page that holds one reference fewer than its holders, freed while mapped once the others go (before XSA-222, a0cce6048d)",
  breaks: ['frame-refcount-matches-holders'],
});

export const xenGtLifecycleDesigns: readonly XenGtDesign[] = [
  xenMapUnwindKeepsDeviceRef,
  xenMapUnwindKeepsDevicePin,
  xenDomidFreedAtKill,
  xenGtNoGgttReset,
  xenBalloonIgnoresRemoveError,
];
