/**
 * Read-only views of the XenGT state for the invariants: who holds each frame, recomputed from
 * every structure (p2m entries, maptrack handles) rather than read from the reference counts the
 * model maintains, and which frames the GPU can reach through the vGPU's leaf shadow entries.
 */
import { shadowReach } from '../../models/gvt/views.js';
import { pairMemo } from '../../models/pair-memo.js';
import type { ReachedFrame } from '../../models/gvt/views.js';
import type { XenGtConfig } from '../../models/xengt/config.js';
import { isPoolGfn, xenGtHost } from '../../models/xengt/host.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenDomain, XenState } from '../../models/xen/types.js';

/** Something that keeps a frame alive, and the domain that can drop it. */
export type Holder =
  /** A RAM p2m entry: the allocation reference (PGC_allocated); dropped by ballooning out. */
  | { readonly kind: 'allocation'; readonly domid: number; readonly gfn: number }
  /** The host part of a grant mapping. */
  | { readonly kind: 'grant host map'; readonly domid: number; readonly handle: number }
  /** The device part of a grant mapping. */
  | { readonly kind: 'grant device map'; readonly domid: number; readonly handle: number }
  /** A foreign p2m entry (XENMAPSPACE_gmfn_foreign), including the map backend's. */
  | { readonly kind: 'foreign map'; readonly domid: number; readonly gfn: number }
  /**
   * A frame of a domain's grant table (shared or v2 status frame `idx`): the allocation reference
   * of `share_xen_page_with_guest` (`models/xen/grant-v2.ts`). Its p2m entry holds none.
   */
  | { readonly kind: 'grant table frame'; readonly domid: number; readonly status: boolean; readonly idx: number }
  /** A buffer of a GNTTABOP_copy the domain has claimed and not yet copied (`models/xen/grant-copy.ts`). */
  | { readonly kind: 'grant copy'; readonly domid: number; readonly index: number; readonly dest: boolean }
  /** A present entry of a PV domain's validated L1 table (`get_page_from_l1e`): dropped by changing the entry or unpinning. */
  | { readonly kind: 'pv l1 entry'; readonly domid: number; readonly tableMfn: number; readonly slot: number }
  /** A PV page-table pin (MMUEXT_PIN_L1_TABLE's `get_page_from_gfn` reference): dropped by MMUEXT_UNPIN_TABLE. */
  | { readonly kind: 'page-table pin'; readonly domid: number; readonly mfn: number };

export function describeHolder(holder: Holder): string {
  switch (holder.kind) {
    case 'allocation':
    case 'foreign map':
      return `${holder.kind} at dom${holder.domid} gfn ${holder.gfn}`;
    case 'grant host map':
    case 'grant device map':
      return `${holder.kind} by dom${holder.domid} handle ${holder.handle}`;
    case 'grant table frame':
      return `dom${holder.domid}'s grant table ${holder.status ? 'status' : 'shared'} frame ${holder.idx}`;
    case 'grant copy':
      return `${holder.dest ? 'destination' : 'source'} of dom${holder.domid}'s grant copy ${holder.index}`;
    case 'pv l1 entry':
      return `L1 entry of dom${holder.domid} table mfn ${holder.tableMfn} slot ${holder.slot}`;
    case 'page-table pin':
      return `page-table pin by dom${holder.domid}`;
  }
}

export function describeHolders(holders: readonly Holder[]): string {
  return holders.length === 0 ? 'no holder' : holders.map(describeHolder).join(', ');
}

// Messages and step explanations name the holders of the same finished state: memoized by state
// object (states are never modified once a step has returned them).
const holdersMemo = new WeakMap<XenState, readonly (readonly Holder[])[]>();

/**
 * Every holder in one domain's tables, as (mfn, kind, where: the gfn of a p2m entry, the handle of
 * a grant mapping): the one definition of a holder, which `holdersByFrame` names and
 * `holderCensus` counts.
 */
type TableHolderKind = 'allocation' | 'foreign map' | 'grant host map' | 'grant device map';

function forEachHolder(domain: XenDomain, visit: (mfn: number, kind: TableHolderKind, where: number) => void): void {
  for (const [gfnKey, entry] of Object.entries(domain.p2m)) {
    if (entry.type === 'ram_rw') visit(entry.mfn, 'allocation', Number(gfnKey));
    if (entry.type === 'map_foreign') visit(entry.mfn, 'foreign map', Number(gfnKey));
  }
  domain.maptrack.forEach((mapping, handle) => {
    if (mapping === null) return;
    if (mapping.host) visit(mapping.mfn, 'grant host map', handle);
    if (mapping.device) visit(mapping.mfn, 'grant device map', handle);
  });
}

