/**
 * XENMEM operations on one gfn at a time: decrease_reservation (balloon out), populate_physmap
 * (balloon in), add_to_physmap with XENMAPSPACE_gmfn_foreign, and remove_from_physmap of a
 * foreign entry. Reference: docs/reference/xen.md §2.7, §2.9.
 *
 * Every call names one extent of order 0 and the calling domain is its own target (a
 * privileged caller targeting others is not generated). decrease_reservation and
 * populate_physmap return `nrDone` (0 or 1) as the real hypercalls do; a stop is reported as a
 * failure carrying the internal errno that stopped it.
 *
 * Fault injection (`fault.ts`, docs/reference/xen.md §2.14): an allocation in `populate_physmap`
 * (it stops, returning the extents done: `populateExtents`, which domain creation uses for the
 * domain's whole RAM), `guest_physmap_remove_page` in `guest_remove_page` (the gfn and its
 * allocation reference stay, the temporary reference is put), `set_foreign_p2m_entry` in
 * `p2m_add_foreign` (the foreign page's reference put again).
 *
 * Left out: superpages, populate-on-demand, paging and sharing (no paged-out or CoW gfns exist),
 * MMIO p2m types, max_pages. populate_physmap over a populated gfn and add_to_physmap over an
 * occupied gfn are refused with EBUSY (real Xen replaces the old entry; the model keeps callers
 * honest instead). remove_from_physmap handles foreign entries only; RAM leaves through
 * decrease_reservation.
 *
 * Phases (docs/reference/xen.md §2.7, xen/common/memory.c `guest_remove_page` at the pinned
 * commit): `startDecreaseReservation` checks, takes the temporary reference (`get_page(page, d)`)
 * and removes the gfn (`guest_physmap_remove_page`, whose IOMMU unmap flushes);
 * `finishDecreaseReservation` puts the allocation reference (`put_page_alloc_ref`) and the
 * temporary one (`put_page`), freeing the frame if they were the last. `get_gfn_query` …
 * `put_gfn` hold the p2m lock across both (the XenGT stack refuses what would take it meanwhile);
 * other holders of the frame run in between. `decreaseReservation` runs both.
 */
import { getRef, putRef, writableFrame } from '../memory/frames.js';
import type { WritableFrame } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { hasBug, soundGuestRemovePage } from './config.js';
import { writableDomain, writableMemory, writableP2m } from './copy-on-write.js';
import type { XenConfig } from './config.js';
import { noFaults } from './fault.js';
import type { XenFaults } from './fault.js';
import { pvPhysmapAddPage } from './page-type.js';
import { allocDomainFrame, dropFrameRef, runningDomain } from './state.js';
import type { XenDomain, XenState } from './types.js';

export interface GfnArgs {
  readonly domid: number;
  readonly gfn: number;
}

/**
 * What `guest_remove_page` has left to do after the gfn left the p2m (plain data): the frame, on
 * which it holds the allocation reference and the temporary one it took (`get_page(page, d)`).
 * With `balloon-puts-before-p2m-remove` the references are already dropped and the p2m entry is
 * what is left.
 */
export interface BalloonInFlight {
  readonly domid: number;
  readonly gfn: number;
  readonly mfn: number;
  /** `balloon-puts-before-p2m-remove`: the puts ran first; the second phase removes the entry. */
  readonly putFirst?: boolean;
}

/**
 * Phase 1 of decrease_reservation for one gfn (`guest_remove_page`, xen/common/memory.c): the
 * checks, the temporary reference taken as the domain (`get_page(page, d)`: a page it does not
 * own is refused), and the gfn removed from the p2m (`guest_physmap_remove_page`, with its IOMMU
 * unmap and flush). Returns the result and what the second phase must put.
 */
export function startDecreaseReservation(
  state: XenState,
  config: XenConfig,
  args: GfnArgs,
  faults: XenFaults = noFaults,
): { readonly result: OpResult; readonly pending?: BalloonInFlight } {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return { result: fail('ESRCH', { nrDone: 0 }) };
  const entry = domain.p2m[args.gfn];
  if (entry === undefined) return { result: fail('ENOENT', { nrDone: 0 }) };
  // get_page(page, d) fails for a page owned by someone else: a grant-mapped or foreign-mapped
  // gfn cannot be ballooned out ("Bad page free").
  if (entry.type !== 'ram_rw' && !hasBug(config, 'balloon-ignores-owner'))
    return { result: fail('ENXIO', { nrDone: 0 }) };
  const pending: BalloonInFlight = { domid: domain.domid, gfn: args.gfn, mfn: entry.mfn };
  const result = succeed({ nrDone: 1, mfn: entry.mfn });
  if (hasBug(config, 'balloon-puts-before-p2m-remove')) {
    // The allocation reference put first: the frame is freed while the gfn still maps it.
    dropFrameRef(state, config, entry.mfn);
    return { result, pending: { ...pending, putFirst: true } };
  }
  // The temporary reference (the frees-outright bug frees without one).
  if (!hasBug(config, 'balloon-frees-referenced-page')) getRef(writableMemory(state), entry.mfn);
  if (faults.strikes('p2mRemove')) {
    // guest_physmap_remove_page failed: the gfn stays, put_page_alloc_ref is skipped (`!rc`), the
    // temporary reference is put; decrease_reservation stops with no extent done. A design that
    // ignores the error (before XSA-222) puts the allocation reference too and counts the extent.
    const ignores = (config.guestRemovePage ?? soundGuestRemovePage).ignoresRemoveError;
    if (ignores) dropFrameRef(state, config, entry.mfn);
    if (!hasBug(config, 'balloon-frees-referenced-page')) dropFrameRef(state, config, entry.mfn);
    return { result: ignores ? succeed({ nrDone: 1, mfn: entry.mfn }) : fail('ENOMEM', { nrDone: 0 }) };
  }
  delete writableP2m(state, domain.domid)[args.gfn];
  return { result, pending };
}

