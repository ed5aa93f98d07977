/**
 * PPGTT shadowing (`gtt.c`, docs/reference/gvt-kvmgt.md §4.4): the guest's page tables live in guest memory; the
 * mediator keeps a shadow page table (spt) per guest page-table page, write-protected so that a
 * guest store to it traps and the shadow follows. Non-leaf shadow entries point at child spts,
 * leaf shadow entries hold DMA addresses from the DMA cache.
 *
 * Simplified: two levels (a page directory as the root, page tables below it) instead of four,
 * leaves of 4 KiB, 64K entries split into 4K shadow entries (`ips64k.ts`) and 2M entries (`huge2m.ts`; no 1G entries), and a PPGTT is shadowed when the guest announces it
 * (`PPGTT_L4_PAGE_TABLE_CREATE`) rather than when a workload first pins it. Where a trapped write's
 * new entry cannot be shadowed GVT logs the error and leaves the old shadow entry in place; the
 * model points the slot at scratch instead, as the GGTT path does, so a shadow never keeps
 * reaching a page the guest entry no longer names. A guest page used as a table at both levels
 * shares one spt in GVT; the model refuses the mismatch (EINVAL) instead.
 */
import type { GvtConfig } from './config.js';
import { gvtHook, hasGvtBug, hookCount } from './config.js';
import { dmaMapGuestPage, insertCacheEntry, releaseLeaf } from './dma-cache.js';
import type { GvtHost } from './host.js';
import { page2mBase, pages2M } from './huge2m.js';
import { ips64kStride, is64kTable, page64kBase } from './ips64k.js';
import type { FailedSplit64K, Slot64K, Split64K } from './ips64k.js';
import { registerPageTrack, unregisterPageTrack } from './page-track.js';
import { SCRATCH } from './types.js';
import type { GuestQword, GvtWorld, ShadowPte, Spt, SptLevel } from './types.js';
import type { PendingShadow } from './inflight.js';

export function isPresentPte(qword: GuestQword | undefined): qword is GuestQword & { kind: 'pte'; present: true } {
  return qword !== undefined && qword.kind === 'pte' && qword.present;
}

/**
 * How a translation maps a guest page it finds no DMA cache entry for. `false` (v6.12):
 * `intel_gvt_dma_map_guest_page` holds `cache_lock` from its lookup to its insert. `true`: the page
 * is pinned and mapped (`gvt_dma_map_page`) with nothing in the cache yet; the insert is a later
 * phase (`insertPending`), and until then the pin is the translation's own.
 */
export type DeferInsert = boolean;

/** Releases what a shadow entry holds: a DMA reference, or a reference on the child spt. */
export function releaseEntry<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, pte: ShadowPte): void {
  if (pte.kind === 'table') invalidateSpt(world, host, config, pte.gfn);
  else releaseLeaf(world, host, pte);
}

/**
 * Gives back what translated entries hold, last first (so that the DMA pool gets its addresses
 * back in the order it gave them, and an unwound population leaves the pool as it found it): a
 * cached leaf's DMA reference, a table's spt reference, and a page pinned and mapped for entries
 * not yet inserted (once per page).
 */
export function releasePending<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  pending: readonly PendingShadow[],
): void {
  const unmapped = new Set<number>();
  for (const entry of [...pending].reverse()) {
    if (entry.cached) releaseEntry(world, host, config, entry.pte);
    else if (entry.pte.kind === 'dma' && !unmapped.has(entry.pte.dmaAddr)) {
      unmapped.add(entry.pte.dmaAddr);
      host.dmaUnmap(world, entry.gfn, entry.pte.dmaAddr);
    }
  }
}

/**
 * A leaf's translation (`ppgtt_populate_shadow_entry`, 4K: `intel_gvt_dma_map_guest_page`) into
 * `out`; when the page cannot be mapped (nothing added), ENXIO (`if (ret) return -ENXIO`), or with
 * `mapErrno` the map's own errno (a 64K split's `return ret`).
 */