/**
 * The holders of grant table v2 and GNTTABOP_copy in one domain: its table's frames (their
 * allocation reference) and the buffers of its copies in flight (a page reference each). None in
 * a domain without them (every XenGT domain).
 */
function forEachGrantV2Holder(domain: XenDomain, visit: (mfn: number, holder: Holder) => void): void {
  const domid = domain.domid;
  domain.sharedFrames?.forEach((mfn, idx) => visit(mfn, { kind: 'grant table frame', domid, status: false, idx }));
  domain.statusFrames?.forEach((mfn, idx) => visit(mfn, { kind: 'grant table frame', domid, status: true, idx }));
  domain.grantCopies?.forEach((copy, index) => {
    visit(copy.source.mfn, { kind: 'grant copy', domid, index, dest: false });
    visit(copy.dest.mfn, { kind: 'grant copy', domid, index, dest: true });
  });
}

/** Holders of every frame, indexed by mfn (memoized: call it on finished states only). */
export function holdersByFrame(xen: XenState): readonly (readonly Holder[])[] {
  const known = holdersMemo.get(xen);
  if (known !== undefined) return known;
  const holders: Holder[][] = xen.memory.frames.map(() => []);
  for (const domain of xen.domains) {
    const domid = domain.domid;
    forEachHolder(domain, (mfn, kind, where) => {
      const holder: Holder =
        kind === 'allocation' || kind === 'foreign map' ? { kind, domid, gfn: where } : { kind, domid, handle: where };
      holders[mfn]?.push(holder);
    });
    forEachGrantV2Holder(domain, (mfn, holder) => holders[mfn]?.push(holder));
  }
  forEachPvHolder(xen, (mfn, holder) => holders[mfn]?.push(holder));
  holdersMemo.set(xen, holders);
  return holders;
}

/**
 * How many holders each frame has, counted from the same structures as `holdersByFrame` without
 * naming them: what the invariants compare on every state (the names are built for a message).
 */
export interface HolderCensus {
  /** Holders of each frame, by mfn. */
  readonly total: readonly number[];
  /** Holders of each frame in domain `domid`'s tables (the references it can drop), by domid then mfn. */
  readonly byDomain: readonly (readonly number[])[];
}

const censusMemo = new WeakMap<XenState, HolderCensus>();
// A step changes a table or two: each domain's count is kept while its p2m and maptrack are.
const domainCensusMemo = pairMemo<XenDomain['p2m'], XenDomain['maptrack'], readonly number[]>();

/** Holders of every frame, counted (memoized: call it on finished states only). */
export function holderCensus(xen: XenState): HolderCensus {
  const known = censusMemo.get(xen);
  if (known !== undefined) return known;
  const frameCount = xen.memory.frames.length;
  const total = new Array<number>(frameCount).fill(0);
  const byDomain = xen.domains.map((domain) => {
    const counts = withGrantV2Holders(
      domain,
      domainCensusMemo(domain.p2m, domain.maptrack, () => countDomainHolders(domain, frameCount)),
    );
    for (let mfn = 0; mfn < frameCount; mfn++) total[mfn] = (total[mfn] ?? 0) + (counts[mfn] ?? 0);
    return counts;
  });
  // PV page tables' references (kept beside memory, not in a domain's tables): added on copies.
  const pvCopies = new Map<number, number[]>();
  forEachPvHolder(xen, (mfn, holder) => {
    if (mfn < 0 || mfn >= frameCount) return;
    total[mfn] = (total[mfn] ?? 0) + 1;
    let counts = pvCopies.get(holder.domid);
    if (counts === undefined) {
      counts = [...(byDomain[holder.domid] ?? new Array<number>(frameCount).fill(0))];
      pvCopies.set(holder.domid, counts);
      byDomain[holder.domid] = counts;
    }
    counts[mfn] = (counts[mfn] ?? 0) + 1;
  });
  const census = { total, byDomain };
  censusMemo.set(xen, census);
  return census;
}

