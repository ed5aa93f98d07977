/**
 * The Xen passthrough stack's flawed grant table v2 / GNTTABOP_copy designs: each of the Xen model's
 * flawed hooks (`properties/xen/grant-v2-flaws.ts`) on Xen's passthrough stack, made with
 * `xenPtDesign` and the hook as a user would, with the invariants it breaks there.
 */
import {
  copyReleasesBeforeCopy,
  copySkipsBounds,
  copyWritesReadonlyGrant,
  setVersionIgnoresPins,
  statusFrameAtTwoGfns,
  unpopulateLeavesStatusMapped,
} from '../xen/grant-v2-flaws.js';
import { xenPtDesign } from './design.js';

/** gnttab_set_version without its in-use scan. */
export const xenPtGnttabSetVersionIgnoresPins = xenPtDesign({
  id: 'xenpt/gnttab-set-version-ignores-pins',
  expected: 'violates',
  explore: ['grants'],
  grantVersion: setVersionIgnoresPins,
  description:
    "GNTTABOP_set_version without gnttab_set_version's -EBUSY scan of entries in use (xen/common/grant_table.c): a granter switches versions while the HVM guest maps its grant, the table is cleared and GTF_reading/GTF_writing of the pinned entry are lost",
  breaks: ['grant-status-matches-pins'],
});

/** XSA-255: status frames freed while still in the guest's p2m. */
export const xenPtGnttabUnpopulateLeavesStatusMapped = xenPtDesign({
  id: 'xenpt/gnttab-unpopulate-leaves-status-mapped',
  expected: 'violates',
  explore: ['grants'],
  hvmPt: 'sync',
  grantVersion: unpopulateLeavesStatusMapped,
  description:
    "gnttab_unpopulate_status_frames frees the v2 status frames without taking them out of the translated guest's p2m (Xen before XSA-255, 38bfcc165d): the guest and its passthrough device (p2m_ram_rw: readable and writable in the IOMMU) keep reaching a freed frame",
  breaks: ['grant-frame-mappings-live', 'device-reach-owned-or-held'],
});

/** XSA-379: a status frame left at two gfns. */
export const xenPtGnttabStatusFrameAtTwoGfns = xenPtDesign({
  id: 'xenpt/gnttab-status-frame-at-two-gfns',
  expected: 'violates',
  explore: ['grants'],
  hvmPt: 'sync',
  grantFrameMapping: statusFrameAtTwoGfns,
  description:
    'XENMAPSPACE_grant_table leaves the frame at the gfn it was at when it maps it at another (the race XSA-379, f147422bf9, closed): switching back to v1 removes only the gfn the M2P names, and the other keeps the freed status frame in the p2m and the IOMMU',
  breaks: ['grant-frame-mappings-live', 'device-reach-owned-or-held'],
});

/** GNTTABOP_copy without its bounds check. */
export const xenPtGnttabCopySkipsBounds = xenPtDesign({
  id: 'xenpt/gnttab-copy-skips-bounds',
  expected: 'violates',
  explore: ['grants'],
  grantCopy: copySkipsBounds,
  description:
    "gnttab_copy_buf without its 'copy beyond page area' check (GNTST_bad_copy_arg): offset + len past the page runs Xen's memcpy into the next machine frame, another domain's or a free one (the class of a hypervisor out-of-bounds write on a guest's behalf)",
  breaks: ['grant-copy-accesses-claimed-frames'],
});

/** GNTTABOP_copy writing through a read-only grant. */
export const xenPtGnttabCopyWritesReadonlyGrant = xenPtDesign({
  id: 'xenpt/gnttab-copy-writes-readonly-grant',
  expected: 'violates',
  explore: ['grants'],
  grantCopy: copyWritesReadonlyGrant,
  description:
    "acquire_grant_for_copy pins a GTF_readonly grant for writing (_set_status without 'Attempt to write-pin a r/o grant entry'): the HVM guest's GNTTABOP_copy writes into a page the granter shared read-only",
  breaks: ['grant-copy-writes-writable-grants'],
});

/** GNTTABOP_copy releasing its claims before the memcpy. */
export const xenPtGnttabCopyReleasesBeforeCopy = xenPtDesign({
  id: 'xenpt/gnttab-copy-releases-before-copy',
  expected: 'violates',
  explore: ['grants'],
  grantCopy: copyReleasesBeforeCopy,
  description:
    'GNTTABOP_copy puts its pins and page references (gnttab_copy_release_buf) before the memcpy (gnttab_copy_buf): between the two the granter ends access and balloons the page out, and Xen writes a frame the copy no longer holds (the class of a grant use after free: a reference dropped while the page is still in use)',
  breaks: ['grant-pins-match-mappings-and-copies', 'frame-refcount-matches-holders', 'grant-copy-holds-its-claims'],
});

export const xenPtGrantV2Designs = [
  xenPtGnttabSetVersionIgnoresPins,
  xenPtGnttabUnpopulateLeavesStatusMapped,
  xenPtGnttabStatusFrameAtTwoGfns,
  xenPtGnttabCopySkipsBounds,
  xenPtGnttabCopyWritesReadonlyGrant,
  xenPtGnttabCopyReleasesBeforeCopy,
] as const;
