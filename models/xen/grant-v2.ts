/**
 * Grant table v2: the version switch (GNTTABOP_set_version), the status frames it populates and
 * unpopulates, GNTTABOP_get_status_frames, and a translated domain's mapping of its own grant-table
 * frames into its p2m (XENMEM_add_to_physmap, XENMAPSPACE_grant_table). Reference:
 * docs/reference/xen.md §2.16, §2.17, §2.19.
 *
 * Source (xen-project/xen at c447b7308b): xen/common/grant_table.c `gnttab_set_version`,
 * `gnttab_populate_status_frames`, `gnttab_unpopulate_status_frames`, `gnttab_get_status_frames`,
 * `gnttab_get_status_frame_mfn`, `gnttab_get_shared_frame_mfn`, `gnttab_map_frame_begin` /
 * `gnttab_map_frame_end`; xen/common/memory.c `do_memory_op` (XENMEM_add_to_physmap),
 * `xatp_permission_check`, `xenmem_add_to_physmap`; xen/arch/x86/mm/p2m.c
 * `xenmem_add_to_physmap_one`; xen/arch/x86/mm.c `share_xen_page_with_guest`;
 * xen/arch/x86/include/asm/grant_table.h `gnttab_get_frame_gfn`, `gnttab_status_gfn`.
 *
 * The frames are host frames (`models/memory/frames.ts`): a Xen-heap page shared with the domain
 * (`share_xen_page_with_guest`: owner the domain, PGC_allocated and one reference, counted in
 * `d->xenheap_pages`, not in tot_pages). A p2m entry of such a frame (`grant_table`) holds no page
 * reference: the table's allocation reference keeps the frame, which is why Xen must take the
 * frame out of the p2m before it frees it (XSA-255), and keep it at one gfn (XSA-379).
 *
 * Simplified / left out: the table has a fixed number of entries whatever the version (the model's
 * tables fit in one frame either way) and does not grow (`gnttab_grow_table`: an index beyond the
 * frames is -EINVAL); sub-page and transitive grants (so `nr_v2_ops` is always 0: set_version's
 * -EAGAIN and -ERANGE are unreachable); a world that does not set up the shared frames
 * (`setUpGrantFrames`) has one shared frame that is not a host frame (it cannot be mapped);
 * add_to_physmap onto a gfn that holds anything but a grant-table frame is refused with EBUSY
 * (Xen removes the RAM there with `guest_remove_page`; `memory-op.ts` keeps callers honest the
 * same way); the table's frames are mapped by the table's own domain only; a status frame is
 * never referenced by anything but its allocation (the model's grant map and foreign map take RAM
 * entries only), so unpopulate's -EBUSY for a frame still referenced — and the translated
 * domain's crash on it — are checked before any change; the window of XSA-384 and XSA-486 (the frame
 * put in the p2m while a version switch frees it: a reference, then the grant table's lock held
 * across `xenmem_add_to_physmap_one`, `gnttab_map_frame_begin` / `_end`) is not modelled:
 * add_to_physmap runs whole, as Xen runs it since XSA-486 (02708d3b51).
 */
