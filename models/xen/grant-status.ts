/**
 * Where a grant's GTF_reading / GTF_writing live, by the granter's table version: in the v1
 * shared entry's flags, or in the v2 status array (`status_entry(gt, ref)`), which Xen writes and
 * the guest only reads (`_set_status_v1` / `_set_status_v2`, `reduce_status_for_pin`,
 * xen/common/grant_table.c). The one place the model's grant code reads and writes them.
 */
import { writableGrantEntry, writableGrantStatus } from './copy-on-write.js';
import type { GrantStatus, XenDomain, XenState } from './types.js';

const clear: GrantStatus = { reading: false, writing: false };

/** `gt->gt_version`: 1 unless the domain switched (GNTTABOP_set_version). */
export function grantVersionOf(domain: Pick<XenDomain, 'grantVersion'>): 1 | 2 {
  return domain.grantVersion ?? 1;
}

/** The status bits of `ref` as Xen keeps them for the domain's version. */
export function grantStatusBits(domain: XenDomain, ref: number): GrantStatus {
  if (grantVersionOf(domain) === 2) return domain.grantStatus?.[ref] ?? clear;
  const entry = domain.grantTable[ref];
  return entry === undefined ? clear : { reading: entry.reading, writing: entry.writing };
}

/** Writes the status bits of `ref` where the domain's version keeps them. */
export function setGrantStatusBits(state: XenState, domid: number, ref: number, bits: GrantStatus): void {
  const domain = state.domains[domid];
  if (domain === undefined) return;
  if (grantVersionOf(domain) === 2) {
    const status = domain.grantStatus;
    if (status?.[ref] === undefined) return;
    const current = status[ref];
    if (current.reading === bits.reading && current.writing === bits.writing) return;
    const word = writableGrantStatus(state, domid, ref);
    if (word === undefined) return;
    word.reading = bits.reading;
    word.writing = bits.writing;
    return;
  }
  const entry = domain.grantTable[ref];
  if (entry === undefined || (entry.reading === bits.reading && entry.writing === bits.writing)) return;
  const written = writableGrantEntry(state, domid, ref);
  if (written === undefined) return;
  written.reading = bits.reading;
  written.writing = bits.writing;
}