export function translateLeaf<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: { readonly sptGfn: number; readonly index: number; readonly gfn: number },
  out: PendingShadow[],
  defer: DeferInsert,
  mapErrno = false,
): string | null {
  const vgpu = world.vgpu;
  if (defer && vgpu !== null && vgpu.cache[slot.gfn] === undefined) {
    // The same page earlier in this operation: the insert will count both references.
    const own = out.find((entry) => !entry.cached && entry.gfn === slot.gfn);
    if (own !== undefined) {
      out.push({ ...own, sptGfn: slot.sptGfn, index: slot.index });
      return null;
    }
    const mapped = host.dmaMap(world, slot.gfn);
    if (!mapped.ok) return mapErrno ? mapped.errno : 'ENXIO';
    out.push({ ...slot, pte: { kind: 'dma', dmaAddr: mapped.dmaAddr }, cached: false });
    return null;
  }
  const mapped = dmaMapGuestPage(world, host, config, slot.gfn);
  if (!mapped.ok) return mapErrno ? mapped.errno : 'ENXIO';
  out.push({ ...slot, pte: { kind: 'dma', dmaAddr: mapped.dmaAddr }, cached: true });
  return null;
}

/**
 * `split_64KB_gtt_entry`: the pages of the 64K page the entry names (its gfn masked to 64K), each
 * mapped 4K (`intel_gvt_dma_map_guest_page(vgpu, start_gfn + i, PAGE_SIZE)`) into slot `index + i`
 * — the pages the design's `split64K` gives (v6.12: all of them). A page that cannot be mapped
 * fails the split with the map's errno (`return ret`, not the 4K path's ENXIO); of the pages
 * mapped before it, those the design's `failedSplit64KReleases` says give back their reference
 * (the model's default: all), and the others stay in `out`, written into their slots with the
 * rest of the caller's translation (v6.12: all of them stay, as `ppgtt_set_shadow_entry` wrote
 * them before the failing map).
 */
function translateSplit64K<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: { readonly sptGfn: number; readonly index: number; readonly gfn: number },
  out: PendingShadow[],
  defer: DeferInsert,
): string | null {
  const stridePages = ips64kStride(config.layout);
  const entry: Split64K = {
    sptGfn: slot.sptGfn,
    index: slot.index,
    stridePages,
    entryGfn: slot.gfn,
    pageGfn: page64kBase(slot.gfn, config.layout),
  };
  const pages = gvtHook(config, 'split64K')(entry).slice(0, stridePages);
  const mark = out.length;
  for (const [offset, gfn] of pages.entries()) {
    const sub = { sptGfn: slot.sptGfn, index: slot.index + offset, gfn };
    const errno = translateLeaf(world, host, config, sub, out, defer, true);
    if (errno !== null) {
      const mapped = out.splice(mark);
      const failure: FailedSplit64K = { ...entry, mapped: mapped.length, errno };
      const released = hookCount(gvtHook(config, 'failedSplit64KReleases')(failure), mapped.length);
      releasePending(world, host, config, mapped.slice(0, released));
      out.push(...mapped.slice(released));
      return errno;
    }
  }
  return null;
}

/**
 * A 2M PDE (`ppgtt_populate_shadow_entry`, `GTT_TYPE_PPGTT_PTE_2M_ENTRY`; `huge2m.ts`): the 2M
 * page from its gfn masked to 2M, mapped whole (`intel_gvt_dma_map_guest_page(gfn,
 * I915_GTT_PAGE_SIZE_2M)`) when that succeeds, else split (`split_2MB_gtt_entry`): each of its
 * pages mapped 4K into an inline table of its own. A page that cannot be mapped fails the split
 * with the map's errno (`return ret`), and the pages before it give back what the design's
 * `failedSplit2MReleases` says (v6.12's `err:` walks the table with `ppgtt_invalidate_pte` and
 * frees it: all). Never deferred: a design's deferred insert covers 4K maps.
 */
function translate2M<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: { readonly sptGfn: number; readonly index: number; readonly gfn: number },
  out: PendingShadow[],
): string | null {
  const pages = pages2M(config.layout);
  const baseGfn = page2mBase(slot.gfn, config.layout);
  const whole = dmaMapGuestPage(world, host, config, baseGfn, pages);
  if (whole.ok) {
    out.push({
      sptGfn: slot.sptGfn,
      index: slot.index,
      pte: { kind: 'dma', dmaAddr: whole.dmaAddr, pages },
      gfn: baseGfn,
      cached: true,
    });
    return null;
  }
  const entries: ShadowPte[] = [];
  for (let page = 0; page < pages; page++) {
    const mapped = dmaMapGuestPage(world, host, config, baseGfn + page);
    if (!mapped.ok) {
      const failure = {
        sptGfn: slot.sptGfn,
        index: slot.index,
        baseGfn,
        pages,
        mapped: entries.length,
        errno: mapped.errno,
      };
      const released = hookCount(gvtHook(config, 'failedSplit2MReleases')(failure), entries.length);
      // In reverse, so that the DMA pool gets its addresses back in the order it gave them.
      for (const taken of entries.slice(0, released).reverse()) releaseLeaf(world, host, taken);
      return mapped.errno;
    }
    entries.push({ kind: 'dma', dmaAddr: mapped.dmaAddr });
  }
  out.push({
    sptGfn: slot.sptGfn,
    index: slot.index,
    pte: { kind: 'split2m', baseGfn, entries },
    gfn: baseGfn,
    cached: true,
  });
  return null;
}

