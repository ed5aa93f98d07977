/**
 * Domain destruction (domain_kill → domain_teardown → domain_relinquish_resources). Reference:
 * docs/reference/xen.md §2.8, §2.12.
 *
 * Order: mark dying; gnttab_release_mappings (the domain as a mapper gives back every pin and
 * reference); relinquish the p2m (foreign entries drop their references, RAM entries their
 * allocation references). Frames that others still reference stay owned by the dying domain
 * (a zombie) until the last reference goes; the domain is dead when it owns no frame.
 * Grants *of* this domain that others mapped stay mapped.
 *
 * Phases (xen/common/domain.c `domain_kill` at the pinned commit): the toolstack's
 * XEN_DOMCTL_destroydomain runs `domain_kill`, which pauses the domain, sets DOMDYING_dying and
 * runs `domain_teardown` (`gnttab_release_mappings`, xen/common/grant_table.c), `evtchn_destroy`
 * and `domain_relinquish_resources` (xen/arch/x86/domain.c: `relinquish_p2m_mapping`, then
 * `relinquish_memory` over the page lists); each may return -ERESTART, and the domctl is continued
 * (a hypercall continuation) from the stage recorded in the domain (`d->teardown.val`,
 * `d->arch.rel_priv`). `startDestroyDomain` is the first call: dying, the mappings released — with
 * the model's few maptrack handles `gnttab_release_mappings` finishes before its first preemption
 * check (one per MAPTRACK_PER_PAGE handles) — and a continuation left pending; other domains run
 * in between (new maps of its grants are refused, its pages may be unmapped and ballooned by
 * others). `finishDestroyDomain` is the continuation: the p2m and memory relinquished, then dead
 * if nothing else holds its frames. `destroyDomain` runs both.
 *
 * The order of the two stages is a hook (`DomainTeardownOrdering`): Xen's (`soundTeardown`)
 * releases the mappings first; a design may give its own.
 *
 * Left out: event channels, vCPU and arch teardown, the IOMMU page tables, the final
 * grant_table_destroy; preemption inside a stage. The hardware domain (privileged) cannot be
 * destroyed: EPERM.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { hasBug } from './config.js';
import type { XenConfig } from './config.js';
import { writableDomain } from './copy-on-write.js';
import { releaseMappings } from './grant-table.js';
import { relinquishPins } from './page-type.js';
import { domainReleased, dropFrameRef, runningDomain } from './state.js';
import { releaseGrantFrames } from './grant-v2.js';
import type { TeardownStage, XenDomain, XenState } from './types.js';

/** The order `domain_kill` runs its stages in: the first before the continuation, the second after. */
export interface DomainTeardownOrdering {
  readonly name: string;
  readonly stages: readonly [TeardownStage, TeardownStage];
}

/** Xen's: `domain_teardown` (gnttab_release_mappings) before `domain_relinquish_resources`. */
export const soundTeardown: DomainTeardownOrdering = {
  name: 'xen',
  stages: ['release-mappings', 'relinquish-memory'],
};

/** A teardown between its two calls: the domain, dying, with its continuation pending. */
export interface DomainTeardownInFlight {
  readonly domid: number;
}

function teardownOrdering(config: XenConfig): DomainTeardownOrdering {
  return config.teardown ?? soundTeardown;
}

/** The domain, writable afresh: releasing references may change its tot_pages and life on the way (copy-on-write.ts). */
function dying(state: XenState, domid: number): XenDomain | undefined {
  return writableDomain(state, domid);
}

function runStage(state: XenState, config: XenConfig, domid: number, stage: TeardownStage): void {
  if (stage === 'release-mappings') {
    if (!hasBug(config, 'destroy-skips-release-mappings')) releaseMappings(state, config, domid);
    return;
  }
  if (hasBug(config, 'destroy-skips-p2m-teardown')) return;
  // relinquish_memory: a PV domain's pinned page tables unpinned before the allocation references go.
  relinquishPins(state, config, domid);
  const domain = dying(state, domid);
  if (domain === undefined) return;
  const entries = Object.entries(domain.p2m);
  domain.p2m = {};
  for (const [, entry] of entries) {
    // Grant entries left here belong to handles released with the mappings; they hold no reference of their own.
    if (entry.type === 'ram_rw' || entry.type === 'map_foreign') dropFrameRef(state, config, entry.mfn);
  }
  // The grant table's Xen-heap frames (a world that models them, grant-v2.ts): none in a v1 world.
  releaseGrantFrames(state, domid);
}

/**
 * The first call of XEN_DOMCTL_destroydomain: checks, the domain paused and marked dying, the
 * first stage run, the continuation left pending (`teardownNext`).
 */
export function startDestroyDomain(
  state: XenState,
  config: XenConfig,
  domid: number,
): { readonly result: OpResult; readonly pending?: DomainTeardownInFlight } {
  const running = runningDomain(state, domid);
  if (running === undefined) return { result: fail('ESRCH') };
  if (running.privileged) return { result: fail('EPERM') };
  const [first, next] = teardownOrdering(config).stages;
  const marked = dying(state, domid);
  if (marked !== undefined) marked.life = 'dying';
  runStage(state, config, domid, first);
  const resumed = dying(state, domid);
  if (resumed !== undefined) resumed.teardownNext = next;
  return { result: succeed({ continuation: next }), pending: { domid } };
}

/**
 * The continuation: the pending stage run, then DOMDYING_dead — in the model, dead once it owns no
 * frame (a zombie until the last reference others hold goes).
 */
export function finishDestroyDomain(state: XenState, config: XenConfig, pending: DomainTeardownInFlight): OpResult {
  const domain = dying(state, pending.domid);
  const stage = domain?.teardownNext;
  if (domain === undefined || stage === undefined) return fail('ESRCH');
  delete domain.teardownNext;
  runStage(state, config, pending.domid, stage);
  const after = dying(state, pending.domid);
  if (after === undefined) return fail('ESRCH');
  if (domainReleased(config, after)) after.life = 'dead';
  return succeed({ zombie: after.life === 'dying' });
}

/** The whole teardown, its continuation run at once. */
export function destroyDomain(state: XenState, config: XenConfig, domid: number): OpResult {
  const started = startDestroyDomain(state, config, domid);
  if (started.pending === undefined) return started.result;
  return finishDestroyDomain(state, config, started.pending);
}
