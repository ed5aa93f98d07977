/**
 * The second-level page table of a paging domain: walks, leaf insertion and range clearing over
 * the real 4-level radix tree (docs/reference/vtd.md §3.1–3.2). This file knows nothing of the flat
 * reference map or the IOTLB; map.ts and unmap.ts call it and keep those in step.
 *
 * Simplified (the real driver's behaviour in these cases is a caller bug with undefined effects):
 * - Writing a leaf where a larger leaf already covers the IOVA: the real `pfn_to_dma_pte` follows
 *   the superpage's frame as if it were a table; the model counts it as "PTE already set" and
 *   keeps the superpage.
 * - Writing a superpage over a table that still holds present leaves: the real
 *   `switch_to_super_page` clears those leaves and writes the superpage; the model keeps them
 *   ("PTE already set", reference §3.7 inv. 2: map never overwrites). An empty table in the slot is
 *   freed, as the driver does.
 * - Clearing a range that covers only part of a leaf removes the whole leaf (reference §3.2: "any
 *   part of a superpage removes the whole superpage"); the real `dma_pte_clear_level` recurses into
 *   a partly covered superpage as if it were a table.
 */
import { hasIommuBug } from './config.js';
import type { IommuConfig } from './config.js';
import { ENTRIES_PER_TABLE, LEVEL_COUNT, levelIndex, levelPages } from './address.js';
import type { LeafLevel, TableLevel } from './address.js';
import { hasUnflushed, iommuEntry, recordWrite } from './coherency.js';
import type { CacheLine } from './coherency.js';
import { allocTable, getTable, writableTable } from './state.js';
import type { IommuDomain, IommuState, LeafAt, PageTableEntry, PageTablePage, Translation } from './types.js';

// ---------------------------------------------------------------------------------------------
// Walks

/** Where a walk from the root stops: the level, and the leaf found there if any. */
export interface WalkStop {
  readonly level: TableLevel;
  readonly leaf: LeafAt | null;
}

/**
 * `pfn_to_dma_pte` with target level 0: walks from the root until a leaf or a non-present entry.
 * The level where it stops is what `unmap` rounds up to.
 */
export function walkStop(
  state: IommuState,
  domain: IommuDomain,
  iovaPage: number,
  read: EntryReader = cpuEntry,
): WalkStop {
  let tableId = domain.rootTableId;
  let level: TableLevel = LEVEL_COUNT;
  while (tableId !== null && getTable(state, tableId) !== undefined) {
    const entry = read(state, tableId, levelIndex(iovaPage, level));
    if (entry === undefined) return { level, leaf: null };
    if (entry.kind === 'leaf') {
      if (level === 4) return { level, leaf: null };
      const pages = levelPages(level);
      const base = iovaPage - (iovaPage % pages);
      return {
        level,
        leaf: { iovaPage: base, frame: entry.frame, pages, read: entry.read, write: entry.write, level },
      };
    }
    if (level === 1) return { level, leaf: null };
    tableId = entry.tableId;
    level = (level - 1) as TableLevel;
  }
  return { level, leaf: null };
}

/** Reads entry `index` of table `tableId`: as the CPU sees it, or as the IOMMU's walk does. */
export type EntryReader = (state: IommuState, tableId: number, index: number) => PageTableEntry | undefined;

/** The entry as the CPU (the driver's software walk) sees it. */
export const cpuEntry: EntryReader = (state, tableId, index) => state.tables[tableId]?.entries[index];

/** The leaf translating `iovaPage`, or `null` if not present (`iova_to_phys` returning 0). */
export function lookupLeaf(state: IommuState, domain: IommuDomain, iovaPage: number): LeafAt | null {
  return walkStop(state, domain, iovaPage).leaf;
}

/**
 * The leaf the IOMMU's own walk finds for `iovaPage`, reading memory (`coherency.ts`): the same as
 * `lookupLeaf` unless a PTE write has not been written back to an IOMMU without coherent walks.
 */
export function lookupLeafAsIommu(state: IommuState, domain: IommuDomain, iovaPage: number): LeafAt | null {
  return hasUnflushed(state) ? walkStop(state, domain, iovaPage, iommuEntry).leaf : lookupLeaf(state, domain, iovaPage);
}

/** Every leaf the IOMMU's walk finds, reading memory (`lookupLeafAsIommu`), in IOVA order. */
export function domainLeavesAsIommu(state: IommuState, domain: IommuDomain): LeafAt[] {
  if (!hasUnflushed(state)) return domainLeaves(state, domain);
  const leaves: LeafAt[] = [];
  const visit = (tableId: number, level: TableLevel, basePage: number): void => {
    if (getTable(state, tableId) === undefined) return;
    const indexes = new Set([
      ...Object.keys(state.tables[tableId]?.entries ?? {}),
      ...Object.keys(state.unflushed?.[tableId] ?? {}),
    ]);
    for (const index of [...indexes].map(Number).sort((left, right) => left - right)) {
      const entry = iommuEntry(state, tableId, index);
      const slotBase = basePage + index * levelPages(level);
      if (entry === undefined) continue;
      if (entry.kind === 'leaf') {
        if (level < LEVEL_COUNT) leaves.push(leafOf(entry, slotBase, level));
      } else if (level > 1) visit(entry.tableId, (level - 1) as TableLevel, slotBase);
    }
  };
  if (domain.rootTableId !== null) visit(domain.rootTableId, LEVEL_COUNT, 0);
  return leaves;
}

