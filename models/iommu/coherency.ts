/**
 * Page walks without coherency (docs/reference/vtd.md §3.13): with `ecap.C` = 0 the IOMMU's page
 * walks do not snoop the CPU's caches, so a PTE the CPU writes reaches the IOMMU only once its
 * cache line is written back to memory. Linux issues that write-back itself after every page-table
 * write (drivers/iommu/intel/iommu.c: `domain_flush_cache` → `clflush_cache_range` when
 * `!domain->iommu_coherency`; `__domain_mapping` over the leaf PTEs it wrote in each table,
 * `pfn_to_dma_pte` over a new table page and the parent PTE linking it, `dma_pte_clear_level` over
 * the PTEs it cleared), before the IOTLB flush that makes the change take effect. A path that
 * skips it leaves the IOMMU walking the old PTE: after an unmap and its IOTLB invalidation, a DMA
 * misses the IOTLB, walks memory, finds the old leaf and caches it again.
 *
 * Modelled when `caps.coherentWalks` is false (the default, absent, is coherent: every write is
 * seen at once, as before): `unflushed` keeps, per table page and entry, the value memory still
 * holds for each PTE the CPU wrote since its last write-back (null: not present in memory). The
 * IOMMU walks that view (`iommuEntry`); software (the driver's own walks, `iova_to_phys`) reads the
 * CPU's. A path's write-back goes through the design's hook (`IommuConfig.writeBack`), which is
 * given the lines the path wrote and returns those it writes back.
 *
 * Left out: cache lines (a line is one PTE here, not eight), the CPU evicting a dirty line on its
 * own (the model's memory keeps the old value until a write-back: the worst case the hardware
 * allows), the write-buffer flush of `cap.RWBF` (it only delays a
 * not-present → present change: the device faults meanwhile, it never reaches more), the contents
 * of a freed table page.
 *
 * PASID entries too (v6.12 pasid.c): `pasid_flush_caches` writes a new entry back
 * (`clflush_cache_range(pte, …)` when `!ecap_coherent`) before its caching-mode invalidation, and
 * `intel_pasid_tear_down_entry` writes back the cleared Present bit before the PASID-cache and
 * IOTLB invalidations (and the zeroed entry after them). Memory's value of each PASID entry the CPU
 * wrote since its last write-back is kept in `unflushedPasids`; the IOMMU's walk of the PASID table
 * (`requestDomainId`) reads it: a teardown that skips the write-back leaves memory naming the old
 * DID, and the PASID-cache invalidation only sends the next request to walk it again.
 *
 * Context entries too (v6.12 iommu.c, read in Debian's linux-source-6.12 6.12.118):
 * `domain_context_mapping_one` writes the new entry back (`clflush_cache_range(context, …)` when
 * `!ecap_coherent`) before `context_present_cache_flush`; `domain_context_clear_one` writes back
 * the cleared Present bit (`__iommu_flush_cache`) before the context-cache and IOTLB invalidations
 * (`intel_context_flush_present`, `intel_context_flush_no_pasid` in that tree), and the zeroed
 * entry after them (the v6.12 tag zeroes the entry, writes it back, then invalidates: the
 * write-back before the invalidation is in both). Memory's value of each context entry the CPU wrote since its last write-back is
 * kept in `unflushedContexts`; the IOMMU's walk for a request without PASID (`requestDomainId`)
 * reads it. The model writes the entry once where the source clears Present, writes back, then
 * zeroes and writes back again. With the context cache modelled (`context-cache.ts`) that walk
 * fills it: a clear not written back is walked again after the context-cache invalidation, and
 * the cached copy outlives the next (not-present → present) attach, which invalidates nothing.
 */
import type { IommuState, PageTableEntry, UnflushedContextEntry, UnflushedPasidEntry } from './types.js';
import { withoutKey } from '../record.js';

/** One PTE the CPU wrote: its table page and index. */
export interface CacheLine {
  readonly tableId: number;
  readonly index: number;
}

/** Which path wrote the lines: a map (`__domain_mapping`) or an unmap (`dma_pte_clear_level`). */
export type WriteBackPath = 'map' | 'unmap';

/**
 * The design's write-back decision: given the path and the lines it wrote, the lines it writes back
 * (`domain_flush_cache`). Sound: all of them (`writeBackAll`).
 */
export type WriteBackHook = (path: WriteBackPath, written: readonly CacheLine[]) => readonly CacheLine[];

export const writeBackAll: WriteBackHook = (_path, written) => written;

