/**
 * XenGT's states as flat integer vectors (issue 23, `src/flat-scope.ts`), for the scopes whose
 * commands are the Promela anchor's kinds (`shared/anchors/xengt-dmaprop.pml`, `src/bench-anchor.ts`):
 * whole (8-byte) GGTT writes and clears of the vGPU's own entries, balloon-out and populate of
 * gfns of domains other than the backend, and GPU reads or writes through GGTT entries, each run
 * whole, with no fault armed, no deliberate bug, and the built-in `map` or `lookup` backend.
 * Nothing else changes in such a scope, so a vector holds only what those commands change:
 *
 * - each frame's owner (-1: free) and reference count, and the free list in order (the lifo
 *   allocator takes its last);
 * - each domain's p2m over gfns 0..universe.gfns-1 (an mfn, -1: no entry; the backend's row is
 *   unused), the backend's own pages (its p2m entries below its pool, which never change but
 *   name frames, renamed with the rest), and the backend's mapping pool: per pool gfn, the mfn of
 *   its foreign mapping (-1: none) and the guest gfn it maps;
 * - per GGTT entry the commands name: the guest's entry (present, gfn) and the host entry (the
 *   DMA address, -1: scratch);
 * - the DMA cache per guest gfn: the DMA address (-1: no entry) and its reference count.
 *
 * tot_pages is left out: without the `free-keeps-tot-pages` bug it is the number of frames a
 * domain owns, which the owners give. Everything else (the other GGTT entries, the guest's memory
 * contents, the grant tables, incarnations, the PPGTTs) keeps its initial value: `outsideLayout`
 * refuses the states that visibly leave the class, and the tests hold the rest. So two states of
 * such a scope have equal vectors exactly when their keys are equal (`xenGtStateKey`; with
 * `renameFrames`, the vectors are canonicalized in the key's order: `canonicalize`);
 * `test/xengt/flat.test.ts` holds the two to the same partition and the same steps and verdicts,
 * transition by transition.
 */
import { ownGgttIndices } from '../../../models/gvt/config.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';

/** Where each field of a vector lies, for one configuration and set of GGTT entries. */
export interface XenGtFlatLayout {
  readonly width: number;
  readonly frames: number;
  /** Domains in the world (p2m rows, the backend's unused). */
  readonly domains: number;
  readonly backendDomid: number;
  /** Gfns per p2m row (the universe's). */
  readonly gfns: number;
  readonly poolBaseGfn: number;
  readonly poolSize: number;
  /** The GGTT indices the commands name, in slot order. */
  readonly entries: readonly number[];
  /** The backend's own p2m entries (not its pool), by gfn ascending: gfns below the pool. */
  readonly backendGfns: readonly number[];
  /** Frames renamed in order of first appearance, as the key with `renameFrames` (see `canonicalize`). */
  readonly renameFrames: boolean;
  /** The DMA addresses are mfns (the lookup backend's), renamed with the frames. */
  readonly machineAddresses: boolean;
  /** The slots in ascending GGTT index order (the key's order of host entries). */
  readonly slotsByIndex: readonly number[];
  readonly owner: number;
  readonly refcount: number;
  readonly freeCount: number;
  readonly freeList: number;
  readonly p2m: number;
  readonly backendMfn: number;
  readonly poolMfn: number;
  readonly poolGfn: number;
  readonly guestPresent: number;
  readonly guestGfn: number;
  readonly host: number;
  readonly cacheAddr: number;
  readonly cacheKref: number;
}

/**
 * 16 when every word a vector of `layout` can hold fits a signed 16-bit integer (`FlatScope.wordBits`):
 * its words are -1, domids, frame numbers, gfns of the universe and of the backend's mapping pool
 * (the DMA addresses under the map backend), flags and counts, and a count (a reference count,
 * the free list's, a cache entry's kref) is at most the holders there are: every p2m entry, pool
 * mapping and backend page, and what else the initial state holds (a margin). The table refuses a
 * word that does not fit, should this bound be wrong.
 */
export function wordBitsOf(layout: XenGtFlatLayout): 16 | 32 {
  const holders = layout.domains * layout.gfns + layout.poolSize + layout.backendGfns.length + layout.entries.length;
  const largest = Math.max(layout.frames, layout.gfns, layout.poolBaseGfn + layout.poolSize, holders + 1024);
  return largest < 1 << 15 ? 16 : 32;
}

/** No entry, no owner, scratch: the vectors' "nothing". */
export const NONE = -1;