/**
 * The translation of a present guest entry naming `gfn` at slot `index` of table `sptGfn` (`level`;
 * `table64K`: a 64K table's leaf, split), into `out`. A page-directory entry's `ips` makes the
 * page table it names a 64K table; its `pse` makes it a 2M entry (`translate2M`).
 */
function translatePresent<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: {
    readonly sptGfn: number;
    readonly index: number;
    readonly level: SptLevel;
    readonly gfn: number;
    readonly ips: boolean;
    readonly pse: boolean;
    readonly table64K: boolean;
  },
  out: PendingShadow[],
  defer: DeferInsert,
): string | null {
  const leaf = { sptGfn: slot.sptGfn, index: slot.index, gfn: slot.gfn };
  if (slot.level === 'pd' && slot.pse) return translate2M(world, host, config, leaf, out);
  if (slot.level === 'pt') {
    return slot.table64K
      ? translateSplit64K(world, host, config, leaf, out, defer)
      : translateLeaf(world, host, config, leaf, out, defer);
  }
  const failed = translateTable(world, host, config, slot.gfn, 'pt', out, defer, slot.ips);
  if (failed !== null) return failed;
  out.push({
    sptGfn: slot.sptGfn,
    index: slot.index,
    pte: { kind: 'table', gfn: slot.gfn },
    gfn: slot.gfn,
    cached: true,
  });
  return null;
}

/** Releases every entry of an spt, drops it and its page track. */
function freeSpt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, spt: Spt): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  delete vgpu.spts[spt.gfn];
  const releases = gvtHook(config, 'freeSptReleases');
  for (const pte of spt.entries) if (pte.kind !== 'scratch' && releases(pte)) releaseEntry(world, host, config, pte);
  if (!hasGvtBug(config, 'spt-free-keeps-track')) unregisterPageTrack(world, host, config, spt.gfn);
}

/**
 * `ppgtt_populate_spt_by_guest_entry`, its writes left for later: a reference on the existing spt
 * of `gfn`, or a new one — registered, write-protected, its entries scratch — whose present
 * guest entries are translated into `out` (child tables before the entries naming them), for
 * `writePending` to write. `ips`: a page table named by a PDE with the IPS bit (`pde_ips`), whose
 * used entries (every `ips64kStride`-th, `for_each_present_guest_entry`) are split 64K entries.
 * Null on success, else the errno, with everything this call did undone.
 *
 * An existing table named with the other IPS bit is refused (EINVAL), as one used at the other
 * level is: v6.12 sets the table's `pde_ips` anew, clears its shadow page and populates it again
 * (`reshadow PDE since ips changed`) without releasing what its old entries held — left out.
 */
export function translateTable<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
  level: SptLevel,
  out: PendingShadow[],
  defer: DeferInsert,
  ips = false,
): string | null {
  const vgpu = world.vgpu;
  if (vgpu === null) return 'EINVAL';
  const table64K = level === 'pt' && ips;
  const existing = vgpu.spts[gfn];
  if (existing !== undefined) {
    if (existing.level !== level || is64kTable(existing) !== table64K) return 'EINVAL';
    existing.refcount += 1;
    return null;
  }
  const refused = registerPageTrack(world, host, config, gfn);
  if (refused !== null) return refused;
  const page = host.readGuest(world, gfn);
  const spt: Spt = {
    gfn,
    level,
    ...(table64K ? { ips: true } : {}),
    refcount: 1,
    entries: Array.from({ length: config.layout.entriesPerTable }, () => SCRATCH),
    postShadow: [],
  };
  vgpu.spts[gfn] = spt;
  if (page === null) {
    freeSpt(world, host, config, spt);
    return 'EFAULT';
  }
  const mark = out.length;
  const step = table64K ? ips64kStride(config.layout) : 1;
  for (let index = 0; index < spt.entries.length; index += step) {
    const qword = page[index];
    if (!isPresentPte(qword)) continue;
    const target = {
      sptGfn: gfn,
      index,
      level,
      gfn: qword.gfn,
      ips: qword.ips === true,
      pse: qword.pse === true,
      table64K,
    };
    const failed = translatePresent(world, host, config, target, out, defer);
    if (failed !== null) {
      unwindPopulate(world, host, config, spt, out.splice(mark));
      return failed;
    }
  }
  return null;
}