import { allocFrame, putRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { XenConfig } from './config.js';
import { writableDomain, writableMemory, writableP2m } from './copy-on-write.js';
import { grantVersionOf } from './grant-status.js';
import { pinTotal } from './grant-table.js';
import { iommuMapPage, iommuUnmapPage } from './iommu.js';
import { gntst } from './status.js';
import { runningDomain } from './state.js';
import type { GrantEntry, GrantStatus, XenDomain, XenState } from './types.js';

/** `GNTTAB_NR_RESERVED_ENTRIES` (xen/include/public/grant_table.h): refs a version switch keeps. */
export const GNTTAB_NR_RESERVED_ENTRIES = 8;
/** `GRANT_PER_PAGE`: v2 entries per frame (16 bytes each). */
export const GRANT_PER_PAGE = 256;
/** `GRANT_STATUS_PER_PAGE`: status words per frame (2 bytes each). */
export const GRANT_STATUS_PER_PAGE = 2048;
/** `XENMAPIDX_grant_table_status` (xen/include/public/memory.h): the index names a status frame. */
export const XENMAPIDX_GRANT_TABLE_STATUS = 0x80000000;

/**
 * The decisions of the version switch, as hooks (`XenConfig.grantVersion`); Xen's is
 * `soundGrantVersionSwitch`.
 */
export interface GrantVersionSwitch {
  readonly name: string;
  /**
   * `gnttab_set_version`'s in-use scan: does this entry's pin stop the switch (-EBUSY)? Xen's: a
   * pinned entry beyond the reserved ones (the toolstack's xenstore/console grants stay mapped).
   */
  readonly blocksSwitch: (entry: { readonly ref: number; readonly pinTotal: number }) => boolean;
  /**
   * `gnttab_unpopulate_status_frames`: is a status frame that the domain has in its p2m at `gfn`
   * taken out of the p2m (`guest_physmap_remove_page`) before it is freed? Xen's since XSA-255
   * (2018, 38bfcc165d, "don't blindly free status pages upon version change"): yes.
   */
  readonly removesStatusFromP2m: (frame: { readonly translated: boolean; readonly gfn: number }) => boolean;
}

/** Xen's switch. */
export const soundGrantVersionSwitch: GrantVersionSwitch = {
  name: 'xen',
  blocksSwitch: ({ ref, pinTotal: pins }) => ref >= GNTTAB_NR_RESERVED_ENTRIES && pins !== 0,
  removesStatusFromP2m: ({ translated }) => translated,
};

function versionSwitch(config: XenConfig): GrantVersionSwitch {
  return config.grantVersion ?? soundGrantVersionSwitch;
}

function status(name: keyof typeof gntst): OpResult {
  return fail(`GNTST_${name}`, { status: gntst[name] });
}

/** `nr_grant_frames(gt)`: the shared frames modelled, or the one frame every table starts with. */
export function nrGrantFrames(domain: XenDomain): number {
  return domain.sharedFrames?.length ?? 1;
}

/** `nr_status_frames(gt)`. */
export function nrStatusFrames(domain: XenDomain): number {
  return domain.statusFrames?.length ?? 0;
}

/** `grant_to_status_frames`: the status frames `grantFrames` shared frames of v2 entries need. */
export function grantToStatusFrames(grantFrames: number): number {
  return Math.ceil((grantFrames * GRANT_PER_PAGE) / GRANT_STATUS_PER_PAGE);
}

/**
 * The gfn a translated domain has a frame of its own table at (`gnttab_get_frame_gfn`: the M2P
 * entry, which `p2m_add_page` sets and `p2m_remove_page` clears), or `null` (INVALID_GFN).
 */
export function grantFrameGfn(domain: XenDomain, mfn: number): number | null {
  return domain.grantFrameGfns?.[mfn] ?? null;
}

/** Sets (`gfn`) or clears (`null`) the M2P entry of a frame of the domain's table. */
function setGrantFrameGfn(state: XenState, domid: number, mfn: number, gfn: number | null): void {
  const written = writableDomain(state, domid);
  if (written === undefined) return;
  const m2p = { ...written.grantFrameGfns };
  if (gfn === null) delete m2p[mfn];
  else m2p[mfn] = gfn;
  written.grantFrameGfns = m2p;
}

/** `p2m_remove_page` of a grant-table frame's gfn: the entry, its IOMMU mapping, its M2P entry. */
function unhookGrantFrame(state: XenState, domid: number, gfn: number): void {
  const domain = state.domains[domid];
  const entry = domain?.p2m[gfn];
  if (domain === undefined || entry === undefined) return;
  delete writableP2m(state, domid)[gfn];
  iommuUnmapPage(state, domid, gfn);
  if (grantFrameGfn(domain, entry.mfn) === gfn) setGrantFrameGfn(state, domid, entry.mfn, null);
}

/**
 * XENMAPSPACE_grant_table's rule that a frame is at one gfn at most, as a hook
 * (`XenConfig.grantFrameMapping`). Xen's `xenmem_add_to_physmap_one` unhooks the frame from the gfn
 * the M2P says it is at, under the p2m lock taken before that gfn is read: since XSA-379 (2021,
 * f147422bf9, "widen locked region in xenmem_add_to_physmap_one()"), two requests for the same
 * status frame cannot both find it unmapped and leave it at two gfns — of which unpopulate, going
 * by the M2P, would remove one.
 */
export interface GrantFrameMapping {
  readonly name: string;
  /** Is the frame taken out of the gfn it was at (`oldGfn`) before it is put at `gfn`? */
  readonly unhooksOldGfn: (frame: { readonly oldGfn: number; readonly gfn: number }) => boolean;
}

export const soundGrantFrameMapping: GrantFrameMapping = { name: 'xen', unhooksOldGfn: () => true };

/**
 * `grant_table_init`'s shared frames as host frames, for a world that models them: `count` Xen-heap
 * pages shared with the domain (`share_xen_page_with_guest`, SHARE_rw). Returns ENOMEM (nothing
 * changed) when memory is short. A world's set-up step, not a hypercall.
 */
export function setUpGrantFrames(state: XenState, domid: number, count = 1): OpResult {
  const domain = state.domains[domid];
  if (domain === undefined) return fail('ESRCH');
  if (state.memory.freeList.length < count) return fail('ENOMEM');
  const frames = shareXenPages(state, domid, count);
  const written = writableDomain(state, domid);
  if (written === undefined) return fail('ESRCH');
  written.sharedFrames = [...(domain.sharedFrames ?? []), ...frames];
  return succeed({ frames: frames.length });
}

/** `alloc_xenheap_page` + `share_xen_page_with_guest`: owned by the domain, one (allocation) reference. */
function shareXenPages(state: XenState, domid: number, count: number): number[] {
  const frames: number[] = [];
  for (let index = 0; index < count; index++) {
    const mfn = allocFrame(writableMemory(state), domid);
    if (mfn !== null) frames.push(mfn);
  }
  const written = writableDomain(state, domid);
  if (written !== undefined) written.xenheapPages = (written.xenheapPages ?? 0) + frames.length;
  return frames;
}

// ---------------------------------------------------------------------------------------------
// GNTTABOP_set_version

export interface SetVersionArgs {
  /** The calling domain (`current->domain`): set_version changes the caller's own table. */
  readonly domid: number;
  readonly version: number;
}

/**
 * GNTTABOP_set_version (`gnttab_set_version`), in its order: a version other than 1 or 2 is
 * -EINVAL, 2 on a table limited to v1 -ENOSYS, the same version a no-op; a pinned entry the hook
 * says blocks the switch (Xen's: any beyond the reserved 8) -EBUSY; to v2 the status frames are
 * populated (-ENOMEM when memory is short), to v1 unpopulated (-EBUSY if one is still referenced);
 * the reserved entries are carried over (their GTF_reading/GTF_writing moving between the entry's
 * flags and the status array), every other entry cleared (`clear_page` of the shared frames), the
 * version set. `detail.version` is the version after the call (`op.version`), refused or not.
 */
export function setGrantVersion(state: XenState, config: XenConfig, args: SetVersionArgs): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH');
  const current = grantVersionOf(domain);
  const refused = (errno: string): OpResult => fail(errno, { version: current });
  if (args.version !== 1 && args.version !== 2) return refused('EINVAL');
  if (args.version === 2 && (domain.maxGrantVersion ?? 2) === 1) return refused('ENOSYS');
  if (args.version === current) return succeed({ version: current });
  const hook = versionSwitch(config);
  for (let ref = 0; ref < domain.active.length; ref++) {
    const act = domain.active[ref];
    if (act !== undefined && hook.blocksSwitch({ ref, pinTotal: pinTotal(act) })) return refused('EBUSY');
  }
  if (args.version === 2) {
    // gnttab_populate_status_frames: allocated and cleared, then shared with the domain.
    const needed = grantToStatusFrames(nrGrantFrames(domain)) - nrStatusFrames(domain);
    if (state.memory.freeList.length < needed) return refused('ENOMEM');
    const frames = shareXenPages(state, domain.domid, needed);
    const written = writableDomain(state, domain.domid);
    if (written !== undefined) written.statusFrames = [...(domain.statusFrames ?? []), ...frames];
  } else {
    const unpopulated = unpopulateStatusFrames(state, hook, domain.domid);
    if (!unpopulated.ok) return refused(unpopulated.error ?? 'EBUSY');
  }
  convertEntries(state, domain.domid, args.version);
  return succeed({ version: args.version });
}