/**
 * Phase 2: `put_page_alloc_ref` (clears PGC_allocated) and `put_page` of the temporary
 * reference; the frame is freed now only if nothing else references it. (The gfn's p2m lock is
 * held from phase 1 to here: `get_gfn_query` … `put_gfn`.)
 */
export function finishDecreaseReservation(state: XenState, config: XenConfig, pending: BalloonInFlight): void {
  if (pending.putFirst === true) {
    const domain = state.domains[pending.domid];
    if (domain?.p2m[pending.gfn]?.mfn === pending.mfn) delete writableP2m(state, pending.domid)[pending.gfn];
    return;
  }
  if (hasBug(config, 'balloon-frees-referenced-page')) {
    freeOutright(state, pending.mfn);
    return;
  }
  dropFrameRef(state, config, pending.mfn);
  dropFrameRef(state, config, pending.mfn);
}

/** XENMEM_decrease_reservation of one gfn, both phases with nothing in between. */
export function decreaseReservation(
  state: XenState,
  config: XenConfig,
  args: GfnArgs,
  faults: XenFaults = noFaults,
): OpResult {
  const started = startDecreaseReservation(state, config, args, faults);
  if (started.pending !== undefined) finishDecreaseReservation(state, config, started.pending);
  return started.result;
}

/** The deliberate bug: the frame goes back to the allocator whatever else still references it. */
function freeOutright(state: XenState, mfn: number): void {
  const memory = writableMemory(state);
  const frame = memory.frames[mfn];
  if (frame === undefined || frame.owner === null) return;
  const owner = writableDomain(state, frame.owner);
  if (owner !== undefined) owner.totPages -= 1;
  const own = writableFrame(memory, mfn) as WritableFrame;
  own.owner = null;
  own.refcount -= 1;
  memory.freeList.push(mfn);
}

/** populate_physmap for one gfn: a free frame becomes the domain's RAM at `gfn`. */
export function populatePhysmap(state: XenState, args: GfnArgs, faults: XenFaults = noFaults): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH', { nrDone: 0 });
  if (domain.p2m[args.gfn] !== undefined) return fail('EBUSY', { nrDone: 0 });
  return populateExtents(state, domain.domid, [args.gfn], faults);
}

/**
 * populate_physmap's loop over its extents (order 0), from the first: each a frame allocated to
 * the domain (`alloc_domheap_pages`, tot_pages raised) and added at its gfn
 * (`guest_physmap_add_page`). An allocation that fails stops the loop (`goto out`) and the
 * hypercall returns the extents done (`a->nr_done = i`): those stay, nothing is unwound. The
 * gfns are free in the p2m (the caller checked). Refused (ENOMEM) only when no extent was done.
 */
export function populateExtents(
  state: XenState,
  domid: number,
  gfns: readonly number[],
  faults: XenFaults = noFaults,
): OpResult {
  let nrDone = 0;
  let lastMfn: number | null = null;
  for (const gfn of gfns) {
    const mfn = faults.strikes('alloc') ? null : allocDomainFrame(state, domid);
    if (mfn === null) break;
    writableP2m(state, domid)[gfn] = { type: 'ram_rw', mfn };
    // guest_physmap_add_page of a PV domain with IOMMU sync: writable, count 0, in its IOMMU.
    pvPhysmapAddPage(state, { bugs: [] }, domid, mfn);
    lastMfn = mfn;
    nrDone += 1;
  }
  if (nrDone === 0 && gfns.length > 0) return fail('ENOMEM', { nrDone: 0 });
  if (gfns.length === 1) return succeed({ nrDone, mfn: lastMfn });
  return succeed({ nrDone, extents: gfns.length });
}

