/**
 * Renaming symmetry of the Xen passthrough stack's explore scope: machine frames are
 * interchangeable identities, within limits this file states and keeps.
 *
 * What may be renamed. The model only compares, stores and frees frame numbers and allocates in
 * free-list order, so a permutation of frames changes no step's outcome and no invariant's
 * verdict, with two exceptions the renaming must respect:
 * - a dfn is a number whose meaning is the context's: a gfn for an HVM guest, an mfn for a PV
 *   domain (dfn = mfn, `iommu_legacy_map(d, _dfn(mfn), mfn, …)` in the PV paths). A DMA issued in
 *   one context and performed after its device moved to another (deassignment to the hardware
 *   domain without quarantine) reads the same number both ways. So the renaming acts on every
 *   number in an mfn or dfn position alike (IOMMU table keys and values, IOTLB keys and targets,
 *   DMAs in flight, grant frames of PV granters …) and fixes every number that can be a gfn: the
 *   frames below `fixedBelow` (the world's gfn space) keep their numbers. The frames above it are
 *   interchangeable.
 * - two mechanisms read frame numbers as positions, not names, and the scope parts that reach
 *   them are keyed without renaming (`xenPtExploreScope`): GNTTABOP_copy past a page's end touches
 *   the next frame of the direct map (`grants`), and `relinquish_memory` frees a dying domain's
 *   pinned page tables in page-list order, which the model takes in mfn order (`pv-memory`).
 *
 * Canonical order. A first pass visits the state in an order that no frame number decides — each
 * domain by domid: its p2m by gfn, shared and status frames in order, grant entries and active
 * entries by ref, maptrack by handle, copies in flight; then the operations in flight; then the
 * free list in order — and ranks the interchangeable frames it meets. This rank is canonical: a
 * renamed state ranks the renamed frames the same. Templates that aim at "the first" of some
 * frames (`canonicalFirst`) take the first by this rank, or every candidate when none is ranked,
 * so the scope's templates commute with renaming (a renamed state gets the renamed templates).
 * The key then names the frames in rank order and the rest (frames met only in tables keyed by
 * frame number: page types, PV IOMMU tables, the IOTLB, leaked frames) in number order after them:
 * equal keys mean states equal up to a renaming of interchangeable frames.
 */
import type { HostMemory } from '../../models/memory/frames.js';
import type { GrantCopyBuf, XenDomain, XenState } from '../../models/xen/types.js';
import type { DmaTarget, XenPtOp, XenPtState } from '../../models/xenpt/types.js';

/**
 * Calls `visit` on every frame number the state names in a number-free position, in the canonical
 * order of the header (repeats and fixed frames included: the caller ranks). A p2m is visited by
 * for-in: its keys are decimal gfns, which for-in gives in ascending numeric order (integer keys
 * first, ascending: ECMA-262 OrdinaryOwnPropertyKeys), the order a numeric sort of them gives.
 */
export function visitCanonicalFrames(state: XenPtState, visit: (mfn: number | null | undefined) => void): void {
  for (const domain of state.xen.domains) {
    const p2m = domain.p2m;
    for (const gfn in p2m) visit(p2m[gfn]?.mfn);
    if (domain.sharedFrames !== undefined) for (const mfn of domain.sharedFrames) visit(mfn);
    if (domain.statusFrames !== undefined) for (const mfn of domain.statusFrames) visit(mfn);
    // A PV granter names its frame by mfn; an HVM granter's gfn is below fixedBelow.
    for (const entry of domain.grantTable) if (entry.permitAccess) visit(entry.frame);
    for (const entry of domain.active) if (entry.mfn !== null) visit(entry.mfn);
    for (const mapping of domain.maptrack) if (mapping !== null) visit(mapping.mfn);
    if (domain.grantCopies !== undefined)
      for (const copy of domain.grantCopies) {
        visit(copy.source.mfn);
        visit(copy.dest.mfn);
      }
  }
  for (const op of state.inflight) {
    if (op.kind === 'dma') visit(op.dfn);
    if (op.kind === 'moveGfn') visit(op.heldMfn);
  }
  for (const mfn of state.xen.memory.freeList) visit(mfn);
}

