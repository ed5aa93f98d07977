/**
 * PV page types and type counts (`page->u.inuse.type_info`), as xen/arch/x86/mm.c does them at the
 * pinned commit: `_get_page_type` / `_put_page_type` (with `validate_page` → `promote_l1_table` and
 * `devalidate_page` → `demote_l1_table`), `get_page_from_l1e` / `put_page_from_l1e`, the PV IOMMU
 * sync on a change between `PGT_writable_page` and any other type, and `guest_physmap_add_page`'s
 * writable type for a PV domain's new frames (xen/arch/x86/mm/physmap.c).
 *
 * The rules:
 * - A frame's type may change only while its type count is 0 (`_get_page_type`: "Type changes are
 *   permitted when the typeref is 0"); a reference of another type while the count is non-zero is
 *   -EINVAL. The type stays when the count drops to 0 (a writable frame stays writable, and in its
 *   owner's IOMMU, until it is typed otherwise or freed: `cleanup_page_mappings`, `page-cleanup.ts`).
 * - The first reference of a page-table type validates the contents (`promote_l1_table`: each
 *   present entry's references taken with `get_page_from_l1e`, the ones taken so far put back on a
 *   failure, and the type then reset: `type_info = 0`); `PGT_validated` is set on success. The last
 *   reference devalidates (`demote_l1_table`: every entry's references put).
 * - `get_page_from_l1e`: a general reference of the mapped frame, which must be the L1 owner's
 *   (another's, or a free frame: `could_not_pin`, -EBUSY); an RW entry also takes a
 *   `PGT_writable_page` type reference, and a frame typed otherwise in use (a page table) refuses it
 *   (-EBUSY). This is what keeps a frame from being writable and a page table at once.
 * - A type change between writable and not, for a frame whose owner is a PV domain with IOMMU sync:
 *   `iommu_legacy_unmap(d, dfn = mfn)` when it stops being writable, `iommu_legacy_map(d, dfn = mfn,
 *   mfn, RW)` when it becomes writable (mm.c `_get_page_type`, the hook
 *   `PvMemoryRules.iommuSyncOnTypeChange`).
 *
 * Errors are errno names (`EINVAL`, `EBUSY`, `EPERM`), `null` for success.
 *
 * Left out: L2–L4 and segment-descriptor validation (the model's page tables are L1 tables only),
 * linear page tables, preemption (`-ERESTART`, `PGT_partial`) and concurrency (`PGT_locked`, the
 * validate-locked state), the type count's overflow, cache attributes, `_PAGE_GNTTAB`, shadow
 * paging, TLB flush filtering, `paging_mode_external` foreign mappings (the model's PV pg_owner is
 * always the L1's owner), and the failure of the IOMMU call inside `_get_page_type` (its unwind,
 * `_put_page_type` of a reference that is not validated yet, would hit that function's `BUG_ON`).
 */
import { getRef } from '../memory/frames.js';
import type { XenConfig } from './config.js';
import { writableFrameContents, writableMemory, writablePageTypes } from './copy-on-write.js';
import { forgetPageType, iommuLegacyMap, iommuLegacyUnmap, pvIommuSync } from './page-cleanup.js';
import { pageTypeOf } from './page-info.js';
import { soundPvMemory } from './pv-rules.js';
import type { PvMemoryRules } from './pv-rules.js';
import { dropFrameRef } from './state.js';
import type { PageType, PageTypeInfo, PvL1e, XenState } from './types.js';

/** The slots of an L1 table the model keeps (Xen's has 512; a tiny universe makes entries collide). */
export const L1_SLOTS = 2;

/** The errno names the PV memory operations return. */
export type PvErrno = 'EINVAL' | 'EBUSY' | 'EPERM' | 'ENOSYS' | 'ESRCH';

export function isPageTableType(type: PageType): boolean {
  return type === 'l1' || type === 'l2' || type === 'l3' || type === 'l4';
}

