/**
 * Domain destruction (domain_kill → domain_teardown → domain_relinquish_resources), run to
 * completion in one step. Reference: semantics.md §2.8.
 *
 * Order: mark dying; gnttab_release_mappings (the domain as a mapper gives back every pin and
 * reference); relinquish the p2m (foreign entries drop their references, RAM entries their
 * allocation references). Frames that others still reference stay owned by the dying domain
 * (a zombie) until the last reference goes; the domain is dead when it owns no frame.
 * Grants *of* this domain that others mapped stay mapped.
 *
 * Left out: preemption/continuations, event channels, the final grant_table_destroy. The
 * hardware domain (privileged) cannot be destroyed: EPERM.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { hasBug } from './config.js';
import type { XenConfig } from './config.js';
import { releaseMappings } from './grant-table.js';
import { dropFrameRef, runningDomain } from './state.js';
import type { XenState } from './types.js';

export function destroyDomain(state: XenState, config: XenConfig, domid: number): OpResult {
  const domain = runningDomain(state, domid);
  if (domain === undefined) return fail('ESRCH');
  if (domain.privileged) return fail('EPERM');
  domain.life = 'dying';
  if (!hasBug(config, 'destroy-skips-release-mappings')) releaseMappings(state, config, domain);
  if (!hasBug(config, 'destroy-skips-p2m-teardown')) {
    const entries = Object.entries(domain.p2m);
    domain.p2m = {};
    for (const [, entry] of entries) {
      // Grant entries left here belong to handles released above; they hold no reference of their own.
      if (entry.type === 'ram_rw' || entry.type === 'map_foreign') dropFrameRef(state, config, entry.mfn);
    }
  }
  if (domain.totPages === 0 || hasBug(config, 'destroy-ignores-zombie-frames')) domain.life = 'dead';
  return succeed({ zombie: domain.life === 'dying' });
}
