/**
 * The PV MMU operations a PV guest uses on its own page tables, as commands (plain data) and one
 * step function over `XenState` (xen/arch/x86/mm.c at the pinned commit):
 * - `pvMmuUpdate`: `do_mmu_update`, one `MMU_NORMAL_PT_UPDATE` request (`req.ptr` = the table's
 *   mfn and slot, `req.val` = the new entry), `foreigndom` = DOMID_SELF. The table frame is looked
 *   up with a reference (`get_page_from_gfn`: a PV gfn is an mfn; the caller's frame, else
 *   -EINVAL). A frame that is validated and in use (`page_lock`) is updated by its type: an L1 table
 *   through `mod_l1_entry` (the new entry's references taken with `get_page_from_l1e`, then the old
 *   entry's put with `put_page_from_l1e`, or neither on the fast path for a "sufficiently similar"
 *   entry), a writable frame by a plain write; any other type leaves -EINVAL. A frame not in use
 *   is written as a writable page (`get_page_type(PGT_writable_page)` for the write, put after):
 *   -EINVAL if it cannot be typed writable. Not in the HVM hypercall table: -ENOSYS.
 * - `pvPinL1Table` / `pvUnpinTable`: `do_mmuext_op` MMUEXT_PIN_L1_TABLE / MMUEXT_UNPIN_TABLE. Not a PV
 *   domain: -EINVAL (`!is_pv_domain(pg_owner)`). Pin: the frame with a reference
 *   (`get_page_from_gfn`, -EINVAL), an L1 type reference (`get_page_type_preemptible`: its error,
 *   the reference put), `PGT_pinned` set (already set: -EINVAL after `put_page_and_type`); the pin
 *   keeps the page and type references. Unpin: the frame with a reference (-EINVAL), not pinned:
 *   -EINVAL (the reference put); else `PGT_pinned` cleared, `put_page_and_type`, `put_page`.
 *
 * Left out: batches (one request per command), `foreigndom` (mapping or updating another domain's
 * frames), MMU_PT_UPDATE_PRESERVE_AD / NO_TRANSLATE, MMU_MACHPHYS_UPDATE, L2–L4 pins and updates,
 * the other MMUEXT commands, preemption and continuations, XSM (the dummy policy allows), A/D bits.
 * The model's L1 tables have `L1_SLOTS` slots: a slot beyond them is -EINVAL (the model's).
 */
import { getRef } from '../memory/frames.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { XenConfig } from './config.js';
import { writableMemory, writablePageTypes } from './copy-on-write.js';
import { pageTypeOf } from './page-info.js';
import {
  L1_SLOTS,
  getPageFromL1e,
  getPageType,
  l1Slots,
  l1ValidationError,
  putPageFromL1e,
  putPageType,
  pvMemoryRules,
  writeSlot,
} from './page-type.js';
import type { PvErrno } from './page-type.js';
import { dropFrameRef, runningDomain } from './state.js';
import type { PvL1e, XenState } from './types.js';

export type PvMmuCommand =
  /**
   * MMU_NORMAL_PT_UPDATE of slot `slot` of frame `tableMfn` to the entry mapping `mfn` with
   * `_PAGE_RW` = `rw` (`mfn` null: not present).
   */
  | {
      readonly kind: 'pvMmuUpdate';
      readonly domid: number;
      readonly tableMfn: number;
      readonly slot: number;
      readonly mfn: number | null;
      readonly rw: boolean;
    }
  /**
   * The guest's read-modify-write of one entry (what `mprotect` does to a PTE): MMU_NORMAL_PT_UPDATE
   * of slot `slot` of frame `tableMfn` to the frame the slot maps now with `_PAGE_RW` = `rw` (an
   * empty slot is written empty again). The same hypercall as `pvMmuUpdate`; the guest computes
   * the new entry from the old one.
   */
  | {
      readonly kind: 'pvMmuProtect';
      readonly domid: number;
      readonly tableMfn: number;
      readonly slot: number;
      readonly rw: boolean;
    }
  /** MMUEXT_PIN_L1_TABLE of frame `mfn`. */
  | { readonly kind: 'pvPinL1Table'; readonly domid: number; readonly mfn: number }
  /** MMUEXT_UNPIN_TABLE of frame `mfn`. */
  | { readonly kind: 'pvUnpinTable'; readonly domid: number; readonly mfn: number };

export const pvMmuCommandKinds = ['pvMmuUpdate', 'pvMmuProtect', 'pvPinL1Table', 'pvUnpinTable'] as const;

/** Runs one PV MMU command on `state` (changed through the `writable*` functions). */
export function pvMmuStep(state: XenState, config: XenConfig, command: PvMmuCommand): OpResult {
  switch (command.kind) {
    case 'pvMmuUpdate':
      return mmuUpdate(state, config, command);
    case 'pvMmuProtect': {
      const current = state.frameContents?.[command.tableMfn]?.[command.slot] ?? null;
      const { domid, tableMfn, slot, rw } = command;
      return mmuUpdate(state, config, { kind: 'pvMmuUpdate', domid, tableMfn, slot, mfn: current?.mfn ?? null, rw });
    }
    case 'pvPinL1Table':
      return pinL1Table(state, config, command.domid, command.mfn);
    case 'pvUnpinTable':
      return unpinTable(state, config, command.domid, command.mfn);
  }
}