/**
 * An unmap path that clears the PTEs without `domain_flush_cache` (a `dma_pte_clear_level` with
 * no write-back), maps still written back: on an IOMMU without coherent walks the cleared PTEs
 * stay in memory, and the IOTLB invalidation that follows only makes the IOMMU walk them again.
 * The class of missed write-backs Xen shipped in XSA-321 (EPT tables shared with a non-coherent
 * VT-d IOMMU, "x86/ept: flush cache when modifying PTEs and sharing page tables", 2020); not a
 * specific Linux commit.
 */
export const unmapSkipsWriteBack: WriteBackHook = (path, written) => (path === 'unmap' ? [] : written);

/** Whether the IOMMU's walks miss the CPU's caches (`ecap.C` = 0). */
export function nonCoherent(state: IommuState): boolean {
  return state.caps.coherentWalks === false;
}

/**
 * The CPU is about to write entry `index` of table `tableId`: without coherency, memory keeps the
 * entry's current value until a write-back (the first write since the last one records it).
 * `written` collects the lines the path writes.
 */
export function recordWrite(state: IommuState, tableId: number, index: number, written: CacheLine[]): void {
  if (!nonCoherent(state)) return;
  const table = state.tables[tableId];
  if (table === undefined) return;
  const lines = (state.unflushed ??= {});
  const kept = (lines[tableId] ??= {});
  if (!Object.hasOwn(kept, index)) kept[index] = table.entries[index] ?? null;
  written.push({ tableId, index });
}

/** The entry as the IOMMU's walk reads it from memory; undefined when not present there. */
export function iommuEntry(state: IommuState, tableId: number, index: number): PageTableEntry | undefined {
  const kept = state.unflushed?.[tableId];
  if (kept !== undefined && Object.hasOwn(kept, index)) return kept[index] ?? undefined;
  return state.tables[tableId]?.entries[index];
}

/** Writes `lines` back to memory: the IOMMU now reads what the CPU wrote there. */
export function writeBackLines(state: IommuState, lines: readonly CacheLine[]): void {
  const unflushed = state.unflushed;
  if (unflushed === undefined) return;
  for (const { tableId, index } of lines) {
    const kept = unflushed[tableId];
    if (kept === undefined) continue;
    delete kept[index];
    if (Object.keys(kept).length === 0) delete unflushed[tableId];
  }
}

/** A path's `domain_flush_cache`, through the design's hook (`writeBackAll` when none). */
export function writeBack(
  state: IommuState,
  hook: WriteBackHook | undefined,
  path: WriteBackPath,
  written: readonly CacheLine[],
): void {
  if (written.length === 0 || !nonCoherent(state)) return;
  writeBackLines(state, (hook ?? writeBackAll)(path, written));
}

/** Table pages are freed: memory's old values of their entries go with them. */
export function forgetTables(state: IommuState, tableIds: readonly number[]): void {
  const unflushed = state.unflushed;
  if (unflushed === undefined) return;
  for (const tableId of tableIds) delete unflushed[tableId];
}

/** Whether some PTE of the state is not yet written back (the two views differ). */
export function hasUnflushed(state: IommuState): boolean {
  return state.unflushed !== undefined && Object.keys(state.unflushed).length > 0;
}

// ---------------------------------------------------------------------------------------------
// PASID entries

function cpuPasidEntry(state: IommuState, sourceId: number, pasid: number): number | null {
  const context = Object.hasOwn(state.contexts, sourceId) ? state.contexts[sourceId] : undefined;
  return context !== undefined && Object.hasOwn(context.pasids, pasid) ? (context.pasids[pasid] ?? null) : null;
}

/**
 * The CPU is about to write the PASID entry of (`sourceId`, `pasid`): without coherency, memory keeps
 * its current value until a write-back (the first write since the last one records it).
 */
export function recordPasidWrite(state: IommuState, sourceId: number, pasid: number): void {
  if (!nonCoherent(state)) return;
  const kept = state.unflushedPasids?.[sourceId];
  if (kept !== undefined && Object.hasOwn(kept, pasid)) return;
  const entry: UnflushedPasidEntry = { domainId: cpuPasidEntry(state, sourceId, pasid) };
  state.unflushedPasids = { ...state.unflushedPasids, [sourceId]: { ...kept, [pasid]: entry } };
}