/** `counts` with the domain's grant-table frames and copy buffers added (a copy; `counts` itself when it has none). */
function withGrantV2Holders(domain: XenDomain, counts: readonly number[]): readonly number[] {
  if (domain.sharedFrames === undefined && domain.statusFrames === undefined && domain.grantCopies === undefined)
    return counts;
  const added = [...counts];
  forEachGrantV2Holder(domain, (mfn) => {
    if (mfn >= 0 && mfn < added.length) added[mfn] = (added[mfn] ?? 0) + 1;
  });
  return added;
}

/**
 * The page references PV page tables hold: each present entry of a validated L1 table in use
 * (`get_page_from_l1e`; an I/O frame outside memory holds none) and each pin, named for the table's
 * owner (models/xen/page-type.ts, pv-mmu.ts).
 */
function forEachPvHolder(xen: XenState, visit: (mfn: number, holder: Holder) => void): void {
  const types = xen.pageTypes;
  if (types === undefined) return;
  for (const [key, info] of Object.entries(types)) {
    const tableMfn = Number(key);
    const domid = xen.memory.frames[tableMfn]?.owner;
    if (domid === null || domid === undefined) continue;
    if (info.pinned) visit(tableMfn, { kind: 'page-table pin', domid, mfn: tableMfn });
    if (info.type !== 'l1' || !info.validated || info.count === 0) continue;
    (xen.frameContents?.[key] ?? []).forEach((entry, slot) => {
      if (entry !== null && xen.memory.frames[entry.mfn] !== undefined) {
        visit(entry.mfn, { kind: 'pv l1 entry', domid, tableMfn, slot });
      }
    });
  }
}

/** The holders in one domain's p2m and maptrack, counted by mfn. */
function countDomainHolders(domain: XenDomain, frameCount: number): number[] {
  const counts = new Array<number>(frameCount).fill(0);
  forEachHolder(domain, (mfn) => {
    if (mfn >= 0 && mfn < frameCount) counts[mfn] = (counts[mfn] ?? 0) + 1;
  });
  return counts;
}

const reachMemo = pairMemo<XenGtConfig, XenGtState, readonly ReachedFrame[]>();

/**
 * Every leaf shadow entry of the vGPU (GGTT entries of its ranges, PPGTT shadow leaves) and where
 * a GPU access through it lands, then every GPU access in flight that was translated and has not
 * landed, with the frame it will land in (`in-flight ggtt 3`): a translated access is reach as
 * much as an entry is (memoized: call it on finished states only).
 */
export function reachedFrames(state: XenGtState, config: XenGtConfig): readonly ReachedFrame[] {
  return reachMemo(config, state, () => [
    ...shadowReach(state, config.gvt, xenGtHost(config)),
    ...inflightReach(state),
  ]);
}

/** The GPU's accesses in flight that were translated to a frame, as reach. */
export function inflightReach(state: XenGtState): ReachedFrame[] {
  return state.inflight.flatMap((op) =>
    op.kind === 'gpuDma' && op.dma.outcome === 'translated' && op.dma.dmaAddr !== null
      ? [{ where: `in-flight ggtt ${op.dma.entry}`, dmaAddr: op.dma.dmaAddr, guestGfn: null, mfn: op.dma.mfn }]
      : [],
  );
}

/** A shadow entry's place in words: `GTT entry 3`, `page table gfn 2 entry 1`, `the GPU access in flight through GTT entry 3`. */
export function describeShadowPlace(where: string): string {
  const ggtt = /^ggtt (\d+)$/.exec(where);
  if (ggtt !== null) return `GTT entry ${ggtt[1]}`;
  const inflight = /^in-flight ggtt (\d+)$/.exec(where);
  if (inflight !== null) return `the GPU access in flight through GTT entry ${inflight[1]}`;
  const spt = /^spt gfn (\d+) \[(\d+)\]$/.exec(where);
  return spt === null ? where : `page table gfn ${spt[1]} entry ${spt[2]}`;
}

export function ownerName(owner: number | null | undefined): string {
  return owner === null || owner === undefined ? 'free' : `dom${owner}`;
}

/** gfns of the mappings the map backend holds in its private pool. */
export function backendPoolMappings(state: XenGtState, config: XenGtConfig): number[] {
  const backend = state.xen.domains[config.backendDomid];
  const pool: number[] = [];
  if (backend === undefined) return pool;
  for (const key in backend.p2m) {
    const gfn = Number(key);
    if (isPoolGfn(config, gfn)) pool.push(gfn);
  }
  return pool;
}
