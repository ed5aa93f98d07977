/**
 * The shape of the PV MMU commands (`models/xen/pv-mmu.ts`) for a stack's command schema: domids
 * are `domid_t` (16 bits); mfns are 64-bit (`xen_pfn_t`; the model answers every value, a frame
 * beyond memory is I/O space); a slot is the entry's index in its table (`req.ptr`'s offset / 8:
 * 512 entries, of which the model keeps `L1_SLOTS` and refuses the others with EINVAL).
 */
import type { PvMmuCommand } from '../../models/xen/pv-mmu.js';
import { domid, upTo } from '../generic/command-schema.js';
import type { FieldType } from '../generic/command-schema.js';

const nat = 'whole number';
const slot = upTo(511, 'an L1 table has 512 entries');

export const pvMmuCommandSchema: {
  readonly [K in PvMmuCommand['kind']]: Record<Exclude<keyof Extract<PvMmuCommand, { kind: K }>, 'kind'>, FieldType>;
} = {
  pvMmuUpdate: { domid, tableMfn: nat, slot, mfn: 'whole number or null', rw: 'boolean' },
  pvMmuProtect: { domid, tableMfn: nat, slot, rw: 'boolean' },
  pvPinL1Table: { domid, mfn: nat },
  pvUnpinTable: { domid, mfn: nat },
};
