/**
 * Grant table v2 and GNTTABOP_copy invariants (`properties/xen/grant-v2-invariants.ts`)
 * over the Xen passthrough stack's Xen state. `frame-refcount-matches-holders` is the stack's own
 * (it counts the same holders — grant-table frames and copies in flight among them, through
 * `holderCensus` — and the references of the stack's operations in flight); C's pin and status
 * invariants replace XenGT's v1-only `grant-pins-match-handles`, `grant-reading-matches-pins` and
 * `grant-writing-matches-pins` (a copy in flight holds a pin; a v2 table keeps its status bits in
 * its status words).
 */
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { Invariant } from '../../src/design.js';
import { grantV2Invariants } from '../xen/grant-v2-invariants.js';

/**
 * Left out: the stack's own `frame-refcount-matches-holders` (one per name), and the three of C's
 * that check the model's own bookkeeping of the version switch and the table's frames
 * (`v2-entries-carry-no-status`, `status-frames-match-version`, `grant-table-frames-owned`): no
 * decision point a design supplies reaches them, so no flawed design or mutant of the stack can
 * break them (test/meta/mutants.test.ts asks that of every invariant); C's tests
 * (test/xen/grant-v2*.test.ts) keep them.
 */
const leftOut = new Set([
  'frame-refcount-matches-holders',
  'v2-entries-carry-no-status',
  'status-frames-match-version',
  'grant-table-frames-owned',
]);

export function xenPtGrantV2Invariants(): Invariant<XenPtState, XenPtCommand>[] {
  return grantV2Invariants<XenPtState, XenPtCommand>((state) => state.xen).filter(
    (invariant) => !leftOut.has(invariant.name),
  );
}