function result(rc: PvErrno | null): OpResult {
  return rc === null ? succeed() : fail(rc);
}

/** `get_page_from_gfn` of a PV domain: the frame exists, is the domain's and is live (`get_page(page, d)`). */
function ownLiveFrame(state: XenState, domid: number, mfn: number): boolean {
  const frame = state.memory.frames[mfn];
  return frame !== undefined && frame.owner === domid && frame.refcount > 0;
}

function mmuUpdate(
  state: XenState,
  config: XenConfig,
  command: Extract<PvMmuCommand, { kind: 'pvMmuUpdate' }>,
): OpResult {
  const domain = runningDomain(state, command.domid);
  if (domain === undefined) return fail('ESRCH');
  if (domain.translated) return fail('ENOSYS');
  if (!Number.isInteger(command.slot) || command.slot < 0 || command.slot >= L1_SLOTS) return fail('EINVAL');
  if (!ownLiveFrame(state, domain.domid, command.tableMfn)) return fail('EINVAL');
  const table = command.tableMfn;
  const entry: PvL1e | null = command.mfn === null ? null : { mfn: command.mfn, rw: command.rw };
  getRef(writableMemory(state), table);
  let rc: PvErrno | null;
  const info = pageTypeOf(state, table);
  if (info.validated && info.count > 0) {
    // page_lock succeeded: the frame is in use as its type.
    if (info.type === 'l1') rc = modL1Entry(state, config, table, command.slot, entry, domain.domid);
    else if (info.type === 'writable') {
      writeSlot(state, table, command.slot, entry);
      rc = null;
    } else rc = 'EINVAL';
  } else if (getPageType(state, config, table, 'writable') === null) {
    writeSlot(state, table, command.slot, entry);
    putPageType(state, config, table);
    rc = null;
  } else rc = 'EINVAL';
  dropFrameRef(state, config, table);
  return result(rc);
}

/** `mod_l1_entry`: the new entry's references before the write, the old one's put after. */
function modL1Entry(
  state: XenState,
  config: XenConfig,
  table: number,
  slot: number,
  next: PvL1e | null,
  domid: number,
): PvErrno | null {
  const old = l1Slots(state, table)[slot] ?? null;
  if (next !== null) {
    if (old !== null && pvMemoryRules(config).l1FastPath({ old, next })) {
      writeSlot(state, table, slot, next);
      return null;
    }
    const rc = getPageFromL1e(state, config, next, domid);
    if (rc !== null) return rc;
  }
  writeSlot(state, table, slot, next);
  putPageFromL1e(state, config, old);
  return null;
}

function pinL1Table(state: XenState, config: XenConfig, domid: number, mfn: number): OpResult {
  const domain = runningDomain(state, domid);
  if (domain === undefined) return fail('ESRCH');
  if (domain.translated) return fail('EINVAL');
  if (!ownLiveFrame(state, domid, mfn)) return fail('EINVAL');
  const before = pageTypeOf(state, mfn);
  if (before.count === 0 && !(before.type === 'l1' && before.validated)) {
    // The validation get_page_type_preemptible would run (checked first: see l1ValidationError).
    const invalid = l1ValidationError(state, config, mfn);
    if (invalid !== null) return fail(invalid);
  }
  getRef(writableMemory(state), mfn);
  const rc = getPageType(state, config, mfn, 'l1');
  if (rc !== null) {
    dropFrameRef(state, config, mfn);
    return fail(rc);
  }
  const info = pageTypeOf(state, mfn);
  if (info.pinned) {
    // "already pinned": pin_drop, put_page_and_type.
    putPageType(state, config, mfn);
    dropFrameRef(state, config, mfn);
    return fail('EINVAL');
  }
  writablePageTypes(state)[mfn] = { ...info, pinned: true };
  return succeed();
}

function unpinTable(state: XenState, config: XenConfig, domid: number, mfn: number): OpResult {
  const domain = runningDomain(state, domid);
  if (domain === undefined) return fail('ESRCH');
  if (domain.translated) return fail('EINVAL');
  if (!ownLiveFrame(state, domid, mfn)) return fail('EINVAL');
  const info = pageTypeOf(state, mfn);
  // get_page_from_gfn's reference, put again with the "not pinned" refusal: no change.
  if (!info.pinned) return fail('EINVAL');
  getRef(writableMemory(state), mfn);
  writablePageTypes(state)[mfn] = { ...info, pinned: false };
  putPageType(state, config, mfn);
  dropFrameRef(state, config, mfn);
  dropFrameRef(state, config, mfn);
  return succeed();
}