/**
 * The reserved entries saved in the old layout, every shared entry cleared, the reserved ones
 * restored in the new layout, the version set (the rest of `gnttab_set_version`). v1 → v2: the
 * status word takes the entry's GTF_reading/GTF_writing, the entry keeps the rest; v2 → v1: an
 * entry that is not GTF_permit_access becomes invalid, one that is gets its status word back in
 * its flags.
 */
function convertEntries(state: XenState, domid: number, version: 1 | 2): void {
  const domain = state.domains[domid];
  if (domain === undefined) return;
  const reserved = domain.grantTable.slice(0, GNTTAB_NR_RESERVED_ENTRIES).map((entry, ref): GrantEntry => {
    if (version === 1) {
      const word = domain.grantStatus?.[ref] ?? { reading: false, writing: false };
      return entry.permitAccess ? { ...entry, reading: word.reading, writing: word.writing } : blankEntry();
    }
    return { ...entry };
  });
  const written = writableDomain(state, domid);
  if (written === undefined) return;
  const blanks = domain.grantTable.map(blankEntry);
  if (version === 2) {
    written.grantStatus = blanks.map((_, ref): GrantStatus => {
      const saved = reserved[ref];
      return { reading: saved?.reading ?? false, writing: saved?.writing ?? false };
    });
    written.grantTable = blanks.map((blank, ref) => {
      const saved = reserved[ref];
      return saved === undefined ? blank : { ...saved, reading: false, writing: false };
    });
  } else {
    delete written.grantStatus;
    written.grantTable = blanks.map((blank, ref) => reserved[ref] ?? blank);
  }
  written.grantVersion = version;
}

