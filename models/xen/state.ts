/**
 * Construction, copying and lookup of the Xen state, and the one place where a frame reference
 * is dropped (so freeing a frame always updates its owner's tot_pages and zombie status).
 */
import { allocFrame, cloneHostMemory, createHostMemory, putRef } from '../memory/frames.js';
import type { HostMemoryConfig } from '../memory/frames.js';
import { hasBug, soundLifecycle } from './config.js';
import { writableDomain, writableMemory } from './copy-on-write.js';
import { cleanupPageMappings } from './page-cleanup.js';
import type { XenConfig } from './config.js';
import type { ActiveEntry, GrantEntry, MaptrackEntry, P2mEntry, XenDomain, XenState } from './types.js';

export interface DomainSpec {
  readonly translated: boolean;
  readonly privileged: boolean;
  /** gfns populated with RAM at start, in order. */
  readonly initialGfns: readonly number[];
}

export interface XenWorldSpec {
  readonly memory: HostMemoryConfig;
  /** Domain `i` gets domid `i`. */
  readonly domains: readonly DomainSpec[];
  readonly grantEntries: number;
  readonly maptrackHandles: number;
}

export function emptyGrantEntry(): GrantEntry {
  return { permitAccess: false, readonly: false, reading: false, writing: false, domid: 0, frame: 0 };
}

export function emptyActiveEntry(): ActiveEntry {
  return { hstw: 0, hstr: 0, devw: 0, devr: 0, domid: 0, mfn: null };
}

/**
 * A new domain's structures at `domid` (`domain_create`: a fresh grant table and maptrack, an empty
 * p2m, no pages yet): what the world's domains and the toolstack's creations start from.
 */
export function freshDomain(
  spec: Pick<XenWorldSpec, 'grantEntries' | 'maptrackHandles'>,
  domainSpec: Pick<DomainSpec, 'translated' | 'privileged'>,
  domid: number,
  incarnation: number,
): XenDomain {
  return {
    domid,
    incarnation,
    translated: domainSpec.translated,
    privileged: domainSpec.privileged,
    life: 'running',
    totPages: 0,
    p2m: {},
    grantTable: Array.from({ length: spec.grantEntries }, emptyGrantEntry),
    active: Array.from({ length: spec.grantEntries }, emptyActiveEntry),
    maptrack: Array.from({ length: spec.maptrackHandles }, () => null),
  };
}

export function createXenState(spec: XenWorldSpec): XenState {
  const memory = createHostMemory(spec.memory);
  const domains: XenDomain[] = spec.domains.map((domainSpec, domid) => {
    const domain = freshDomain(spec, domainSpec, domid, 0);
    for (const gfn of domainSpec.initialGfns) {
      const mfn = allocFrame(memory, domid);
      if (mfn === null) throw new Error(`world spec: not enough frames to populate dom${domid} gfn ${gfn}`);
      domain.p2m[gfn] = { type: 'ram_rw', mfn };
    }
    domain.totPages = domainSpec.initialGfns.length;
    return domain;
  });
  return { memory, domains };
}

function cloneDomain(domain: XenDomain): XenDomain {
  return {
    domid: domain.domid,
    incarnation: domain.incarnation,
    translated: domain.translated,
    privileged: domain.privileged,
    life: domain.life,
    ...(domain.teardownNext === undefined ? {} : { teardownNext: domain.teardownNext }),
    totPages: domain.totPages,
    p2m: { ...domain.p2m },
    grantTable: domain.grantTable.map((entry) => ({ ...entry })),
    active: domain.active.map((entry) => ({ ...entry })),
    maptrack: domain.maptrack.map((entry): MaptrackEntry | null => (entry === null ? null : { ...entry })),
    ...cloneGrantV2Fields(domain),
    ...(domain.iommu === undefined
      ? {}
      : {
          iommu: {
            sharePt: domain.iommu.sharePt,
            table: { ...domain.iommu.table },
            flushPending: [...domain.iommu.flushPending],
          },
        }),
    ...(domain.grantIommuCounts === undefined ? {} : { grantIommuCounts: { ...domain.grantIommuCounts } }),
  };
}

