/**
 * Flawed `map_grant_ref` orderings a real implementation could ship, as hook values
 * (`GrantMapOrdering`, models/xen/grant-table.ts) for the window where the map holds no lock:
 * between its pin (under the granter's grant-table and active-entry locks) and its page
 * references, host mapping and maptrack entry (xen/common/grant_table.c `map_grant_ref`). Each is
 * harmless when nothing runs in the window, and each changes one decision of `soundGrantMap`.
 */
import { soundGrantMap } from '../../models/xen/grant-table.js';
import type { GrantMapOrdering } from '../../models/xen/grant-table.js';

/**
 * Xen's map as a lookup, then a map: the first pin records the granted gfn's frame without a
 * reference (a `get_gfn` … `put_gfn` translation instead of `get_paged_frame`), and after the
 * unlock the references are taken on that frame without asking whose it is now. The granter
 * balloons the gfn out in the window, the frame is freed (nothing references it), and the map
 * takes references on a free frame — or on another domain's, once it is handed out again.
 */
export const grantMapUnreferencedPin: GrantMapOrdering = {
  name: 'grant-map-unreferenced-pin',
  referenceAtPin: () => false,
  pageMappable: () => true,
  unwindPins: soundGrantMap.unwindPins,
};

/**
 * The first pin's reference kept, but the page taken after the unlock whoever owns it: a
 * non-zero pin count taken to imply a valid page (the assumption XSA-236, CVE-2017-15597, removed
 * from `gnttab_copy_release_buf` and that `map_grant_ref`'s owner check guards against). Only an
 * entry already pinned takes its reference after the unlock: the mapper's earlier mapping is
 * unmapped in the window, the granter balloons the gfn out, and the frame is free when the map
 * takes its reference.
 */
export const grantMapSkipsOwnerCheck: GrantMapOrdering = {
  name: 'grant-map-skips-owner-check',
  referenceAtPin: soundGrantMap.referenceAtPin,
  pageMappable: () => true,
  unwindPins: soundGrantMap.unwindPins,
};

/**
 * The unwind writes back the pin counters the map found before it pinned (a snapshot of the
 * active entry), instead of taking off its own increments (`act->pin -= pin_incr`): the pins
 * another map or unmap of the same ref made in the window are lost or resurrected.
 */
export const grantMapUnwindRestoresSnapshot: GrantMapOrdering = {
  name: 'grant-map-unwind-restores-snapshot',
  referenceAtPin: soundGrantMap.referenceAtPin,
  pageMappable: soundGrantMap.pageMappable,
  unwindPins: ({ before }) => before,
};

/**
 * The unwind takes the pins this map raised off twice (`act->pin -= pin_incr` on the error path
 * and again in `undo_out`): a map that fails after its pin (an injected page-reference, host
 * mapping or IOMMU failure) leaves the entry's counters below what the other handles hold — below
 * zero when it was the first pin.
 */
export const grantMapUnwindDropsPinsTwice: GrantMapOrdering = {
  name: 'grant-map-unwind-drops-pins-twice',
  referenceAtPin: soundGrantMap.referenceAtPin,
  pageMappable: soundGrantMap.pageMappable,
  unwindPins: ({ now, taken }) => ({
    hstw: now.hstw - 2 * taken.hstw,
    hstr: now.hstr - 2 * taken.hstr,
    devw: now.devw - 2 * taken.devw,
    devr: now.devr - 2 * taken.devr,
  }),
};