function leafOf(entry: PageTableEntry & { kind: 'leaf' }, iovaPage: number, level: number): LeafAt {
  return {
    iovaPage,
    frame: entry.frame,
    pages: levelPages(level),
    read: entry.read,
    write: entry.write,
    level: level as LeafLevel,
  };
}

/** Present leaves intersecting the page range [startPage, endPage), in IOVA order. */
export function leavesInRange(state: IommuState, domain: IommuDomain, startPage: number, endPage: number): LeafAt[] {
  const leaves: LeafAt[] = [];
  if (domain.rootTableId === null) return leaves;
  const visit = (table: PageTablePage, basePage: number): void => {
    const slotPages = levelPages(table.level);
    const first = Math.max(0, Math.floor((startPage - basePage) / slotPages));
    const last = Math.min(ENTRIES_PER_TABLE - 1, Math.floor((endPage - 1 - basePage) / slotPages));
    for (const [key, entry] of tableEntries(table)) {
      const index = Number(key);
      if (index < first || index > last) continue;
      const slotBase = basePage + index * slotPages;
      if (entry.kind === 'leaf') leaves.push(leafOf(entry, slotBase, table.level));
      else {
        const child = getTable(state, entry.tableId);
        if (child !== undefined) visit(child, slotBase);
      }
    }
  };
  const root = getTable(state, domain.rootTableId);
  if (root !== undefined && endPage > startPage) visit(root, 0);
  return leaves;
}

/** Every present leaf of the domain, in IOVA order. */
export function domainLeaves(state: IommuState, domain: IommuDomain): LeafAt[] {
  return leavesInRange(state, domain, 0, levelPages(LEVEL_COUNT + 1));
}

/**
 * Entries of a table in index order: own integer-like keys are enumerated in ascending numeric
 * order (ECMAScript OrdinaryOwnPropertyKeys), so no sort is needed.
 */
export function tableEntries(table: PageTablePage): Array<[string, PageTableEntry]> {
  return Object.entries(table.entries);
}

/**
 * Table ids of the subtree rooted at `tableId`, and its leaves with IOVA pages relative to the
 * subtree's first page (rebase with `leavesInSlot`).
 */
export function subtree(state: IommuState, tableId: number): { tableIds: number[]; leaves: LeafAt[] } {
  const tableIds: number[] = [];
  const leaves: LeafAt[] = [];
  const visit = (id: number, basePage: number): void => {
    const table = getTable(state, id);
    if (table === undefined) return;
    tableIds.push(id);
    const slotPages = levelPages(table.level);
    for (const [key, entry] of tableEntries(table)) {
      const slotBase = basePage + Number(key) * slotPages;
      if (entry.kind === 'leaf') leaves.push(leafOf(entry, slotBase, table.level));
      else visit(entry.tableId, slotBase);
    }
  };
  visit(tableId, 0);
  return { tableIds, leaves };
}

// ---------------------------------------------------------------------------------------------
// Writing a leaf

export type InsertOutcome =
  /** The leaf was written; `freedTableIds` are tables removed from the superpage slot. */
  | { readonly kind: 'written'; readonly freedTableIds: readonly number[] }
  /** "DMA PTE already set": an existing leaf covers part of the range; nothing was written. */
  | { readonly kind: 'already-set' }
  /** A table page could not be allocated. Tables allocated on the way stay (caller restores). */
  | { readonly kind: 'enomem' };

/**
 * Writes one leaf at `level` for `iovaPage` (aligned to the leaf size), allocating tables on the
 * way down (`pfn_to_dma_pte` with a target level, then the cmpxchg on an empty PTE).
 */