export function pvMemoryRules(config: XenConfig): PvMemoryRules {
  return config.pvMemory ?? soundPvMemory;
}

/** The frame's contents read as L1 slots (`null` not present). */
export function l1Slots(state: XenState, mfn: number): readonly (PvL1e | null)[] {
  return state.frameContents?.[mfn] ?? emptySlots;
}

const emptySlots: readonly (PvL1e | null)[] = Array.from({ length: L1_SLOTS }, () => null);

/** Writes one slot of the frame (the array is replaced whole: states share the old one). */
export function writeSlot(state: XenState, mfn: number, slot: number, entry: PvL1e | null): void {
  const slots = [...l1Slots(state, mfn)];
  slots[slot] = entry;
  writableFrameContents(state)[mfn] = slots;
}

/**
 * Writes the frame's type information. A frame with count 0, not pinned, that is `none`, or
 * `writable` with an owner that is not a PV domain with IOMMU sync, behaves as untyped in every
 * later `_get_page_type` (the type may change, and no IOMMU entry follows it): the model keeps it
 * as untyped (no entry), so that an operation whose references were all put again leaves the
 * state it found.
 */
function setTypeInfo(state: XenState, mfn: number, info: PageTypeInfo): void {
  if (
    info.count === 0 &&
    !info.pinned &&
    (info.type === 'none' || (info.type === 'writable' && !ownerSyncs(state, mfn)))
  ) {
    forgetPageType(state, mfn);
    return;
  }
  writablePageTypes(state)[mfn] = info;
}

function ownerSyncs(state: XenState, mfn: number): boolean {
  const owner = state.memory.frames[mfn]?.owner;
  return owner !== null && owner !== undefined && pvIommuSync(state.domains[owner]);
}

/** `_get_page_type`'s IOMMU step: the frame's PV owner's entry `dfn = mfn` follows writability. */
function syncIommu(state: XenState, config: XenConfig, mfn: number, fromWritable: boolean, toWritable: boolean): void {
  if (fromWritable === toWritable) return;
  const ownerDomid = state.memory.frames[mfn]?.owner;
  const owner = ownerDomid === null || ownerDomid === undefined ? undefined : state.domains[ownerDomid];
  if (!pvIommuSync(owner)) return;
  if (!pvMemoryRules(config).iommuSyncOnTypeChange({ fromWritable, toWritable })) return;
  if (fromWritable) iommuLegacyUnmap(state, owner.domid, mfn);
  else iommuLegacyMap(state, owner.domid, mfn, mfn, { read: true, write: true });
}

/**
 * `get_page_type` / `_get_page_type` (non-preemptible): one type reference of `type` on `mfn`, the
 * frame changing type (and validated) if its count was 0. `null`, or the errno.
 */
export function getPageType(state: XenState, config: XenConfig, mfn: number, type: 'writable' | 'l1'): PvErrno | null {
  const x = pageTypeOf(state, mfn);
  if (x.count > 0) {
    // A reference of the wrong type while the count is non-zero ("Bad type"). A frame in use is
    // always validated in the model (no concurrent validation, no PGT_partial).
    if (x.type !== type) return 'EINVAL';
    setTypeInfo(state, mfn, { ...x, count: x.count + 1 });
    return null;
  }
  // Typeref 0 -> 1: the type may change; if it does, the page needs validating again.
  const changed = x.type !== type;
  const validated = !changed && x.validated;
  setTypeInfo(state, mfn, { type, count: 1, validated, pinned: x.pinned });
  if (validated) return null;
  syncIommu(state, config, mfn, x.type === 'writable', type === 'writable');
  if (type === 'writable') {
    setTypeInfo(state, mfn, { ...pageTypeOf(state, mfn), validated: true });
    return null;
  }
  const rc = promoteL1Table(state, config, mfn);
  if (rc === null) setTypeInfo(state, mfn, { ...pageTypeOf(state, mfn), validated: true });
  // validate_page's failure: `page->u.inuse.type_info = 0` (no type, no count).
  else setTypeInfo(state, mfn, { type: 'none', count: 0, validated: false, pinned: false });
  return rc;
}