/**
 * A table's population failed part-way: what the entries translated so far hold, and the table.
 * `invalidate` (the model's default): every one released, then the table freed
 * (`ppgtt_invalidate_spt`'s walk). `free-spt`, as `ppgtt_populate_spt_by_guest_entry` ships
 * (`err_free_spt` → `ppgtt_free_spt`): the child tables built meanwhile keep their own entries, the
 * table is freed and its page track unregistered, and what its own entries held — DMA references,
 * child-table references, a deferred map's pin — is never given back. (In GVT the entries are in
 * the table's shadow page already; the model writes them only once the whole table is
 * translated, so it writes the child tables' here.)
 */
function unwindPopulate<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  spt: Spt,
  translated: readonly PendingShadow[],
): void {
  if (config.unwind?.populate !== 'free-spt') {
    releasePending(world, host, config, translated);
    freeSpt(world, host, config, spt);
    return;
  }
  writePending(
    world,
    host,
    config,
    translated.filter((entry) => entry.sptGfn !== spt.gfn),
  );
  if (world.vgpu !== null) delete world.vgpu.spts[spt.gfn];
  unregisterPageTrack(world, host, config, spt.gfn);
}

/**
 * The DMA cache insert of translated leaves whose map deferred it (`__gvt_cache_add` under
 * `cache_lock` again): one entry per page, with a reference per leaf. A page the cache gained
 * meanwhile keeps its entry, which takes the references, and this map's pin and mapping go.
 */
export function insertPending<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  pending: readonly PendingShadow[],
): PendingShadow[] {
  const vgpu = world.vgpu;
  if (vgpu === null) return [...pending];
  const inserted = new Map<number, number>();
  for (const entry of pending) {
    if (entry.cached || entry.pte.kind !== 'dma' || inserted.has(entry.gfn)) continue;
    const kref = pending.filter((other) => !other.cached && other.gfn === entry.gfn).length;
    const present = vgpu.cache[entry.gfn];
    if (present === undefined) insertCacheEntry(vgpu, entry.gfn, entry.pte.dmaAddr, kref);
    else {
      present.kref += kref;
      host.dmaUnmap(world, entry.gfn, entry.pte.dmaAddr);
    }
    inserted.set(entry.gfn, vgpu.cache[entry.gfn]?.dmaAddr ?? entry.pte.dmaAddr);
  }
  return pending.map((entry) =>
    entry.cached ? entry : { ...entry, pte: { kind: 'dma', dmaAddr: inserted.get(entry.gfn) ?? 0 }, cached: true },
  );
}

/**
 * `ppgtt_set_shadow_entry` for translated entries, in order. An entry whose table is gone (or
 * whose leaf never reached the cache) is not written, and gives back what it holds.
 */
export function writePending<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  pending: readonly PendingShadow[],
): void {
  for (const entry of pending) {
    const spt = world.vgpu?.spts[entry.sptGfn];
    if (spt === undefined || !entry.cached) releasePending(world, host, config, [entry]);
    else spt.entries[entry.index] = entry.pte;
  }
}

/**
 * `ppgtt_populate_spt_by_guest_entry`: a reference on the existing spt of `gfn`, or a new one —
 * registered, write-protected and filled from the guest page. Null on success, else the errno,
 * with everything this call did undone.
 */
export function populateSpt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
  level: SptLevel,
): string | null {
  const out: PendingShadow[] = [];
  const failed = translateTable(world, host, config, gfn, level, out, false);
  if (failed === null) writePending(world, host, config, out);
  return failed;
}