/** The canonical rank of the interchangeable frames a state names in number-free positions. */
export function rankFrames(state: XenPtState, fixedBelow: number): Map<number, number> {
  const rank = new Map<number, number>();
  const frameCount = state.xen.memory.frames.length;
  visitCanonicalFrames(state, (mfn) => {
    if (mfn === null || mfn === undefined || mfn < fixedBelow || mfn >= frameCount || rank.has(mfn)) return;
    rank.set(mfn, rank.size);
  });
  return rank;
}

/**
 * The first of `frames` in canonical order: a fixed frame (by number) before any interchangeable
 * one, then by rank; when every candidate is interchangeable and unranked, all of them (a choice
 * among them by number would not commute with renaming). Without renaming (`rank` null): the
 * lowest number.
 */
export function canonicalFirst(
  frames: readonly number[],
  rank: ReadonlyMap<number, number> | null,
  fixedBelow: number,
): number[] {
  if (frames.length === 0) return [];
  if (rank === null) return [Math.min(...frames)];
  const fixed = frames.filter((mfn) => mfn < fixedBelow);
  if (fixed.length > 0) return [Math.min(...fixed)];
  const ranked = frames.filter((mfn) => rank.has(mfn));
  if (ranked.length > 0)
    return [ranked.reduce((best, mfn) => ((rank.get(mfn) ?? 0) < (rank.get(best) ?? 0) ? mfn : best))];
  return [...new Set(frames)].sort((left, right) => left - right);
}

/**
 * The state with its interchangeable frames renamed (`c0`, `c1`, … in rank order, then the rest
 * in number order), as plain data for a key. Numbers in mfn and dfn positions are renamed alike;
 * gfns, refs, handles and domids are kept.
 */
export function canonicalXenPtState(state: XenPtState, fixedBelow: number): unknown {
  const rank = rankFrames(state, fixedBelow);
  const frameCount = state.xen.memory.frames.length;
  for (let mfn = fixedBelow; mfn < frameCount; mfn++) if (!rank.has(mfn)) rank.set(mfn, rank.size);
  return renameXenPtFrames(state, (mfn) => {
    const index = rank.get(mfn);
    return index === undefined ? mfn : `c${index}`;
  });
}

/** A frame's new name: a number (a renamed state) or a canonical label (a key). */
type FrameName = number | string;

/**
 * `state` with every number in an mfn or dfn position passed through `name` (a permutation of
 * frames gives a renamed state; canonical labels give a key's data), host frames listed by their
 * new names (numbers first, in order, then labels by their index). The allocator's counter is
 * kept only under the `random` policy, the one that reads it.
 */
export function renameXenPtFrames(state: XenPtState, name: (mfn: number) => FrameName): XenPtState {
  const nameOrNull = (mfn: number | null): FrameName | null => (mfn === null ? null : name(mfn));
  const target = (dma: DmaTarget): unknown => (dma.kind === 'frame' ? { kind: 'frame', mfn: name(dma.mfn) } : dma);
  const renamed = {
    xen: {
      memory: renameMemory(state.xen.memory, name),
      domains: state.xen.domains.map((domain) => renameDomain(domain, name, nameOrNull)),
      ...optional(
        'pageTypes',
        byName(state.xen.pageTypes, name, (info) => info),
      ),
      ...optional(
        'frameContents',
        byName(state.xen.frameContents, name, (slots) =>
          slots.map((entry) => (entry === null ? null : { ...entry, mfn: name(entry.mfn) })),
        ),
      ),
      ...optional('lastGrantCopy', renameLastCopy(state.xen, name, nameOrNull)),
    },
    devices: state.devices,
    iotlb: Object.fromEntries(
      Object.entries(state.iotlb).map(([key, entry]) => {
        const slash = key.lastIndexOf('/');
        return [
          `${key.slice(0, slash)}/${name(Number(key.slice(slash + 1)))}`,
          { ...entry, target: target(entry.target) },
        ];
      }),
    ),
    inflight: state.inflight.map((op) => renameOp(op, name)),
  };
  // The same shape with frame names in place of numbers: a state when `name` gives numbers.
  return renamed as unknown as XenPtState;
}