function blankEntry(): GrantEntry {
  return { permitAccess: false, readonly: false, reading: false, writing: false, domid: 0, frame: 0 };
}

/**
 * `gnttab_unpopulate_status_frames`: each status frame taken out of a translated domain's p2m if
 * it is there (`guest_physmap_remove_page`, as the hook decides), its allocation reference put
 * (`put_page_alloc_ref`) and, with no reference left, freed (`free_xenheap_page`). A frame still
 * referenced is -EBUSY (checked first: the model's status frames have no other holder).
 */
function unpopulateStatusFrames(state: XenState, hook: GrantVersionSwitch, domid: number): OpResult {
  const domain = state.domains[domid];
  if (domain === undefined) return fail('ESRCH');
  const frames = domain.statusFrames ?? [];
  if (frames.some((mfn) => (state.memory.frames[mfn]?.refcount ?? 0) > 1)) return fail('EBUSY');
  for (const mfn of frames) {
    const gfn = grantFrameGfn(domain, mfn);
    if (gfn !== null && hook.removesStatusFromP2m({ translated: domain.translated, gfn })) {
      unhookGrantFrame(state, domid, gfn);
    }
    putRef(writableMemory(state), mfn);
  }
  const written = writableDomain(state, domid);
  if (written === undefined) return fail('ESRCH');
  written.statusFrames = [];
  written.xenheapPages = (written.xenheapPages ?? 0) - frames.length;
  return succeed();
}

// ---------------------------------------------------------------------------------------------
// GNTTABOP_get_status_frames

export interface GetStatusFramesArgs {
  readonly callerDomid: number;
  /** `op.dom`: whose table (the caller's own, or another's for a privileged caller). */
  readonly domid: number;
  readonly nrFrames: number;
}

/**
 * GNTTABOP_get_status_frames (`gnttab_get_status_frames`): the domain (GNTST_bad_domain), the XSM
 * check (`xsm_grant_setup`, XSM_TARGET: itself or a privileged caller, else
 * GNTST_permission_denied), `nr_frames` within the status frames (GNTST_general_error: a v1
 * table has none); then the gfn of each (`gnttab_status_gfn`: a translated domain's p2m gfn or
 * `null` for INVALID_GFN, a PV domain's mfn). The list is `detail.gfns`, comma-separated.
 */
export function getStatusFrames(state: XenState, args: GetStatusFramesArgs): OpResult {
  const caller = runningDomain(state, args.callerDomid);
  if (caller === undefined) return fail('ESRCH');
  const domain = state.domains[args.domid];
  if (domain === undefined || domain.life === 'dead') return status('bad_domain');
  if (caller.domid !== domain.domid && !caller.privileged) return status('permission_denied');
  if (args.nrFrames < 0 || args.nrFrames > nrStatusFrames(domain)) return status('general_error');
  const gfns = (domain.statusFrames ?? []).slice(0, args.nrFrames).map((mfn) => {
    const gfn = domain.translated ? grantFrameGfn(domain, mfn) : mfn;
    return gfn === null ? 'invalid' : String(gfn);
  });
  return succeed({ status: gntst.okay, gfns: gfns.join(',') });
}

// ---------------------------------------------------------------------------------------------
// XENMEM_add_to_physmap, XENMAPSPACE_grant_table

