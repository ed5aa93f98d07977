/**
 * Reuse invariants (issue 18: domains destroyed and created again): a domid, and so the maptrack
 * handles and p2m entries that name it, is reused only once nothing refers to the domain that had
 * it before. Xen's maptrack entries and foreign p2m entries name a domain by its domid alone
 * (`mt->domid`; the page reference of a gmfn_foreign entry), so a domid reused while they live
 * would hand the new domain's grants and pages an earlier owner's pins and translations. The model
 * records the incarnation each was made against (`models/xen/types.ts`); these compare it with
 * the domain that has the domid now.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { domainParts } from '../reads.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

export const handleNamesCurrentGranter: XenGtInvariant = {
  name: 'handle-names-current-granter',
  class: 'teardown',
  description:
    "every live maptrack handle names a grant of its granter's current incarnation, not of a domain that had the domid before",
  reads: (state) => domainParts(state.xen, 'incarnation', 'maptrack'),
  check({ after }) {
    for (const mapper of after.xen.domains) {
      for (const [handle, mapping] of mapper.maptrack.entries()) {
        if (mapping === null) continue;
        const granter = after.xen.domains[mapping.granterDomid];
        if (granter === undefined || granter.incarnation === mapping.granterIncarnation) continue;
        return {
          message: `dom${mapper.domid} handle ${handle} maps ref ${mapping.ref} of dom${mapping.granterDomid} as it was in incarnation ${mapping.granterIncarnation}, but dom${mapping.granterDomid} has been created again (incarnation ${granter.incarnation})`,
          actual: `a handle of incarnation ${mapping.granterIncarnation}`,
          expected: `handles of incarnation ${granter.incarnation} only`,
        };
      }
    }
    return null;
  },
};

export const foreignEntryNamesCurrentDomain: XenGtInvariant = {
  name: 'foreign-entry-names-current-domain',
  class: 'teardown',
  description:
    "every foreign p2m entry maps a page of its foreign domain's current incarnation, not of a domain that had the domid before",
  reads: (state) => domainParts(state.xen, 'incarnation', 'p2m'),
  check({ after }) {
    for (const domain of after.xen.domains) {
      for (const [gfn, entry] of Object.entries(domain.p2m)) {
        if (entry.type !== 'map_foreign') continue;
        const foreign = after.xen.domains[entry.foreignDomid];
        if (foreign === undefined || foreign.incarnation === entry.foreignIncarnation) continue;
        return {
          message: `dom${domain.domid} gfn ${gfn} maps mfn ${entry.mfn}, dom${entry.foreignDomid}'s gfn ${entry.foreignGfn} in incarnation ${entry.foreignIncarnation}, but dom${entry.foreignDomid} has been created again (incarnation ${foreign.incarnation})`,
          actual: `an entry of incarnation ${entry.foreignIncarnation}`,
          expected: `entries of incarnation ${foreign.incarnation} only`,
        };
      }
    }
    return null;
  },
};