/**
 * `put_page_type` / `_put_page_type`: one type reference dropped; a page table's last one clears
 * `PGT_validated` and devalidates it (`_put_final_page_type` → `demote_l1_table`) before the count
 * reaches 0. The type itself stays.
 */
export function putPageType(state: XenState, config: XenConfig, mfn: number): void {
  const x = pageTypeOf(state, mfn);
  if (x.count === 0) return;
  if (x.count === 1 && isPageTableType(x.type) && x.validated) {
    setTypeInfo(state, mfn, { ...x, validated: false });
    if (x.type === 'l1') demoteL1Table(state, config, mfn);
  }
  // (Re-read: the devalidation may have changed it. Never below 0: only a flawed design puts a
  // reference it never took, which Xen would take below 0 as well.)
  const now = state.pageTypes?.[mfn];
  if (now !== undefined && now.count > 0) setTypeInfo(state, mfn, { ...now, count: now.count - 1 });
}

/** `promote_l1_table`: every present entry's references, the ones taken put back on a failure. */
function promoteL1Table(state: XenState, config: XenConfig, mfn: number): PvErrno | null {
  const owner = state.memory.frames[mfn]?.owner ?? null;
  const slots = l1Slots(state, mfn);
  for (let slot = 0; slot < slots.length; slot++) {
    const entry = slots[slot];
    if (entry === null || entry === undefined) continue;
    const rc = owner === null ? 'EBUSY' : getPageFromL1e(state, config, entry, owner);
    if (rc === null) continue;
    for (let taken = slot - 1; taken >= 0; taken--) putPageFromL1e(state, config, slots[taken] ?? null);
    return rc;
  }
  return null;
}

/**
 * What `promote_l1_table` would return for the frame's contents now, changing nothing: the first
 * present entry whose `get_page_from_l1e` fails (an I/O frame of an unprivileged owner: EPERM; a
 * free or foreign frame: EBUSY; an RW entry of a frame in use as another type, or of the table
 * itself, which is becoming an L1: EBUSY). A pin checks it first: the model refuses a pin whose
 * validation would fail with nothing changed, where Xen leaves the frame untyped (`validate_page`:
 * `type_info = 0`) and, had it been writable, already out of its owner's IOMMU.
 */
export function l1ValidationError(state: XenState, config: XenConfig, mfn: number): PvErrno | null {
  const owner = state.memory.frames[mfn]?.owner ?? null;
  for (const entry of l1Slots(state, mfn)) {
    if (entry === null) continue;
    const frame = state.memory.frames[entry.mfn];
    if (frame === undefined) {
      if (owner === null || state.domains[owner]?.privileged !== true) return 'EPERM';
      continue;
    }
    if (owner === null || frame.refcount === 0 || frame.owner !== owner) return 'EBUSY';
    if (!entry.rw) continue;
    // The table itself is becoming an L1 (its count will be 1).
    const target = entry.mfn === mfn ? { type: 'l1' as const, count: 1 } : pageTypeOf(state, entry.mfn);
    if (!pvMemoryRules(config).l1eWritableNeedsType(target)) continue;
    if (target.count > 0 && target.type !== 'writable') return 'EBUSY';
  }
  return null;
}

/** `demote_l1_table`: every entry's references put. */
function demoteL1Table(state: XenState, config: XenConfig, mfn: number): void {
  for (const entry of l1Slots(state, mfn)) putPageFromL1e(state, config, entry);
}

/**
 * `get_page_from_l1e(l1e, l1e_owner, pg_owner = l1e_owner)`: the references a present entry holds
 * while it sits in a validated L1 table. `null`, or the errno.
 */
