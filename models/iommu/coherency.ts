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
 * allows), context and PASID entries (written back by `__iommu_flush_cache` and
 * `pasid_flush_caches` in the same way; the model's context and PASID records take effect at
 * once), the write-buffer flush of `cap.RWBF`, the contents of a freed table page.
 */
import type { IommuState, PageTableEntry } from './types.js';

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