export function xenGtFlatLayout(
  config: XenGtConfig,
  frames: number,
  gfns: number,
  entries: readonly number[],
  backendGfns: readonly number[],
  renameFrames: boolean,
): XenGtFlatLayout {
  const domains = config.world.domains.length;
  const poolSize = config.mappingPoolSize;
  let at = 0;
  const take = (count: number): number => {
    const start = at;
    at += count;
    return start;
  };
  const owner = take(frames);
  const refcount = take(frames);
  const freeCount = take(1);
  const freeList = take(frames);
  const p2m = take(domains * gfns);
  const backendMfn = take(backendGfns.length);
  const poolMfn = take(poolSize);
  const poolGfn = take(poolSize);
  const guestPresent = take(entries.length);
  const guestGfn = take(entries.length);
  const host = take(entries.length);
  const cacheAddr = take(gfns);
  const cacheKref = take(gfns);
  return {
    width: at,
    frames,
    domains,
    backendDomid: config.backendDomid,
    gfns,
    poolBaseGfn: config.mappingPoolBaseGfn,
    poolSize,
    entries,
    backendGfns,
    renameFrames,
    machineAddresses: config.backend.addressing === 'machine',
    slotsByIndex: entries
      .map((index, slot) => ({ index, slot }))
      .sort((a, b) => a.index - b.index)
      .map(({ slot }) => slot),
    owner,
    refcount,
    freeCount,
    freeList,
    p2m,
    backendMfn,
    poolMfn,
    poolGfn,
    guestPresent,
    guestGfn,
    host,
    cacheAddr,
    cacheKref,
  };
}

/** Why `state` is outside what a vector of `layout` holds, or null when it is inside. */
export function outsideLayout(state: XenGtState, config: XenGtConfig, layout: XenGtFlatLayout): string | null {
  const vgpu = state.vgpu;
  if (vgpu === null) return 'no vGPU';
  if (vgpu.failsafe) return 'the vGPU in failsafe mode';
  if (state.inflight.length > 0) return 'operations in flight';
  if (state.fault !== null) return 'a fault armed';
  if (state.xen.memory.policy !== 'lifo') return `the ${state.xen.memory.policy} allocator`;
  if (state.xen.memory.frames.length !== layout.frames) return 'another number of frames';
  if (Object.keys(vgpu.ggttPartial).length > 0) return 'a GGTT entry half written';
  if (vgpu.mms.length > 0 || Object.keys(vgpu.spts).length > 0) return 'a PPGTT';
  for (const entry of Object.values(vgpu.cache)) {
    if (entry.gfn < 0 || entry.gfn >= layout.gfns || (entry.pages ?? 1) !== 1)
      return `DMA cache entry of gfn ${entry.gfn}`;
  }
  for (const domain of state.xen.domains) {
    if (domain.life !== 'running') return `dom${domain.domid} not running`;
    if (domain.domid === config.backendDomid) continue;
    for (const gfn in domain.p2m) {
      const entry = domain.p2m[gfn];
      const number = Number(gfn);
      if (entry?.type !== 'ram_rw' || number >= layout.gfns) return `dom${domain.domid} gfn ${gfn}`;
    }
  }
  return null;
}

/**
 * The vector of `state` into `out` at `at`. Throws when the state holds what the vector leaves out
 * (`outsideLayout`): a scope whose states stay inside is what the flat encoding is for.
 */
export function encodeXenGt(
  state: XenGtState,
  config: XenGtConfig,
  layout: XenGtFlatLayout,
  out: Int32Array,
  at = 0,
): void {
  const outside = outsideLayout(state, config, layout);
  if (outside !== null) throw new Error(`XenGT flat encoding: ${outside}`);
  out.fill(NONE, at, at + layout.width);
  const memory = state.xen.memory;
  for (const frame of memory.frames) {
    out[at + layout.owner + frame.mfn] = frame.owner ?? NONE;
    out[at + layout.refcount + frame.mfn] = frame.refcount;
  }
  out[at + layout.freeCount] = memory.freeList.length;
  memory.freeList.forEach((mfn, index) => {
    out[at + layout.freeList + index] = mfn;
  });
  for (const domain of state.xen.domains) {
    if (domain.domid === config.backendDomid) continue;
    for (const gfn in domain.p2m) {
      const entry = domain.p2m[gfn];
      if (entry !== undefined) out[at + layout.p2m + domain.domid * layout.gfns + Number(gfn)] = entry.mfn;
    }
  }
  const backend = state.xen.domains[config.backendDomid];
  layout.backendGfns.forEach((gfn, index) => {
    out[at + layout.backendMfn + index] = backend?.p2m[gfn]?.mfn ?? NONE;
  });
  for (let slot = 0; slot < layout.poolSize; slot++) {
    const entry = backend?.p2m[layout.poolBaseGfn + slot];
    if (entry?.type !== 'map_foreign') continue;
    out[at + layout.poolMfn + slot] = entry.mfn;
    out[at + layout.poolGfn + slot] = entry.foreignGfn;
  }
  const vgpu = state.vgpu;
  if (vgpu === null) return;
  layout.entries.forEach((index, slot) => {
    const guest = vgpu.ggttGuest[index];
    out[at + layout.guestPresent + slot] = guest?.present === true ? 1 : 0;
    out[at + layout.guestGfn + slot] = guest?.gfn ?? 0;
    const host = vgpu.ggttHost[index];
    out[at + layout.host + slot] = host?.kind === 'dma' ? host.dmaAddr : NONE;
  });
  for (const entry of Object.values(vgpu.cache)) {
    out[at + layout.cacheAddr + entry.gfn] = entry.dmaAddr;
    out[at + layout.cacheKref + entry.gfn] = entry.kref;
  }
  if (layout.renameFrames) canonicalize(layout, out, at, new Int32Array(3 * layout.frames));
}