export function getPageFromL1e(state: XenState, config: XenConfig, entry: PvL1e, l1eOwner: number): PvErrno | null {
  const frame = state.memory.frames[entry.mfn];
  if (frame === undefined) {
    // !mfn_valid: I/O space, mapped with no reference if the domain may (`iomem_access_permitted`:
    // the model lets a privileged domain), else "non-privileged attempt to map MMIO space".
    return state.domains[l1eOwner]?.privileged === true ? null : 'EPERM';
  }
  // page_get_owner_and_reference: a free frame has no owner (could_not_pin, nothing to put); a
  // frame of another domain is refused since pg_owner == l1e_owner (the reference put again).
  if (frame.refcount === 0 || frame.owner === null || frame.owner !== l1eOwner) return 'EBUSY';
  getRef(writableMemory(state), entry.mfn);
  if (entry.rw && !pvMemoryRules(config).l1eWritableNeedsType(pageTypeOf(state, entry.mfn))) return null;
  if (entry.rw && getPageType(state, config, entry.mfn, 'writable') !== null) {
    // "Could not get page type PGT_writable_page": could_not_pin.
    dropFrameRef(state, config, entry.mfn);
    return 'EBUSY';
  }
  return null;
}

/** `put_page_from_l1e`: an RW entry's `put_page_and_type`, a read-only one's `put_page`. */
export function putPageFromL1e(state: XenState, config: XenConfig, entry: PvL1e | null): void {
  if (entry === null || state.memory.frames[entry.mfn] === undefined) return;
  if (entry.rw) putPageType(state, config, entry.mfn);
  dropFrameRef(state, config, entry.mfn);
}

/**
 * `guest_physmap_add_page` for a PV domain with IOMMU sync (xen/arch/x86/mm/physmap.c): a writable
 * type reference taken and dropped at once, so that a new frame starts writable, count 0, and in
 * the domain's IOMMU at dfn = mfn ("pages have started out with IOMMU mappings, and only lose them
 * when changed to a different page type"). Nothing for other domains.
 */
export function pvPhysmapAddPage(state: XenState, config: XenConfig, domid: number, mfn: number): void {
  if (!pvIommuSync(state.domains[domid])) return;
  if (getPageType(state, config, mfn, 'writable') === null) putPageType(state, config, mfn);
}

/**
 * `relinquish_memory`'s pins (xen/arch/x86/domain.c): each of the dying domain's pinned frames
 * unpinned (`test_and_clear_bit(_PGT_pinned)`, `put_page_and_type_preemptible`), its table
 * devalidated when that was its last type reference. Runs before the allocation references go.
 */
export function relinquishPins(state: XenState, config: XenConfig, domid: number): void {
  const types = state.pageTypes;
  if (types === undefined) return;
  for (const key of Object.keys(types)) {
    const mfn = Number(key);
    const info = state.pageTypes?.[mfn];
    if (info?.pinned !== true || state.memory.frames[mfn]?.owner !== domid) continue;
    setTypeInfo(state, mfn, { ...info, pinned: false });
    putPageType(state, config, mfn);
    dropFrameRef(state, config, mfn);
  }
}

/**
 * A PV domain given an IOMMU context with sync (the toolstack's `XEN_DOMCTL_CDF_iommu` at build
 * time, `dom0_construct_pv` / `iommu_memory_setup` for dom0): each frame it owns starts as
 * `guest_physmap_add_page` leaves it, writable with count 0 and mapped at dfn = mfn. For a world
 * whose domains are given their IOMMU after `createXenState` populated them.
 */
export function pvIommuSetup(state: XenState, config: XenConfig, domid: number): void {
  state.memory.frames.forEach((frame) => {
    if (frame.owner === domid && frame.refcount > 0 && pageTypeOf(state, frame.mfn).count === 0) {
      pvPhysmapAddPage(state, config, domid, frame.mfn);
    }
  });
}