export function insertLeaf(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  leaf: Translation & { readonly level: LeafLevel },
  written: CacheLine[] = [],
): InsertOutcome {
  if (domain.rootTableId === null) return { kind: 'enomem' };
  let tableId = domain.rootTableId;
  let table = getTable(state, tableId);
  let level: TableLevel = LEVEL_COUNT;
  while (table !== undefined && level > leaf.level) {
    const index = levelIndex(leaf.iovaPage, level);
    const entry = table.entries[index];
    if (entry === undefined) {
      const childId = allocTable(state, domain.domainId, (level - 1) as TableLevel);
      if (childId === null) return { kind: 'enomem' };
      recordWrite(state, tableId, index, written);
      writableTable(state, tableId).entries[index] = { kind: 'table', tableId: childId };
      tableId = childId;
      table = getTable(state, childId);
    } else if (entry.kind === 'leaf') {
      // A larger leaf already covers this IOVA.
      if (!hasIommuBug(config, 'map-ignores-existing')) return { kind: 'already-set' };
      recordWrite(state, tableId, index, written);
      delete writableTable(state, tableId).entries[index];
      return insertLeaf(state, config, domain, leaf, written);
    } else {
      tableId = entry.tableId;
      table = getTable(state, tableId);
    }
    level = (level - 1) as TableLevel;
  }
  if (table === undefined) return { kind: 'enomem' };
  const index = levelIndex(leaf.iovaPage, level);
  const existing = table.entries[index];
  const pte: PageTableEntry = { kind: 'leaf', frame: leaf.frame, read: leaf.read, write: leaf.write };
  if (existing === undefined) {
    recordWrite(state, tableId, index, written);
    writableTable(state, tableId).entries[index] = pte;
    return { kind: 'written', freedTableIds: [] };
  }
  if (existing.kind === 'leaf') {
    if (!hasIommuBug(config, 'map-ignores-existing')) return { kind: 'already-set' };
    recordWrite(state, tableId, index, written);
    writableTable(state, tableId).entries[index] = pte;
    return { kind: 'written', freedTableIds: [] };
  }
  // A table sits in the superpage slot: free it if empty (switch_to_super_page), else keep it.
  const below = subtree(state, existing.tableId);
  if (below.leaves.length > 0 && !hasIommuBug(config, 'map-ignores-existing')) return { kind: 'already-set' };
  recordWrite(state, tableId, index, written);
  writableTable(state, tableId).entries[index] = pte;
  return { kind: 'written', freedTableIds: below.tableIds };
}

/** `subtree` leaves carry IOVAs relative to the subtree; rebase them at the slot's first page. */
function leavesInSlot(leaves: readonly LeafAt[], slotBase: number): LeafAt[] {
  return leaves.map((leaf) => ({ ...leaf, iovaPage: leaf.iovaPage + slotBase }));
}

// ---------------------------------------------------------------------------------------------
// Clearing a range

export interface ClearOutcome {
  /** Leaves removed, in IOVA order. */
  readonly leaves: LeafAt[];
  /** Tables unlinked from the tree because the range covered them entirely (not yet freed). */
  readonly tableIds: number[];
}

/**
 * `dma_pte_clear_level` over [startPage, endPage): removes every leaf the range touches and unlinks
 * every table the range covers entirely. The root table is never unlinked.
 */
export function clearRange(
  state: IommuState,
  config: IommuConfig,
  domain: IommuDomain,
  startPage: number,
  endPage: number,
  written: CacheLine[] = [],
): ClearOutcome {
  const outcome: ClearOutcome = { leaves: [], tableIds: [] };
  if (domain.rootTableId === null || endPage <= startPage) return outcome;
  const root = getTable(state, domain.rootTableId);
  const target = { state, config, startPage, endPage, outcome, written };
  if (root !== undefined) clearLevel(target, domain.rootTableId, root, 0);
  return outcome;
}

/** What a clear works on: the state, the range, and where it puts what it removed and wrote. */
interface ClearTarget {
  readonly state: IommuState;
  readonly config: IommuConfig;
  readonly startPage: number;
  readonly endPage: number;
  readonly outcome: ClearOutcome;
  readonly written: CacheLine[];
}

function clearLevel(target: ClearTarget, tableId: number, table: PageTablePage, basePage: number): void {
  const { state, config, startPage, endPage, outcome, written } = target;
  const slotPages = levelPages(table.level);
  const first = Math.max(0, Math.floor((startPage - basePage) / slotPages));
  const last = Math.min(ENTRIES_PER_TABLE - 1, Math.floor((endPage - 1 - basePage) / slotPages));
  let lastLevelTablesVisited = 0;
  for (let index = first; index <= last; index++) {
    const entry = table.entries[index];
    if (entry === undefined) continue;
    const slotBase = basePage + index * slotPages;
    if (entry.kind === 'leaf') {
      outcome.leaves.push(leafOf(entry, slotBase, table.level));
      recordWrite(state, tableId, index, written);
      delete writableTable(state, tableId).entries[index];
      continue;
    }
    const covered = startPage <= slotBase && endPage >= slotBase + slotPages;
    if (table.level === 2) {
      lastLevelTablesVisited += 1;
      if (lastLevelTablesVisited > 1 && hasIommuBug(config, 'unmap-stops-at-table-boundary')) return;
    }
    if (covered) {
      const below = subtree(state, entry.tableId);
      for (const leaf of leavesInSlot(below.leaves, slotBase)) outcome.leaves.push(leaf);
      for (const freedId of below.tableIds) outcome.tableIds.push(freedId);
      recordWrite(state, tableId, index, written);
      delete writableTable(state, tableId).entries[index];
    } else {
      const child = getTable(state, entry.tableId);
      if (child !== undefined) clearLevel(target, entry.tableId, child, slotBase);
    }
  }
}
