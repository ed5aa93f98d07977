/**
 * Construction, copying and lookup of the VT-d state, and the page-table page pool.
 *
 * Operations take a draft the caller has already copied (`cloneIommuState`) and edit it in place.
 * An operation that can only discover a failure part-way (ENOMEM while allocating tables) takes a
 * snapshot first and puts it back with `restoreIommuState`, so a refusal always leaves the draft
 * exactly as it was (the real driver unwinds with an unmap instead and may leave empty table
 * pages behind; the model is atomic).
 */
import { share, unshared } from '../copy-on-write.js';
import type {
  DeviceContext,
  DomainType,
  IommuCaps,
  IommuDomain,
  IommuState,
  PageTableEntry,
  PageTablePage,
  Translation,
} from './types.js';
import type { TableLevel } from './address.js';

export const defaultIommuCaps: IommuCaps = {
  superpageLevels: 2,
  cachingMode: false,
  pageSelectiveInvalidation: true,
  maxAddressMaskValue: 18,
  scalableMode: true,
  domainIdCount: 16,
  iotlbEntries: 8,
  tablePages: 64,
  flushQueueEntries: 4,
};

export function createIommuState(caps: Partial<IommuCaps> = {}): IommuState {
  return {
    caps: { ...defaultIommuCaps, ...caps },
    domains: {},
    contexts: {},
    tables: {},
    iotlb: [],
    flat: {},
    nextFlushSeq: 0,
    unsynced: [],
    requests: [],
    ...((caps.pasidCacheEntries ?? 0) > 0 ? { pasidCache: [] } : {}),
    ...((caps.contextCacheEntries ?? 0) > 0 ? { contextCache: [] } : {}),
  };
}

/** A table page the caller may edit in place. */
export interface WritableTablePage extends PageTablePage {
  readonly entries: Record<string, PageTableEntry>;
}

/**
 * Table `tableId` of `state` (a draft), to edit in place: its own copy first, if another state
 * shares it. Most steps write none of the tables (a DMA, a flush, a VFIO phase that maps nothing)
 * or one or two, so a copy of the state shares them all and each is copied on its first write.
 */
export function writableTable(state: IommuState, tableId: number): WritableTablePage {
  const table = state.tables[tableId];
  if (table === undefined) throw new Error(`writableTable: no table ${tableId}`);
  const own = unshared(table, (page): WritableTablePage => ({ ...page, entries: { ...page.entries } }));
  state.tables[tableId] = own;
  return own;
}

/** A context entry the caller may edit in place. */
export interface WritableDeviceContext {
  domainId: number | null;
  pasids: Record<string, number>;
  orphaned?: true;
}

function copyContexts(contexts: IommuState['contexts']): Record<string, WritableDeviceContext> {
  const copy: Record<string, WritableDeviceContext> = {};
  for (const key in contexts) {
    const context = contexts[key] as DeviceContext;
    copy[key] =
      context.orphaned === true
        ? { domainId: context.domainId, pasids: { ...context.pasids }, orphaned: true }
        : { domainId: context.domainId, pasids: { ...context.pasids } };
  }
  return copy;
}

/**
 * The context entries of `state` (a draft), to edit in place: its own copy first (entries and
 * all), if another state shares them. Only an attach or a detach writes them.
 */
export function writableContexts(state: IommuState): Record<string, WritableDeviceContext> {
  const contexts = unshared(state.contexts, copyContexts);
  state.contexts = contexts;
  return contexts;
}

/** `deviceId`'s context entry in the draft's own entries, if present. */
export function writableContext(state: IommuState, deviceId: number): WritableDeviceContext | undefined {
  const contexts = writableContexts(state);
  return Object.hasOwn(contexts, deviceId) ? contexts[deviceId] : undefined;
}

// The copy is written out with `for…in` rather than built from `Object.entries`: every step of a
// stack over VT-d copies it (issue 23).
export function cloneIommuState(state: IommuState): IommuState {
  const domains: IommuState['domains'] = {};
  for (const key in state.domains) {
    const domain = state.domains[key] as IommuDomain;
    domains[key] = cloneDomain(domain);
  }
  const tables: IommuState['tables'] = {};
  for (const key in state.tables) {
    // Copied on its first write (`writableTable`).
    tables[key] = share(state.tables[key] as PageTablePage);
  }
  const flat: IommuState['flat'] = {};
  for (const key in state.flat) flat[key] = [...(state.flat[key] as Translation[])];
  const copy: IommuState = {
    caps: state.caps,
    domains,
    // Copied on its first write (`writableContexts`).
    contexts: share(state.contexts),
    tables,
    iotlb: [...state.iotlb],
    flat,
    nextFlushSeq: state.nextFlushSeq,
    // Both lists' entries are replaced whole, never edited in place.
    unsynced: state.unsynced.length === 0 ? [] : [...state.unsynced],
    requests: state.requests.length === 0 ? [] : [...state.requests],
  };
  // Its entries are replaced whole, never edited in place.
  if (state.pasidCache !== undefined) copy.pasidCache = [...state.pasidCache];
  // Replaced whole on every change, never edited in place.
  if (state.contextCache !== undefined) copy.contextCache = state.contextCache;
  if (state.unflushed !== undefined) copy.unflushed = cloneUnflushed(state.unflushed);
  // Replaced whole on every change, never edited in place.
  if (state.unflushedPasids !== undefined) copy.unflushedPasids = state.unflushedPasids;
  if (state.unflushedContexts !== undefined) copy.unflushedContexts = state.unflushedContexts;
  // Replaced whole on every change, never edited in place.
  if (state.copiedContexts !== undefined) copy.copiedContexts = state.copiedContexts;
  return copy;
}

