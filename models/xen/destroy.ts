/**
 * Domain destruction (domain_kill → domain_teardown → domain_relinquish_resources), run to
 * completion in one step. Reference: docs/reference/xen.md §2.8.
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
import { writableDomain } from './copy-on-write.js';
import { releaseMappings } from './grant-table.js';
import { dropFrameRef, runningDomain } from './state.js';
import type { XenDomain, XenState } from './types.js';

export function destroyDomain(state: XenState, config: XenConfig, domid: number): OpResult {
  const running = runningDomain(state, domid);
  if (running === undefined) return fail('ESRCH');
  if (running.privileged) return fail('EPERM');
  // Each change goes through writableDomain afresh: releasing references may change this
  // domain's tot_pages and life on the way (copy-on-write.ts).
  const dying = (): XenDomain => writableDomain(state, domid) ?? running;
  dying().life = 'dying';
  if (!hasBug(config, 'destroy-skips-release-mappings')) releaseMappings(state, config, domid);
  if (!hasBug(config, 'destroy-skips-p2m-teardown')) {
    const entries = Object.entries(dying().p2m);
    dying().p2m = {};
    for (const [, entry] of entries) {
      // Grant entries left here belong to handles released above; they hold no reference of their own.
      if (entry.type === 'ram_rw' || entry.type === 'map_foreign') dropFrameRef(state, config, entry.mfn);
    }
  }
  if (dying().totPages === 0 || hasBug(config, 'destroy-ignores-zombie-frames')) dying().life = 'dead';
  return succeed({ zombie: dying().life === 'dying' });
}