export interface MapGrantFrameArgs {
  /** The domain whose p2m and table (`xatp.domid`, DOMID_SELF: the caller). */
  readonly domid: number;
  /** `xatp.idx` without the flag: the frame's index. */
  readonly idx: number;
  /** `XENMAPIDX_grant_table_status` in `xatp.idx`: a status frame. */
  readonly status: boolean;
  /** `xatp.gpfn`. */
  readonly gfn: number;
}

/**
 * The frame `gnttab_map_frame_begin` names: a status frame of a v2 table when the flag is set,
 * otherwise a shared frame — in v1 the flag stays in the index, which is then beyond any frame.
 */
export function grantFrameFor(domain: XenDomain, args: Pick<MapGrantFrameArgs, 'idx' | 'status'>): number | null {
  if (grantVersionOf(domain) === 2 && args.status) return domain.statusFrames?.[args.idx] ?? null;
  const idx = args.status ? args.idx + XENMAPIDX_GRANT_TABLE_STATUS : args.idx;
  return domain.sharedFrames?.[idx] ?? null;
}

/**
 * XENMEM_add_to_physmap with XENMAPSPACE_grant_table, in Xen's order: the domain (-ESRCH), a
 * translated one (`xatp_permission_check`: -EACCES), the frame (`gnttab_get_status_frame_mfn` /
 * `gnttab_get_shared_frame_mfn`: an index beyond the frames, the table not growing, -EINVAL) and
 * its reference for the duration (`get_page(pg, d)`: -EBUSY); then in the p2m
 * (`xenmem_add_to_physmap_one`): a grant-table frame already at the gfn unhooked
 * (`p2m_remove_page`), the frame unhooked from the gfn it was at (the M2P's old gfn), the entry
 * added (`p2m_add_page`, with the IOMMU of a domain that does not share its p2m), the reference
 * put (`gnttab_map_frame_end`).
 */
export function mapGrantFrame(state: XenState, config: XenConfig, args: MapGrantFrameArgs): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH');
  if (!domain.translated) return fail('EACCES');
  if (args.idx < 0) return fail('EINVAL');
  const mfn = grantFrameFor(domain, args);
  if (mfn === null) return fail('EINVAL');
  const frame = state.memory.frames[mfn];
  if (frame === undefined || frame.owner !== domain.domid || frame.refcount === 0) return fail('EBUSY');
  const previous = domain.p2m[args.gfn];
  if (previous !== undefined && previous.type !== 'grant_table') return fail('EBUSY');
  const oldGfn = grantFrameGfn(domain, mfn);
  if (oldGfn === args.gfn) return succeed({ mfn });
  if (previous !== undefined) unhookGrantFrame(state, domain.domid, args.gfn);
  const unhooks = (config.grantFrameMapping ?? soundGrantFrameMapping).unhooksOldGfn;
  if (oldGfn !== null && unhooks({ oldGfn, gfn: args.gfn })) unhookGrantFrame(state, domain.domid, oldGfn);
  writableP2m(state, domain.domid)[args.gfn] = { type: 'grant_table', mfn, status: args.status, idx: args.idx };
  iommuMapPage(state, domain.domid, args.gfn, mfn, { read: true, write: true });
  setGrantFrameGfn(state, domain.domid, mfn, args.gfn);
  return succeed({ mfn });
}

/**
 * The table's frames given back when the domain's memory is relinquished (`relinquish_memory` of
 * `d->xenpage_list` putting each Xen-heap page's allocation reference, `free_domheap_pages`
 * unlinking it and dropping `xenheap_pages`; the memory itself goes back in `grant_table_destroy`,
 * which the model does at once), after `relinquish_p2m_mapping` emptied the p2m. Called by
 * `destroy.ts`; nothing to do for a table whose frames are not modelled.
 */
export function releaseGrantFrames(state: XenState, domid: number): void {
  const domain = state.domains[domid];
  if (domain === undefined) return;
  const frames = [...(domain.sharedFrames ?? []), ...(domain.statusFrames ?? [])];
  if (frames.length === 0) return;
  for (const mfn of frames) {
    const gfn = grantFrameGfn(domain, mfn);
    if (gfn !== null) unhookGrantFrame(state, domid, gfn);
    putRef(writableMemory(state), mfn);
  }
  const written = writableDomain(state, domid);
  if (written === undefined) return;
  written.sharedFrames = [];
  written.statusFrames = [];
  written.grantFrameGfns = {};
  written.xenheapPages = 0;
}
