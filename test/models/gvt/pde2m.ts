/** A guest's 2M entry, for both GVT-g stacks' tests: the PS bit set in a page-directory entry. */
import type { GvtCommand } from '../../../models/gvt/commands.js';

export type GuestWritePte = Extract<GvtCommand, { kind: 'guestWritePte' }>;

/** The guest stores a 2M entry naming `targetGfn` into entry 0 of its page directory at gfn 0. */
export function pde2m(targetGfn: number, extra: Partial<GuestWritePte> = {}): GuestWritePte {
  return { kind: 'guestWritePte', gfn: 0, index: 0, present: true, targetGfn, sizeBytes: 8, pse: true, ...extra };
}
