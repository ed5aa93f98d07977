/**
 * The Xen passthrough stack's further commands, together: PV memory (`pv-memory.ts`: the PV MMU,
 * dom0's grant maps with a device part) and grant table v2 / GNTTABOP_copy
 * (`grant-v2-generators.ts`), and the `grantAccess` generator that replaces the stack's, serving
 * both mechanisms: every domain a granter (the HVM guests half the time), the grantee another
 * domain that maps grants (an HVM guest, or dom0 with its IOMMU context), refs on both sides of the
 * reserved ones (what a version switch scans), a page the granter has (resolved by
 * `resolveXenPtGrantV2`).
 */
import fc from 'fast-check';
import { GNTTAB_NR_RESERVED_ENTRIES } from '../../models/xen/grant-v2.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { preferOr } from '../prefer.js';
import type { XenPtExtraCommands, XenPtTemplate, XenPtUniverse } from './generators.js';
import { xenPtGrantV2Commands } from './grant-v2-generators.js';
import { pvDomids, xenPtPvCommands } from './pv-memory.js';

export function xenPtExtraCommands(config: XenPtConfig, universe: XenPtUniverse): XenPtExtraCommands {
  const pv = xenPtPvCommands(config, universe);
  const v2 = xenPtGrantV2Commands(config, universe);
  const one = <V>(values: readonly V[]): fc.Arbitrary<V> => fc.constantFrom(...values);
  const mappers = [...new Set([...universe.hvmGuests, ...pvDomids(config).hardware])];
  const refs = [0, 1, GNTTAB_NR_RESERVED_ENTRIES, GNTTAB_NR_RESERVED_ENTRIES + 1].filter(
    (ref) => ref < config.world.grantEntries,
  );
  const hvmOrAny = fc.oneof(
    { weight: 1, arbitrary: one(universe.hvmGuests.length > 0 ? universe.hvmGuests : universe.domids) },
    { weight: 1, arbitrary: one(universe.domids) },
  );
  // The granter (an HVM guest half the time: they switch version and map their grant-table
  // frames), then a grantee that maps grants and is not the granter.
  const grantAccess = hvmOrAny
    .chain((domid) => {
      const others = mappers.filter((mapper) => mapper !== domid);
      return fc.record({
        domid: fc.constant(domid),
        ref: one(refs.length > 0 ? refs : [0]),
        granteeDomid: one(others.length > 0 ? others : universe.domids),
        gfn: preferOr(one(universe.gfns)),
        readonly: fc.boolean(),
      });
    })
    .map((args): XenPtTemplate => ({ kind: 'grantAccess', ...args }));
  const conflicts: Record<string, readonly string[]> = { ...pv.conflicts };
  for (const [kind, others] of Object.entries(v2.conflicts ?? {})) {
    conflicts[kind] = [...(conflicts[kind] ?? []), ...others];
  }
  return {
    arbitraries: { ...pv.arbitraries, ...v2.arbitraries, grantAccess },
    weights: { ...pv.weights, ...v2.weights, grantAccess: 5 },
    conflicts,
  };
}