/** `ppgtt_invalidate_spt`: drops one reference; at zero the spt is freed with everything it holds. */
export function invalidateSpt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig, gfn: number): void {
  const spt = world.vgpu?.spts[gfn];
  if (spt === undefined) return;
  spt.refcount -= 1;
  if (spt.refcount <= 0) freeSpt(world, host, config, spt);
}

/** What a handler read and translated for one entry: the old shadow entry, and the new one's translation (its own last). */
export interface EntryTranslation {
  readonly old: ShadowPte;
  readonly pending: PendingShadow[];
  /**
   * The translation's errno when it failed (absent: it did not); `pending` then holds only the
   * slots a failed 64K split left written (`failedSplit64KReleases`).
   */
  readonly failed?: string;
}

/**
 * The first half of shadowing entry `index` of the table of `gfn` in full (a trapped 8-byte write,
 * `ppgtt_handle_guest_write_page_table`, or a post-shadow flush): the old shadow entry as read,
 * and the translation of `qword` (the guest's entry); nothing translated when it is not present
 * or cannot be shadowed (`failed`: the slot then goes to scratch), but the slots a 64K split
 * failing part-way left written.
 */
export function translateGuestEntry<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: { readonly gfn: number; readonly index: number; readonly qword: GuestQword | undefined },
  defer: DeferInsert,
): EntryTranslation | null {
  const spt = world.vgpu?.spts[slot.gfn];
  if (spt === undefined) return null;
  const old = spt.entries[slot.index] ?? SCRATCH;
  const pending: PendingShadow[] = [];
  if (isPresentPte(slot.qword)) {
    // A failed translation undoes itself and leaves `pending` empty, but for the slots a 64K split
    // failing part-way leaves written.
    const target = {
      sptGfn: slot.gfn,
      index: slot.index,
      level: spt.level,
      gfn: slot.qword.gfn,
      ips: slot.qword.ips === true,
      pse: slot.qword.pse === true,
      table64K: is64kTable(spt),
    };
    const failed = translatePresent(world, host, config, target, pending, defer);
    if (failed !== null) return { old, pending, failed };
  }
  return { old, pending };
}

/**
 * The second half: the new shadow entry written (its child table's entries first), then the old
 * one released — add before remove, the table stays valid throughout — and the entry leaves the
 * post-shadow bitmap. A table freed meanwhile takes nothing, and its old entry went with it. A
 * failed translation points the entry's slots at scratch and releases the old entry (the model's
 * choice: GVT keeps it, `goto fail` before the removal), but for the slots a failed 64K split
 * left written: those hold the new pages, and the old entries there are gone without giving back
 * what they held (as in v6.12, where `ppgtt_set_shadow_entry` overwrote them and the handler
 * returned before `ppgtt_handle_guest_entry_removal`).
 */
export function settleGuestEntry<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  slot: { readonly gfn: number; readonly index: number },
  translation: EntryTranslation,
): void {
  const spt = world.vgpu?.spts[slot.gfn];
  if (spt === undefined) {
    releasePending(world, host, config, translation.pending);
    return;
  }
  // A 64K entry's old shadow is its split: the used slot as the handler read it, and the rest.
  const span = is64kTable(spt) ? ips64kStride(config.layout) : 1;
  const olds = [translation.old, ...spt.entries.slice(slot.index + 1, slot.index + span)];
  const own = translation.pending.at(-1);
  const failed = translation.failed !== undefined;
  if (failed) spt.entries.fill(SCRATCH, slot.index, slot.index + span);
  writePending(world, host, config, translation.pending);
  if (!failed && (own === undefined || !own.cached)) spt.entries.fill(SCRATCH, slot.index, slot.index + span);
  const overwritten = new Set(failed ? translation.pending.map((entry) => entry.index - slot.index) : []);
  const removed = olds.map((old, offset) => (overwritten.has(offset) ? SCRATCH : old));
  removeOldShadow(world, host, config, spt, slot.index, removed);
  spt.postShadow = spt.postShadow.filter((pending) => pending !== slot.index);
}

/**
 * `ppgtt_handle_guest_entry_removal` of an entry's old shadow (`olds`: the slots it filled, one
 * in a 4K table): each gives back what it holds. A split 64K entry gives back as many of its
 * slots as the design's `release64K` says (the model's default: all; v6.12: the used slot only).
 */
