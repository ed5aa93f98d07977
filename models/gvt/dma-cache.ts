/**
 * The per-gfn DMA cache (kvmgt.c `gvt_dma`): the first use of a guest page pins and maps it, each
 * shadow entry that uses it holds one reference, and the last reference unmaps and unpins it.
 * Reference: docs/reference/gvt-kvmgt.md §4.6, §4.7.
 *
 * Each entry carries its size (`gvt_dma.size`, in 4K pages: 1, or a 2M entry's, `huge2m.ts`); a
 * lookup by gfn that finds an entry of another size does what the design's `cacheLookup` says
 * (v6.12: unmap and re-map; the model's default: refuse). Left out:
 * `intel_gvt_dma_pin_guest_page` (dmabuf export).
 */
import type { GvtConfig } from './config.js';
import { gvtHook, hasGvtBug } from './config.js';
import type { DmaMapResult, GvtHost } from './host.js';
import type { DmaCacheEntry, GvtVgpu, GvtWorld, ShadowPte } from './types.js';

/** An entry's size in 4K pages (`gvt_dma.size / PAGE_SIZE`). */
export function entryPages(entry: Pick<DmaCacheEntry, 'pages'>): number {
  return entry.pages ?? 1;
}

/**
 * `intel_gvt_dma_map_guest_page(gfn, pages × 4K)` (kvmgt.c): the entry of `gfn`
 * (`__gvt_cache_find_gfn`) at the same size takes a reference; one of another size goes to the
 * design's `cacheLookup` (v6.12: unmap it and map anew); a miss pins and maps (`gvt_dma_map_page`)
 * and adds an entry of that size (`__gvt_cache_add`).
 */
export function dmaMapGuestPage<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
  pages = 1,
): DmaMapResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return { ok: false, errno: 'EINVAL' };
  const hit = vgpu.cache[gfn];
  if (hit !== undefined) {
    const lookup = { gfn, pages, cachedPages: entryPages(hit), kref: hit.kref };
    const action = lookup.pages === lookup.cachedPages ? 'hit' : gvtHook(config, 'cacheLookup')(lookup);
    if (action === 'refuse') return { ok: false, errno: 'EBUSY' };
    if (action !== 'remap') {
      if (!hasGvtBug(config, 'cache-hit-skips-kref')) hit.kref += 1;
      return { ok: true, dmaAddr: hit.dmaAddr };
    }
    // "the same gfn with different size: unmap and re-map": gvt_dma_unmap_page(entry->size) and
    // __gvt_cache_remove_entry, whatever the entry's references.
    removeCacheEntry(world, host, hit);
  }
  const mapped = host.dmaMap(world, gfn, pages);
  if (!mapped.ok) return mapped;
  if (host.cacheAdd !== undefined && !host.cacheAdd(world, gfn)) {
    // `__gvt_cache_add` failed: `err_unmap`, gvt_dma_unmap_page (unmap, then unpin), -ENOMEM.
    if (config.unwind?.cacheAdd !== 'keep-map') host.dmaUnmap(world, gfn, mapped.dmaAddr, pages);
    return { ok: false, errno: 'ENOMEM' };
  }
  vgpu.cache[gfn] = { gfn, dmaAddr: mapped.dmaAddr, kref: 1, ...(pages > 1 ? { pages } : {}) };
  return mapped;
}

/**
 * `__gvt_cache_add` on its own, for a map whose insert comes after `cache_lock` was dropped: the
 * page was pinned and mapped (`gvt_dma_map_page`) by an earlier phase, `kref` references of it
 * wait to be written into shadow entries.
 */
export function insertCacheEntry(vgpu: GvtVgpu, gfn: number, dmaAddr: number, kref: number): void {
  vgpu.cache[gfn] = { gfn, dmaAddr, kref };
}

export function cacheEntryByDmaAddr(vgpu: GvtVgpu, dmaAddr: number): DmaCacheEntry | undefined {
  for (const entry of Object.values(vgpu.cache)) if (entry.dmaAddr === dmaAddr) return entry;
  return undefined;
}

/** Unmaps and unpins an entry and removes it from the cache, whatever its reference count. */
export function removeCacheEntry<W extends GvtWorld>(world: W, host: GvtHost<W>, entry: DmaCacheEntry): void {
  host.dmaUnmap(world, entry.gfn, entry.dmaAddr, entryPages(entry));
  if (world.vgpu !== null) delete world.vgpu.cache[entry.gfn];
}

/** `intel_gvt_dma_unmap_guest_page(dma_addr)`: drops one reference; an unknown address is a no-op. */
export function dmaUnmapGuestPage<W extends GvtWorld>(world: W, host: GvtHost<W>, dmaAddr: number): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  const entry = cacheEntryByDmaAddr(vgpu, dmaAddr);
  if (entry === undefined) return;
  entry.kref -= 1;
  if (entry.kref <= 0) removeCacheEntry(world, host, entry);
}

/**
 * The flawed put of `ggtt-replace-skips-release`: the DMA cache entry a leaf holds loses one
 * reference with a bare decrement, and is not released when that was its last.
 */
export function decrementLeafRef<W extends GvtWorld>(world: W, pte: ShadowPte): void {
  if (pte.kind !== 'dma' || world.vgpu === null) return;
  const entry = cacheEntryByDmaAddr(world.vgpu, pte.dmaAddr);
  if (entry !== undefined) entry.kref -= 1;
}

/**
 * Gives back the DMA reference a leaf shadow entry holds (scratch and table entries hold none
 * here); a split 2M entry's table gives back each of its entries' (`split_2MB_gtt_entry`'s table
 * freed by `ppgtt_invalidate_spt`).
 */
export function releaseLeaf<W extends GvtWorld>(world: W, host: GvtHost<W>, pte: ShadowPte): void {
  if (pte.kind === 'dma') dmaUnmapGuestPage(world, host, pte.dmaAddr);
  // Last mapped first, so that the DMA pool gets its addresses back in the order it gave them.
  else if (pte.kind === 'split2m') for (const sub of [...pte.entries].reverse()) releaseLeaf(world, host, sub);
}

/** `gvt_cache_destroy`: every entry unmapped and unpinned regardless of its references (device close). */
export function destroyCache<W extends GvtWorld>(world: W, host: GvtHost<W>): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const entry of Object.values(vgpu.cache)) removeCacheEntry(world, host, entry);
}