export interface ForeignMapArgs {
  /** Caller and target: the domain whose p2m receives the entry. */
  readonly domid: number;
  readonly gfn: number;
  readonly foreignDomid: number;
  readonly foreignGfn: number;
}

/** XENMEM_add_to_physmap, XENMAPSPACE_gmfn_foreign (p2m_add_foreign): takes its own page reference. */
export function addToPhysmapForeign(state: XenState, args: ForeignMapArgs, faults: XenFaults = noFaults): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH');
  if (!domain.privileged || !domain.translated) return fail('EPERM');
  const foreign = runningDomain(state, args.foreignDomid);
  if (foreign === undefined) return fail('ESRCH');
  if (foreign.domid === domain.domid) return fail('EINVAL');
  const source = foreign.p2m[args.foreignGfn];
  if (source === undefined || source.type !== 'ram_rw') return fail('EINVAL');
  if (domain.p2m[args.gfn] !== undefined) return fail('EBUSY');
  if (faults.strikes('foreignMap')) {
    // p2m_add_foreign: the page's reference taken (get_page_from_gfn), set_foreign_p2m_entry fails
    // (ENOMEM), the reference put again.
    // (The foreign RAM page keeps its allocation reference: the put never frees it.)
    getRef(writableMemory(state), source.mfn);
    putRef(writableMemory(state), source.mfn);
    return fail('ENOMEM');
  }
  addForeignEntry(state, domain, args.gfn, {
    mfn: source.mfn,
    foreignDomid: foreign.domid,
    foreignGfn: args.foreignGfn,
  });
  return succeed({ mfn: source.mfn });
}

/**
 * The last step of both foreign mappings: at a free `gfn` of the caller, a `map_foreign` entry
 * with a page reference of its own on the frame. False, and nothing changed, if `gfn` is taken.
 */
function addForeignEntry(
  state: XenState,
  domain: XenDomain,
  gfn: number,
  entry: { readonly mfn: number; readonly foreignDomid: number; readonly foreignGfn: number },
): boolean {
  if (domain.p2m[gfn] !== undefined) return false;
  getRef(writableMemory(state), entry.mfn);
  const foreignIncarnation = state.domains[entry.foreignDomid]?.incarnation ?? 0;
  writableP2m(state, domain.domid)[gfn] = { type: 'map_foreign', ...entry, foreignIncarnation };
  return true;
}

export interface FrameMapArgs {
  /** Caller and target: the domain whose p2m receives the entry. */
  readonly domid: number;
  readonly gfn: number;
  /** The machine frame to map. */
  readonly mfn: number;
}

/**
 * A privileged mapping of machine frame `mfn` at the caller's `gfn`, with a page reference taken
 * for whoever owns the frame now — as a PV hardware domain's `mmu_update` of a foreign frame does
 * when the frame's real owner is not the one it named and XSM lets the mapping through
 * (`get_page_from_l1e`, xen/arch/x86/mm.c: `pg_owner = real_pg_owner`). No upstream hypercall
 * gives a translated caller this; it stands for an interface that checks the frame when it is
 * looked up and not when it is mapped (docs/debates.md#xengt-lookup-or-map). Recorded like a
 * gmfn_foreign entry, of the owner's gfn that maps the frame: a free frame (get_page fails) or one
 * no gfn of its owner maps is refused (EINVAL).
 */
export function addToPhysmapByMfn(state: XenState, args: FrameMapArgs): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH');
  if (!domain.privileged || !domain.translated) return fail('EPERM');
  const owner = state.memory.frames[args.mfn]?.owner;
  const foreign = owner === null || owner === undefined ? undefined : state.domains[owner];
  if (foreign === undefined || foreign.domid === domain.domid) return fail('EINVAL');
  const foreignGfn = Object.keys(foreign.p2m).find((gfn) => {
    const entry = foreign.p2m[gfn];
    return entry?.type === 'ram_rw' && entry.mfn === args.mfn;
  });
  if (foreignGfn === undefined) return fail('EINVAL');
  if (
    !addForeignEntry(state, domain, args.gfn, {
      mfn: args.mfn,
      foreignDomid: foreign.domid,
      foreignGfn: Number(foreignGfn),
    })
  )
    return fail('EBUSY');
  return succeed({ mfn: args.mfn, owner: foreign.domid });
}

/** XENMEM_remove_from_physmap of a foreign entry: drops the entry's page reference. */
export function removeForeignMapping(state: XenState, config: XenConfig, args: GfnArgs): OpResult {
  const domain = runningDomain(state, args.domid);
  if (domain === undefined) return fail('ESRCH');
  const entry = domain.p2m[args.gfn];
  if (entry === undefined) return fail('ENOENT');
  if (entry.type !== 'map_foreign') return fail('EINVAL');
  delete writableP2m(state, domain.domid)[args.gfn];
  dropFrameRef(state, config, entry.mfn);
  return succeed({ mfn: entry.mfn });
}