/** `clflush_cache_range(pte, sizeof(*pte))`: memory now holds what the CPU wrote to the entry. */
export function writeBackPasidEntry(state: IommuState, sourceId: number, pasid: number): void {
  const kept = state.unflushedPasids?.[sourceId];
  if (kept === undefined || !Object.hasOwn(kept, pasid)) return;
  const rest = withoutKey(kept, pasid);
  const next =
    rest === undefined
      ? withoutKey(state.unflushedPasids ?? {}, sourceId)
      : { ...state.unflushedPasids, [sourceId]: rest };
  if (next === undefined) delete state.unflushedPasids;
  else state.unflushedPasids = next;
}

/** The DID the PASID entry names as the IOMMU's walk reads it from memory; null when not present. */
export function iommuPasidEntry(state: IommuState, sourceId: number, pasid: number): number | null {
  const kept = state.unflushedPasids?.[sourceId];
  if (kept !== undefined && Object.hasOwn(kept, pasid)) return kept[pasid]?.domainId ?? null;
  return cpuPasidEntry(state, sourceId, pasid);
}

/** The PASIDs of `sourceId` whose entry memory still holds present though the CPU changed it. */
export function unflushedPresentPasids(state: IommuState, sourceId: number): number[] {
  const kept = state.unflushedPasids?.[sourceId] ?? {};
  return Object.entries(kept)
    .filter(([, entry]) => entry.domainId !== null)
    .map(([pasid]) => Number(pasid));
}

/** A domain is freed: the PASID entries memory still holds naming its DID get the model's orphan mark. */
export function orphanUnflushedPasids(state: IommuState, domainId: number): void {
  const all = state.unflushedPasids;
  if (all === undefined) return;
  let changed = false;
  const next: NonNullable<IommuState['unflushedPasids']> = {};
  for (const [sourceId, kept] of Object.entries(all)) {
    const marked: Record<string, UnflushedPasidEntry> = {};
    for (const [pasid, entry] of Object.entries(kept)) {
      const orphan = entry.domainId === domainId && entry.orphaned !== true;
      changed ||= orphan;
      marked[pasid] = orphan ? { ...entry, orphaned: true } : entry;
    }
    next[sourceId] = marked;
  }
  if (changed) state.unflushedPasids = next;
}

// ---------------------------------------------------------------------------------------------
// Context entries

function cpuContextEntry(state: IommuState, sourceId: number): number | null {
  const context = Object.hasOwn(state.contexts, sourceId) ? state.contexts[sourceId] : undefined;
  return context?.domainId ?? null;
}

/**
 * The CPU is about to write the context entry of `sourceId`: without coherency, memory keeps its
 * current value until a write-back (the first write since the last one records it).
 */
export function recordContextWrite(state: IommuState, sourceId: number): void {
  if (!nonCoherent(state)) return;
  if (state.unflushedContexts !== undefined && Object.hasOwn(state.unflushedContexts, sourceId)) return;
  const entry: UnflushedContextEntry = { domainId: cpuContextEntry(state, sourceId) };
  state.unflushedContexts = { ...state.unflushedContexts, [sourceId]: entry };
}

/** `__iommu_flush_cache(iommu, context, sizeof(*context))`: memory now holds what the CPU wrote. */
export function writeBackContextEntry(state: IommuState, sourceId: number): void {
  const all = state.unflushedContexts;
  if (all === undefined || !Object.hasOwn(all, sourceId)) return;
  const rest = withoutKey(all, sourceId);
  if (rest === undefined) delete state.unflushedContexts;
  else state.unflushedContexts = rest;
}

/** The DID the context entry names as the IOMMU's walk reads it from memory; null when not present. */
export function iommuContextEntry(state: IommuState, sourceId: number): number | null {
  const all = state.unflushedContexts;
  if (all !== undefined && Object.hasOwn(all, sourceId)) return all[sourceId]?.domainId ?? null;
  return cpuContextEntry(state, sourceId);
}

/** Whether memory still holds `sourceId`'s context entry present though the CPU changed it. */
export function unflushedPresentContext(state: IommuState, sourceId: number): boolean {
  const all = state.unflushedContexts;
  return all !== undefined && Object.hasOwn(all, sourceId) && all[sourceId]?.domainId !== null;
}

/** A domain is freed: the context entries memory still holds naming its DID get the model's orphan mark. */
export function orphanUnflushedContexts(state: IommuState, domainId: number): void {
  const all = state.unflushedContexts;
  if (all === undefined) return;
  let changed = false;
  const next: Record<string, UnflushedContextEntry> = {};
  for (const [sourceId, entry] of Object.entries(all)) {
    const orphan = entry.domainId === domainId && entry.orphaned !== true;
    changed ||= orphan;
    next[sourceId] = orphan ? { ...entry, orphaned: true } : entry;
  }
  if (changed) state.unflushedContexts = next;
}