function removeOldShadow<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  spt: Spt,
  index: number,
  olds: readonly ShadowPte[],
): void {
  if (hasGvtBug(config, 'ppgtt-write-keeps-old-ref')) return;
  let released = olds.length;
  if (is64kTable(spt)) {
    const entry: Slot64K = { sptGfn: spt.gfn, index, stridePages: ips64kStride(config.layout) };
    released = hookCount(gvtHook(config, 'release64K')(entry), entry.stridePages);
  }
  for (const old of olds.slice(0, released)) releaseEntry(world, host, config, old);
}

/** Shadows the guest's current entry `index` of the table of `gfn` in full, at once. */
function reshadowEntry<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
  index: number,
): void {
  const qword = host.readGuest(world, gfn)?.[index];
  const translation = translateGuestEntry(world, host, config, { gfn, index, qword }, false);
  if (translation !== null) settleGuestEntry(world, host, config, { gfn, index }, translation);
}

/**
 * `ppgtt_handle_guest_write_page_table_bytes`, up to the translation: a trapped guest store of
 * `sizeBytes` to entry `index` of shadowed page `gfn`, after guest memory already holds the new
 * bytes, whose entry is `qword` (the handler re-reads it from guest memory). A 4-byte store, a
 * not-present entry and one that cannot be shadowed are handled at once (`settled`); a present
 * one's translation is returned for `settleGuestEntry` to write.
 */
export function handleTrappedWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: {
    readonly gfn: number;
    readonly index: number;
    readonly sizeBytes: number;
    readonly qword: GuestQword | undefined;
  },
  defer: DeferInsert,
):
  | { readonly settled: true; readonly error: string | null }
  | { readonly settled: false; readonly translation: EntryTranslation } {
  const spt = world.vgpu?.spts[args.gfn];
  if (spt === undefined || args.index < 0 || args.index >= spt.entries.length) return { settled: true, error: null };
  if (args.sizeBytes !== 4 && args.sizeBytes !== 8) return { settled: true, error: 'EINVAL' };
  // A 64K table uses every stride-th slot: a store to another one is ignored ("Unused PTEs update
  // should be ignored").
  const span = is64kTable(spt) ? ips64kStride(config.layout) : 1;
  if (args.index % span !== 0) return { settled: true, error: null };
  if (args.sizeBytes === 4) {
    // A partial write: the old entry goes now (a split 64K entry's slots with it), the new one is
    // shadowed at the next flush.
    const olds = spt.entries.slice(args.index, args.index + span);
    spt.entries.fill(SCRATCH, args.index, args.index + span);
    if (span === 1) releaseEntry(world, host, config, olds[0] ?? SCRATCH);
    else removeOldShadow(world, host, config, spt, args.index, olds);
    if (!spt.postShadow.includes(args.index)) spt.postShadow.push(args.index);
    return { settled: true, error: null };
  }
  const translation = translateGuestEntry(world, host, config, args, defer);
  if (translation === null) return { settled: true, error: null };
  if (translation.failed !== undefined) {
    // Settled at once, the slots a failed split left written in the cache first (a deferred map's
    // insert); the handler's error is logged (`gvt_vgpu_err`), the guest's store stands.
    const pending = insertPending(world, host, translation.pending);
    settleGuestEntry(world, host, config, args, { ...translation, pending });
    return { settled: true, error: translation.failed };
  }
  if (translation.pending.length === 0) {
    settleGuestEntry(world, host, config, args, translation);
    return { settled: true, error: null };
  }
  return { settled: false, translation };
}

/**
 * `ppgtt_handle_guest_write_page_table_bytes`: a trapped guest store of `sizeBytes` to entry
 * `index` of shadowed page `gfn`, after guest memory already holds the new bytes, at once.
 */
export function handleGuestPteWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly gfn: number; readonly index: number; readonly sizeBytes: number },
): string | null {
  const qword = host.readGuest(world, args.gfn)?.[args.index];
  const handled = handleTrappedWrite(world, host, config, { ...args, qword }, false);
  if (handled.settled) return handled.error;
  settleGuestEntry(world, host, config, args, handled.translation);
  return null;
}

/** `intel_vgpu_flush_post_shadow`: every partially written entry is re-read and shadowed in full. */
export function flushPostShadow<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const spt of Object.values(vgpu.spts)) {
    for (const index of [...spt.postShadow]) {
      if (vgpu.spts[spt.gfn] === spt) reshadowEntry(world, host, config, spt.gfn, index);
    }
  }
}