/** The grant-v2 fields a domain has (`grant-v2.ts`, `grant-copy.ts`), copied; none for a v1 domain. */
function cloneGrantV2Fields(domain: XenDomain): Partial<XenDomain> {
  const fields: Partial<XenDomain> = {};
  if (domain.grantVersion !== undefined) fields.grantVersion = domain.grantVersion;
  if (domain.maxGrantVersion !== undefined) fields.maxGrantVersion = domain.maxGrantVersion;
  if (domain.grantStatus !== undefined) fields.grantStatus = domain.grantStatus.map((word) => ({ ...word }));
  if (domain.sharedFrames !== undefined) fields.sharedFrames = [...domain.sharedFrames];
  if (domain.statusFrames !== undefined) fields.statusFrames = [...domain.statusFrames];
  if (domain.grantFrameGfns !== undefined) fields.grantFrameGfns = { ...domain.grantFrameGfns };
  if (domain.xenheapPages !== undefined) fields.xenheapPages = domain.xenheapPages;
  if (domain.grantCopies !== undefined) fields.grantCopies = [...domain.grantCopies];
  return fields;
}

export function cloneXenState(state: XenState): XenState {
  return {
    memory: cloneHostMemory(state.memory),
    domains: state.domains.map(cloneDomain),
    ...(state.pageTypes === undefined ? {} : { pageTypes: { ...state.pageTypes } }),
    ...(state.lastGrantCopy === undefined ? {} : { lastGrantCopy: state.lastGrantCopy }),
    ...(state.frameContents === undefined ? {} : { frameContents: { ...state.frameContents } }),
  };
}

/** The domain with this domid if it exists and is not yet dead. */
export function liveDomain(state: XenState, domid: number): XenDomain | undefined {
  const domain = state.domains[domid];
  return domain !== undefined && domain.life !== 'dead' ? domain : undefined;
}

/** The domain with this domid if it is running (not dying, not dead). */
export function runningDomain(state: XenState, domid: number): XenDomain | undefined {
  const domain = state.domains[domid];
  return domain !== undefined && domain.life === 'running' ? domain : undefined;
}

export function p2mLookup(domain: XenDomain, gfn: number): P2mEntry | undefined {
  return domain.p2m[gfn];
}

/** Allocates a frame to domain `domid` and accounts it in tot_pages. */
export function allocDomainFrame(state: XenState, domid: number): number | null {
  const mfn = allocFrame(writableMemory(state), domid);
  const domain = writableDomain(state, domid);
  if (mfn !== null && domain !== undefined) domain.totPages += 1;
  return mfn;
}

/**
 * Drops one page reference. If that was the last one the frame is freed and its owner's
 * tot_pages drops; a dying owner with no pages left is finally dead (the zombie is released) —
 * once its teardown has finished: with a continuation pending, `domain_kill` has not reached
 * DOMDYING_dead, and the teardown's last stage decides.
 */
export function dropFrameRef(state: XenState, config: XenConfig, mfn: number): void {
  const previousOwner = putRef(writableMemory(state), mfn);
  if (previousOwner === undefined || previousOwner === null) return;
  cleanupPageMappings(state, mfn, previousOwner);
  const owner = writableDomain(state, previousOwner);
  if (owner === undefined) return;
  if (!hasBug(config, 'free-keeps-tot-pages')) owner.totPages -= 1;
  if (
    owner.life === 'dying' &&
    owner.teardownNext === undefined &&
    domainReleased(config, owner) &&
    !hasBug(config, 'zombie-never-dies')
  )
    owner.life = 'dead';
}

/**
 * Whether a dying domain whose teardown has finished is gone (its domid free again: `domid_free`
 * in `_domain_destroy`), as the design's lifecycle decides (`DomainLifecycle`); Xen's waits for
 * the last page it owns, whose tot_pages reference (`get_knownalive_domain` in `assign_pages`,
 * `put_domain` in `free_domheap_pages`, xen/common/page_alloc.c) keeps it.
 */
export function domainReleased(config: XenConfig, domain: Pick<XenDomain, 'totPages'>): boolean {
  if (hasBug(config, 'destroy-ignores-zombie-frames')) return true;
  return (config.lifecycle ?? soundLifecycle).released({ totPages: domain.totPages });
}