function optional(field: string, value: unknown): Record<string, unknown> {
  return value === undefined ? {} : { [field]: value };
}

function byName<V>(
  record: Readonly<Record<string, V>> | undefined,
  name: (mfn: number) => FrameName,
  value: (item: V) => unknown,
): Record<string, unknown> | undefined {
  if (record === undefined) return undefined;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(record)) out[String(name(Number(key)))] = value(record[key] as V);
  return out;
}

function nameOrder(left: FrameName, right: FrameName): number {
  if (typeof left === 'number' && typeof right === 'number') return left - right;
  if (typeof left === 'number') return -1;
  if (typeof right === 'number') return 1;
  return Number(left.slice(1)) - Number(right.slice(1));
}

function renameMemory(memory: HostMemory, name: (mfn: number) => FrameName): unknown {
  const frames = memory.frames
    .map((frame) => ({ ...frame, mfn: name(frame.mfn) }))
    .sort((left, right) => nameOrder(left.mfn, right.mfn));
  const counter = memory.policy === 'random' ? { allocCount: memory.allocCount } : {};
  return {
    frames,
    freeList: memory.freeList.map(name),
    policy: memory.policy,
    randomSeed: memory.randomSeed,
    ...counter,
  };
}

function renameDomain(
  domain: XenDomain,
  name: (mfn: number) => FrameName,
  nameOrNull: (mfn: number | null) => FrameName | null,
): unknown {
  const p2m: Record<string, unknown> = {};
  for (const [gfn, entry] of Object.entries(domain.p2m)) p2m[gfn] = { ...entry, mfn: name(entry.mfn) };
  const buf = (b: GrantCopyBuf): unknown => ({ ...b, mfn: name(b.mfn), gmfn: nameOrNull(b.gmfn) });
  return {
    ...domain,
    p2m,
    grantTable: domain.grantTable.map((entry) => ({ ...entry, frame: name(entry.frame) })),
    active: domain.active.map((entry) => ({ ...entry, mfn: nameOrNull(entry.mfn) })),
    maptrack: domain.maptrack.map((mapping) => (mapping === null ? null : { ...mapping, mfn: name(mapping.mfn) })),
    ...optional(
      'iommu',
      domain.iommu === undefined
        ? undefined
        : {
            sharePt: domain.iommu.sharePt,
            table: byName(domain.iommu.table, name, (pte) => ({ ...pte, mfn: name(pte.mfn) })),
            flushPending: domain.iommu.flushPending.map(name),
          },
    ),
    ...optional('sharedFrames', domain.sharedFrames?.map(name)),
    ...optional('statusFrames', domain.statusFrames?.map(name)),
    ...optional(
      'grantFrameGfns',
      byName(domain.grantFrameGfns, name, (gfn) => gfn),
    ),
    ...optional(
      'grantCopies',
      domain.grantCopies?.map((copy) => ({ ...copy, source: buf(copy.source), dest: buf(copy.dest) })),
    ),
    ...optional(
      'grantIommuCounts',
      byName(domain.grantIommuCounts, name, (count) => count),
    ),
  };
}

function renameLastCopy(
  xen: XenState,
  name: (mfn: number) => FrameName,
  nameOrNull: (mfn: number | null) => FrameName | null,
): unknown {
  const record = xen.lastGrantCopy;
  if (record === undefined) return undefined;
  const buf = (b: GrantCopyBuf): unknown => ({ ...b, mfn: name(b.mfn), gmfn: nameOrNull(b.gmfn) });
  return {
    ...record,
    source: buf(record.source),
    dest: buf(record.dest),
    accesses: record.accesses.map((access) => ({ ...access, mfn: name(access.mfn) })),
  };
}

function renameOp(op: XenPtOp, name: (mfn: number) => FrameName): unknown {
  if (op.kind === 'dma') return { ...op, dfn: name(op.dfn) };
  if (op.kind === 'moveGfn') return { ...op, heldMfn: op.heldMfn === null ? null : name(op.heldMfn) };
  return op;
}
