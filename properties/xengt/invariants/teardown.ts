/**
 * Teardown invariants: what destruction of a domain or a vGPU must leave behind — nothing of
 * its own, and nothing of anyone else's that it held.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { XenDomain } from '../../../models/xen/types.js';
import type { Invariant, Violation } from '../../../src/design.js';
import { backendP2m, domainParts } from '../reads.js';
import { backendPoolMappings } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

function firstDomain(domains: readonly XenDomain[], visit: (domain: XenDomain) => Violation | null): Violation | null {
  for (const domain of domains) {
    const violation = visit(domain);
    if (violation !== null) return violation;
  }
  return null;
}

export const dyingDomainHoldsNoHandles: XenGtInvariant = {
  name: 'dying-domain-holds-no-handles',
  class: 'teardown',
  description: 'after gnttab_release_mappings a dying or dead domain has no live maptrack handle',
  // Not relaxed for a teardown in flight: `domain_kill` releases the mappings before its first
  // continuation (`gnttab_release_mappings` checks for preemption once per MAPTRACK_PER_PAGE
  // handles, past the model's few), so a dying domain between its calls has none left.
  reads: (state) => domainParts(state.xen, 'life', 'maptrack'),
  check({ after }) {
    return firstDomain(after.xen.domains, (domain) => {
      if (domain.life === 'running') return null;
      const live = domain.maptrack.flatMap((mapping, handle) => (mapping === null ? [] : [handle]));
      if (live.length === 0) return null;
      return {
        message: `${domain.life} dom${domain.domid} still holds maptrack handles ${live.join(', ')}`,
        actual: `${live.length} live handles`,
        expected: '0 live handles',
      };
    });
  },
};

export const dyingDomainHasEmptyP2m: XenGtInvariant = {
  name: 'dying-domain-has-empty-p2m',
  class: 'teardown',
  description: 'a dying or dead domain has relinquished every p2m entry, once its teardown has reached that stage',
  reads: (state) => domainParts(state.xen, 'life', 'p2m', 'teardownNext'),
  check({ after }) {
    return firstDomain(after.xen.domains, (domain) => {
      if (domain.life === 'running') return null;
      // Legitimately still there: `domain_relinquish_resources` (relinquish_p2m_mapping,
      // relinquish_memory) runs in a continuation of domain_kill that has not run yet.
      if (domain.teardownNext === 'relinquish-memory') return null;
      const gfns = Object.keys(domain.p2m);
      if (gfns.length === 0) return null;
      return {
        message: `${domain.life} dom${domain.domid} still maps gfns ${gfns.join(', ')}`,
        actual: `${gfns.length} p2m entries`,
        expected: '0 p2m entries',
      };
    });
  },
};

export const deadDomainOwnsNoFrames: XenGtInvariant = {
  name: 'dead-domain-owns-no-frames',
  class: 'teardown',
  description: 'a domain is dead only once every frame it owned has been freed',
  reads: (state) => [state.xen.memory, ...domainParts(state.xen, 'life')],
  check({ after }) {
    return firstDomain(after.xen.domains, (domain) => {
      if (domain.life !== 'dead') return null;
      const owned = after.xen.memory.frames.filter((frame) => frame.owner === domain.domid).map((frame) => frame.mfn);
      if (owned.length === 0) return null;
      return {
        message: `dead dom${domain.domid} still owns mfns ${owned.join(', ')}`,
        actual: `${owned.length} frames owned`,
        expected: '0 frames owned',
      };
    });
  },
};

export const zombieWithoutFramesIsDead: XenGtInvariant = {
  name: 'zombie-without-frames-is-dead',
  class: 'teardown',
  description:
    'a dying domain that owns no frame any more is dead (the last free released the zombie), once its teardown has finished',
  reads: (state) => [state.xen.memory, ...domainParts(state.xen, 'life', 'teardownNext')],
  check({ after }) {
    return firstDomain(after.xen.domains, (domain) => {
      if (domain.life !== 'dying') return null;
      // domain_kill has a continuation pending: it sets DOMDYING_dead only at the end.
      if (domain.teardownNext !== undefined) return null;
      if (after.xen.memory.frames.some((frame) => frame.owner === domain.domid)) return null;
      return {
        message: `dom${domain.domid} is still dying but owns no frame`,
        actual: 'dying',
        expected: 'dead',
      };
    });
  },
};

export function noVgpuNoBackendMappings(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'no-vgpu-no-backend-mappings',
    class: 'teardown',
    description: 'once the vGPU is destroyed the backend holds no mapping of guest memory',
    reads: (state) => [state.vgpu === null, backendP2m(state.xen, config.backendDomid)],
    check({ after }) {
      if (after.vgpu !== null) return null;
      const left = backendPoolMappings(after, config);
      if (left.length === 0) return null;
      return {
        message: `no vGPU, but the backend still maps guest memory at dom${config.backendDomid} gfns ${left.join(', ')}`,
        actual: `${left.length} backend mappings`,
        expected: '0 backend mappings',
      };
    },
  };
}
