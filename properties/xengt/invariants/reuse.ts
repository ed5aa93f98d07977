/**
 * Reuse invariant (issue 18: domains destroyed and created again): a domid, and so the maptrack
 * handles and p2m entries that name it, is reused only once nothing refers to the domain that had
 * it before. Xen's maptrack entries and foreign p2m entries name a domain by its domid alone
 * (`mt->domid`; the page reference of a gmfn_foreign entry), so a domid reused while they live
 * would hand the new domain's grants and pages an earlier owner's pins and translations — the
 * backend's foreign entries are the GPU's translations too, through its IOMMU context. The model
 * records the incarnation each was made against (`models/xen/types.ts`); this compares it with the
 * domain that has the domid now.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant, Violation } from '../../../src/design.js';
import { domainParts } from '../reads.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

/** A mapping of another domain's page: which domain (and incarnation) it names, and where it is. */
interface NamedMapping {
  readonly where: string;
  readonly domid: number;
  readonly incarnation: number;
}

function* mappingsOf(state: XenGtState): Generator<NamedMapping> {
  for (const domain of state.xen.domains) {
    for (const [handle, mapping] of domain.maptrack.entries()) {
      if (mapping === null) continue;
      yield {
        where: `dom${domain.domid} maptrack handle ${handle} (ref ${mapping.ref})`,
        domid: mapping.granterDomid,
        incarnation: mapping.granterIncarnation,
      };
    }
    for (const [gfn, entry] of Object.entries(domain.p2m)) {
      if (entry.type !== 'map_foreign') continue;
      yield {
        where: `dom${domain.domid} gfn ${gfn} (gmfn_foreign of gfn ${entry.foreignGfn}, mfn ${entry.mfn})`,
        domid: entry.foreignDomid,
        incarnation: entry.foreignIncarnation,
      };
    }
  }
}

export const mappingNamesCurrentDomain: XenGtInvariant = {
  name: 'mapping-names-current-domain',
  class: 'teardown',
  description:
    "every mapping of another domain's page (a live maptrack handle, a foreign p2m entry) names that domain's current incarnation, not one that had the domid before",
  reads: (state) => domainParts(state.xen, 'incarnation', 'maptrack', 'p2m'),
  check({ after }): Violation | null {
    for (const mapping of mappingsOf(after)) {
      const current = after.xen.domains[mapping.domid];
      if (current === undefined || current.incarnation === mapping.incarnation) continue;
      return {
        message: `${mapping.where} maps a page of dom${mapping.domid} as it was in incarnation ${mapping.incarnation}, but dom${mapping.domid} has been created again (incarnation ${current.incarnation})`,
        actual: `a mapping of incarnation ${mapping.incarnation}`,
        expected: `mappings of incarnation ${current.incarnation} only`,
      };
    }
    return null;
  },
};
