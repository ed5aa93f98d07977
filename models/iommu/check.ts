/**
 * Checks over the page tables, returning the first problem as a message or `null`:
 *
 * - `pageTableMatchesFlat` — the differential check: the leaves found by walking each domain's
 *   radix tree equal the flat reference map's leaves (same first page, frame, size, permissions),
 *   and the flat map has a record for exactly the paging domains.
 * - `pageTableWellFormed` — §3.7 inv. 1 and the page pool: every paging domain has a level-4 root;
 *   each table is reachable once, one level below its parent, owned by its domain; leaves sit only
 *   at levels 1..(1 + superpage levels) and map frames aligned to their size; every table page in
 *   the pool is reachable or waits in a flush-queue entry of its domain (no leaked page).
 */
import { ENTRIES_PER_TABLE, levelPages } from './address.js';
import { domainLeaves } from './page-table.js';
import { getTable, isPagingType } from './state.js';
import type { IommuDomain, IommuState } from './types.js';

function describeLeaf(leaf: { frame: number; pages: number; read: boolean; write: boolean }): string {
  return `frame ${leaf.frame}, ${leaf.pages} pages, ${leaf.read ? 'r' : '-'}${leaf.write ? 'w' : '-'}`;
}

export function pageTableMatchesFlat(state: IommuState): string | null {
  for (const key of Object.keys(state.flat)) {
    const domain = Object.hasOwn(state.domains, key) ? state.domains[key] : undefined;
    if (domain === undefined || !isPagingType(domain.type)) {
      return `flat map has a record for domain ${key}, which has no page table`;
    }
  }
  for (const domain of Object.values(state.domains)) {
    if (!isPagingType(domain.type)) continue;
    const flat = Object.hasOwn(state.flat, domain.domainId) ? state.flat[domain.domainId] : undefined;
    if (flat === undefined) return `domain ${domain.domainId}: no record in the flat map`;
    const tree = domainLeaves(state, domain);
    const name = `domain ${domain.domainId}`;
    for (let index = 1; index < flat.length; index++) {
      const previous = flat[index - 1];
      const entry = flat[index];
      if (previous !== undefined && entry !== undefined && previous.iovaPage + previous.pages > entry.iovaPage) {
        return `${name}: flat map entries at IOVA pages ${previous.iovaPage} and ${entry.iovaPage} overlap or are out of order`;
      }
    }
    for (let index = 0; index < Math.max(tree.length, flat.length); index++) {
      const leaf = tree[index];
      const entry = flat[index];
      if (leaf !== undefined && (entry === undefined || entry.iovaPage > leaf.iovaPage)) {
        return `${name}: IOVA page ${leaf.iovaPage} is mapped in the page table (${describeLeaf(leaf)}) but not in the flat map`;
      }
      if (entry !== undefined && (leaf === undefined || leaf.iovaPage > entry.iovaPage)) {
        return `${name}: IOVA page ${entry.iovaPage} is mapped in the flat map (${describeLeaf(entry)}) but not in the page table`;
      }
      if (leaf === undefined || entry === undefined) continue;
      if (
        entry.frame !== leaf.frame ||
        entry.pages !== leaf.pages ||
        entry.read !== leaf.read ||
        entry.write !== leaf.write
      ) {
        return `${name}: IOVA page ${leaf.iovaPage} maps ${describeLeaf(leaf)} in the page table but ${describeLeaf(entry)} in the flat map`;
      }
    }
  }
  return null;
}

function checkDomainTree(state: IommuState, domain: IommuDomain, reachable: Set<number>): string | null {
  const name = `domain ${domain.domainId}`;
  if (!isPagingType(domain.type))
    return domain.rootTableId === null ? null : `${name}: non-paging domain has a root table`;
  if (domain.rootTableId === null) return `${name}: paging domain without a root table`;
  const maxLeafLevel = 1 + state.caps.superpageLevels;
  const visit = (tableId: number, level: number): string | null => {
    const table = getTable(state, tableId);
    if (table === undefined) return `${name}: table ${tableId} is referenced but not allocated`;
    if (reachable.has(tableId)) return `${name}: table ${tableId} is reachable twice`;
    reachable.add(tableId);
    if (table.level !== level) return `${name}: table ${tableId} has level ${table.level}, expected ${level}`;
    if (table.domainId !== domain.domainId) return `${name}: table ${tableId} belongs to domain ${table.domainId}`;
    for (const [key, entry] of Object.entries(table.entries)) {
      const index = Number(key);
      if (!Number.isInteger(index) || index < 0 || index >= ENTRIES_PER_TABLE) {
        return `${name}: table ${tableId} has entry index ${key}`;
      }
      if (entry.kind === 'leaf') {
        if (level > maxLeafLevel) return `${name}: table ${tableId} (level ${level}) holds a leaf at index ${index}`;
        const pages = levelPages(level);
        if (!Number.isInteger(entry.frame) || entry.frame < 0 || entry.frame % pages !== 0) {
          return `${name}: leaf at table ${tableId} index ${index} maps frame ${entry.frame}, not aligned to ${pages} pages`;
        }
        if (!entry.read && !entry.write) return `${name}: leaf at table ${tableId} index ${index} has neither R nor W`;
      } else {
        if (level === 1) return `${name}: last-level table ${tableId} points to a table at index ${index}`;
        const problem = visit(entry.tableId, level - 1);
        if (problem !== null) return problem;
      }
    }
    return null;
  };
  return visit(domain.rootTableId, 4);
}

export function pageTableWellFormed(state: IommuState): string | null {
  const reachable = new Set<number>();
  for (const domain of Object.values(state.domains)) {
    const problem = checkDomainTree(state, domain, reachable);
    if (problem !== null) return problem;
  }
  const pending = new Set<number>();
  for (const domain of Object.values(state.domains)) {
    for (const entry of domain.flushQueue) {
      for (const tableId of entry.freedTableIds) {
        const table = getTable(state, tableId);
        if (table === undefined) return `domain ${domain.domainId}: queued table ${tableId} was freed before the flush`;
        if (table.domainId !== domain.domainId)
          return `domain ${domain.domainId}: queued table ${tableId} belongs to domain ${table.domainId}`;
        if (reachable.has(tableId))
          return `domain ${domain.domainId}: queued table ${tableId} is still in the page table`;
        pending.add(tableId);
      }
    }
  }
  for (const key of Object.keys(state.tables)) {
    const tableId = Number(key);
    if (!reachable.has(tableId) && !pending.has(tableId))
      return `table ${tableId} is allocated but unreachable (leaked)`;
  }
  if (Object.keys(state.tables).length > state.caps.tablePages) return `more table pages than the pool holds`;
  return null;
}
