/**
 * Domain creation as the toolstack issues it (docs/reference/xen.md §2.13): XEN_DOMCTL_createdomain
 * at a given domid, then XENMEM_populate_physmap of the domain's RAM.
 *
 * xen/common/domctl.c `XEN_DOMCTL_createdomain`: `domid_alloc(op->domain)` claims the domid in the
 * bitmap, or fails (-EEXIST) while it is in use (xen/common/domid.c); `domain_create`
 * (xen/common/domain.c) builds the domain — a fresh grant table (`grant_table_init`: no entry
 * granted, none pinned) and maptrack (every handle free), an empty p2m, no pages — and inserts it
 * into the domain list. A domid is in use from `domid_alloc` until `_domain_destroy` frees it
 * (`domid_free`), which runs once the last reference on the old domain is dropped: every page
 * the domain owns holds one (`assign_pages` takes it with the first page, `free_domheap_pages`
 * drops it with the last, xen/common/page_alloc.c). So a destroyed domain that still owns frames
 * others reference (a zombie) keeps its domid, and creating a domain there is refused with EEXIST;
 * the model's `dead` is "gone, domid free", decided by `DomainLifecycle` (config.ts).
 *
 * Then the toolstack populates the domain's RAM (libxl's domain build: `xc_domain_populate_physmap`
 * with every gfn, one call): `populate_physmap` allocates extent after extent and, when an
 * allocation fails, returns how many were done (`memory-op.ts` `populateExtents`); the command
 * reports it (`nrDone` of `extents`) and the domain runs with what it got (libxl would then
 * destroy it: the generated `destroyDomain` does).
 *
 * `domain_create` failing (the `domainCreate` fault point, as `grant_table_init` running out of
 * memory) unwinds through its `fail:` path and `_domain_destroy`, which frees the domid again:
 * nothing the model keeps changed, ENOMEM.
 *
 * Left out: domid allocation by search (DOMID_ANY), max_pages and the other createdomain
 * parameters, vCPUs, event channels, the domain's own IOMMU context. The new domain has the
 * same kind (translated, privileged) as the world's domain at that domid.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { soundLifecycle } from './config.js';
import type { XenConfig } from './config.js';
import { noFaults } from './fault.js';
import type { XenFaults } from './fault.js';
import { populateExtents } from './memory-op.js';
import { freshDomain } from './state.js';
import type { DomainSpec, XenWorldSpec } from './state.js';
import { writableDomain } from './copy-on-write.js';
import type { XenState } from './types.js';

export interface CreateDomainArgs {
  readonly domid: number;
}

/**
 * XEN_DOMCTL_createdomain at `args.domid`, then the toolstack's populate_physmap of the world's
 * initial gfns for that domid. ESRCH for a domid the world has no slot for; EEXIST while the domid
 * is in use (running, dying, or a zombie); ENOMEM when `domain_create` fails.
 */
export function createDomain(
  state: XenState,
  config: XenConfig,
  world: Pick<XenWorldSpec, 'domains' | 'grantEntries' | 'maptrackHandles'>,
  args: CreateDomainArgs,
  faults: XenFaults = noFaults,
): OpResult {
  const spec: DomainSpec | undefined = world.domains[args.domid];
  const old = state.domains[args.domid];
  if (spec === undefined || old === undefined) return fail('ESRCH');
  // domid_alloc: the domid's bit is set until _domain_destroy frees it (the design's lifecycle decides).
  if (old.life === 'running') return fail('EEXIST');
  const lifecycle = config.lifecycle ?? soundLifecycle;
  const teardownFinished = old.teardownNext === undefined;
  if (!lifecycle.domidFree({ life: old.life, teardownFinished, totPages: old.totPages })) return fail('EEXIST');
  if (faults.strikes('domainCreate')) return fail('ENOMEM');
  // The old incarnation's entry is replaced: writable (copied) first, then overwritten whole.
  if (writableDomain(state, args.domid) === undefined) return fail('ESRCH');
  state.domains[args.domid] = freshDomain(world, spec, args.domid, old.incarnation + 1);
  populateExtents(state, args.domid, spec.initialGfns, faults);
  const nrDone = Object.keys(state.domains[args.domid]?.p2m ?? {}).length;
  return succeed({ domid: args.domid, incarnation: old.incarnation + 1, nrDone, extents: spec.initialGfns.length });
}