// Built field by field (several times faster than a spread); a field added to `IommuDomain` must
// be added here (`test/vfio/clone.test.ts` compares copies).
function cloneDomain(domain: IommuDomain): IommuDomain {
  const copy: { -readonly [K in keyof IommuDomain]: IommuDomain[K] } = {
    domainId: domain.domainId,
    type: domain.type,
    nestingParent: domain.nestingParent,
    rootTableId: domain.rootTableId,
    flushQueue: [...domain.flushQueue],
    parentDomainId: domain.parentDomainId,
  };
  if (domain.firstLevel !== undefined) copy.firstLevel = domain.firstLevel;
  // Shared, as the spread this replaces shared it.
  if (domain.cacheTags !== undefined) copy.cacheTags = domain.cacheTags;
  return copy;
}

function cloneUnflushed(unflushed: NonNullable<IommuState['unflushed']>): NonNullable<IommuState['unflushed']> {
  const copy: NonNullable<IommuState['unflushed']> = {};
  for (const [tableId, kept] of Object.entries(unflushed)) copy[tableId] = { ...kept };
  return copy;
}

/** Puts a snapshot taken with `cloneIommuState` back into `target` (after a part-way failure). */
export function restoreIommuState(target: IommuState, snapshot: IommuState): void {
  target.domains = snapshot.domains;
  target.contexts = snapshot.contexts;
  target.tables = snapshot.tables;
  target.iotlb = snapshot.iotlb;
  target.flat = snapshot.flat;
  target.nextFlushSeq = snapshot.nextFlushSeq;
  target.unsynced = snapshot.unsynced;
  target.requests = snapshot.requests;
  if (snapshot.pasidCache === undefined) delete target.pasidCache;
  else target.pasidCache = snapshot.pasidCache;
  if (snapshot.contextCache === undefined) delete target.contextCache;
  else target.contextCache = snapshot.contextCache;
  if (snapshot.unflushed === undefined) delete target.unflushed;
  else target.unflushed = snapshot.unflushed;
  if (snapshot.unflushedPasids === undefined) delete target.unflushedPasids;
  else target.unflushedPasids = snapshot.unflushedPasids;
  if (snapshot.unflushedContexts === undefined) delete target.unflushedContexts;
  else target.unflushedContexts = snapshot.unflushedContexts;
  if (snapshot.copiedContexts === undefined) delete target.copiedContexts;
  else target.copiedContexts = snapshot.copiedContexts;
}

export function isPagingType(type: DomainType): boolean {
  return type === 'unmanaged' || type === 'dma' || type === 'dma-fq';
}

export function getDomain(state: IommuState, domainId: number): IommuDomain | undefined {
  return Object.hasOwn(state.domains, domainId) ? state.domains[domainId] : undefined;
}

/** The lowest free DID from 1 (DID 0 is reserved), or `null` when `domainIdCount` is exhausted. */
export function allocDomainId(state: IommuState): number | null {
  let domainId = 1;
  while (domainId < state.caps.domainIdCount && Object.hasOwn(state.domains, domainId)) domainId += 1;
  return domainId < state.caps.domainIdCount ? domainId : null;
}

/** Unmaps of a `dma-fq` domain go through its flush queue; every other domain is strict. */
export function isLazy(domain: IommuDomain): boolean {
  return domain.type === 'dma-fq';
}

export function getTable(state: IommuState, tableId: number): PageTablePage | undefined {
  return Object.hasOwn(state.tables, tableId) ? state.tables[tableId] : undefined;
}

export function tableCount(state: IommuState): number {
  return Object.keys(state.tables).length;
}

/**
 * Whether writing leaves into [startPage, endPage) could need more table pages than are free: an
 * upper bound counting, for each level below the root, every table-sized block the range touches.
 * When it is false the operation cannot fail with ENOMEM and needs no snapshot.
 */
export function mayRunOutOfTables(state: IommuState, startPage: number, endPage: number): boolean {
  let bound = 0;
  for (let level = 1; level < 4; level++) {
    const blockPages = 512 ** level;
    bound += Math.floor((endPage - 1) / blockPages) - Math.floor(startPage / blockPages) + 1;
  }
  return tableCount(state) + bound > state.caps.tablePages;
}

/** Allocates a zeroed table page (lowest free id), or `null` when the pool is exhausted (ENOMEM). */
export function allocTable(state: IommuState, domainId: number, level: TableLevel): number | null {
  if (tableCount(state) >= state.caps.tablePages) return null;
  let tableId = 0;
  while (Object.hasOwn(state.tables, tableId)) tableId += 1;
  state.tables[tableId] = { domainId, level, entries: {} };
  return tableId;
}

export function freeTables(state: IommuState, tableIds: readonly number[]): void {
  for (const tableId of tableIds) delete state.tables[tableId];
  // Memory's old values of their entries go with them (`coherency.ts`).
  if (state.unflushed !== undefined) for (const tableId of tableIds) delete state.unflushed[tableId];
}