/**
 * Renames the frames of the vector at `vectors[at ..]` in order of first appearance, in the order
 * `xenGtStateKey` meets them with `renameFrames` (properties/xengt/state-key.ts `writeKey`): each
 * domain's p2m by gfn (the backend's own pages below its pool, then its pool), under the lookup
 * backend the host GGTT entries by index and the DMA cache by gfn (their addresses are mfns),
 * the free list in order, then every other frame by number; and lists the frames' owners and
 * counts in the new order. Two vectors are then equal exactly when the renamed keys are. The
 * step is the same on any renaming (it only compares, stores and frees frames), so the search
 * steps canonical vectors and canonicalizes what it reaches. `scratch`: three frames' worth.
 */
export function canonicalize(layout: XenGtFlatLayout, vectors: Int32Array, at: number, scratch: Int32Array): void {
  const frames = layout.frames;
  const names = scratch;
  names.fill(NONE, 0, frames);
  let next = 0;
  const visit = (mfn: number): void => {
    if (mfn >= 0 && mfn < frames && names[mfn] === NONE) names[mfn] = next++;
  };
  for (let domid = 0; domid < layout.domains; domid++) {
    if (domid === layout.backendDomid) {
      for (let index = 0; index < layout.backendGfns.length; index++)
        visit(vectors[at + layout.backendMfn + index] ?? NONE);
      for (let slot = 0; slot < layout.poolSize; slot++) visit(vectors[at + layout.poolMfn + slot] ?? NONE);
      continue;
    }
    const row = at + layout.p2m + domid * layout.gfns;
    for (let gfn = 0; gfn < layout.gfns; gfn++) visit(vectors[row + gfn] ?? NONE);
  }
  if (layout.machineAddresses) {
    for (const slot of layout.slotsByIndex) visit(vectors[at + layout.host + slot] ?? NONE);
    for (let gfn = 0; gfn < layout.gfns; gfn++) visit(vectors[at + layout.cacheAddr + gfn] ?? NONE);
  }
  const free = vectors[at + layout.freeCount] ?? 0;
  for (let index = 0; index < free; index++) visit(vectors[at + layout.freeList + index] ?? NONE);
  for (let mfn = 0; mfn < frames; mfn++) visit(mfn);
  // The owners and counts in the new order, then every frame-valued field renamed.
  for (let mfn = 0; mfn < frames; mfn++) {
    const name = names[mfn] ?? mfn;
    scratch[frames + name] = vectors[at + layout.owner + mfn] ?? NONE;
    scratch[2 * frames + name] = vectors[at + layout.refcount + mfn] ?? 0;
  }
  for (let name = 0; name < frames; name++) {
    vectors[at + layout.owner + name] = scratch[frames + name] ?? NONE;
    vectors[at + layout.refcount + name] = scratch[2 * frames + name] ?? 0;
  }
  const rename = (start: number, count: number): void => {
    for (let cell = at + start; cell < at + start + count; cell++) {
      const mfn = vectors[cell] ?? NONE;
      if (mfn !== NONE) vectors[cell] = names[mfn] ?? mfn;
    }
  };
  rename(layout.freeList, free);
  rename(layout.p2m, layout.domains * layout.gfns);
  rename(layout.backendMfn, layout.backendGfns.length);
  rename(layout.poolMfn, layout.poolSize);
  if (layout.machineAddresses) {
    rename(layout.host, layout.entries.length);
    rename(layout.cacheAddr, layout.gfns);
  }
}

/** The GGTT indices a scope's commands name, in the order first named; own indices only, or null. */
export function ownEntries(config: XenGtConfig, named: readonly number[]): number[] | null {
  const own = ownGgttIndices(config.gvt.layout);
  const entries: number[] = [];
  for (const index of named) {
    if (!own.includes(index)) return null;
    if (!entries.includes(index)) entries.push(index);
  }
  return entries;
}
