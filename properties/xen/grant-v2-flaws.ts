/**
 * Flawed variants of grant table v2 and GNTTABOP_copy, each a Xen configuration with one hook
 * replaced (`XenConfig.grantVersion`, `XenConfig.grantCopy`), the real bug it stands for, and the
 * generic invariants (`grant-v2-invariants.ts`, the frame-refcount one) it is declared to break.
 * A stack wires them into its designs with its own world and generators.
 */
import type { XenConfig } from '../../models/xen/config.js';
import { soundGrantCopy } from '../../models/xen/grant-copy.js';
import type { GrantCopyChecks } from '../../models/xen/grant-copy.js';
import { soundGrantFrameMapping, soundGrantVersionSwitch } from '../../models/xen/grant-v2.js';
import type { GrantFrameMapping, GrantVersionSwitch } from '../../models/xen/grant-v2.js';

export interface GrantV2Flaw {
  readonly name: string;
  readonly note: string;
  readonly config: XenConfig;
  readonly breaks: readonly string[];
}

/** set_version without its in-use scan: the table is cleared and converted under live pins. */
export const setVersionIgnoresPins: GrantVersionSwitch = {
  ...soundGrantVersionSwitch,
  name: 'set-version-ignores-pins',
  blocksSwitch: () => false,
};

/** Unpopulate frees a status frame without taking it out of the guest's p2m (before XSA-255). */
export const unpopulateLeavesStatusMapped: GrantVersionSwitch = {
  ...soundGrantVersionSwitch,
  name: 'unpopulate-leaves-status-mapped',
  removesStatusFromP2m: () => false,
};

/** add_to_physmap leaves the frame at its old gfn too (the race XSA-379 closed, as a decision). */
export const statusFrameAtTwoGfns: GrantFrameMapping = {
  ...soundGrantFrameMapping,
  name: 'status-frame-at-two-gfns',
  unhooksOldGfn: () => false,
};

/** gnttab_copy_buf without its bounds: offset + len beyond the page runs into the next frame. */
export const copySkipsBounds: GrantCopyChecks = { ...soundGrantCopy, name: 'copy-skips-bounds', bounds: () => null };

/** acquire_grant_for_copy pins a GTF_readonly grant for writing. */
export const copyWritesReadonlyGrant: GrantCopyChecks = {
  ...soundGrantCopy,
  name: 'copy-writes-readonly-grant',
  writePinAllowed: () => true,
};

/** The claims are released as soon as they are taken: the memcpy runs with no pin and no reference. */
export const copyReleasesBeforeCopy: GrantCopyChecks = {
  ...soundGrantCopy,
  name: 'copy-releases-before-copy',
  release: 'at-claim',
};

export const grantV2Flaws: readonly GrantV2Flaw[] = [
  {
    name: setVersionIgnoresPins.name,
    note: 'gnttab_set_version switches with entries in use: their status bits are lost (the -EBUSY scan, xen/common/grant_table.c)',
    config: { bugs: [], grantVersion: setVersionIgnoresPins },
    breaks: ['grant-status-matches-pins'],
  },
  {
    name: unpopulateLeavesStatusMapped.name,
    note: 'XSA-255 (38bfcc165d): gnttab_unpopulate_status_frames freed status frames a translated guest still had in its p2m',
    config: { bugs: [], grantVersion: unpopulateLeavesStatusMapped },
    breaks: ['grant-frame-mappings-live'],
  },
  {
    name: statusFrameAtTwoGfns.name,
    note: 'XSA-379 (f147422bf9): two XENMAPSPACE_grant_table requests left a status frame at two gfns; unpopulate removed the one the M2P names',
    config: { bugs: [], grantFrameMapping: statusFrameAtTwoGfns },
    breaks: ['grant-frame-mappings-live'],
  },
  {
    name: copySkipsBounds.name,
    note: 'gnttab_copy_buf without "copy beyond page area" (GNTST_bad_copy_arg): the memcpy spills into the next machine frame',
    config: { bugs: [], grantCopy: copySkipsBounds },
    breaks: ['grant-copy-accesses-claimed-frames'],
  },
  {
    name: copyWritesReadonlyGrant.name,
    note: '_set_status without "Attempt to write-pin a r/o grant entry": the copy writes a page granted read-only',
    config: { bugs: [], grantCopy: copyWritesReadonlyGrant },
    breaks: ['grant-copy-writes-writable-grants'],
  },
  {
    name: copyReleasesBeforeCopy.name,
    note: 'gnttab_copy_release_buf before gnttab_copy_buf: the granter can revoke and free the page the memcpy then writes',
    config: { bugs: [], grantCopy: copyReleasesBeforeCopy },
    breaks: [
      'grant-pins-match-mappings-and-copies',
      'frame-refcount-matches-holders',
      'grant-copy-holds-its-claims',
      'grant-copy-accesses-claimed-frames',
    ],
  },
];
