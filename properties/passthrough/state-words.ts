/**
 * The compact fingerprint of a VFIO-over-VT-d state (issue 23): the VFIO part's words
 * (`../vfio/state-words.ts`), the IOMMU's (`models/iommu/types.ts`) and the stack's own records,
 * in the encoding of `../generic/state-words.ts`, frames kept (the scope keys the whole state:
 * `./explore-scope.ts` says why no renaming is sound here). It partitions states as
 * `stableFingerprint(state)` does, the constant parts aside: the VFIO ones its writer names and the
 * IOMMU's capabilities (`caps`, copied from the world by every clone, `models/iommu/state.ts`).
 * `test/explore/state-words.test.ts` holds the two to the same partition over every design's scope
 * and the constant parts to the initial state's. The IOMMU's rarer records (a non-coherent walk's
 * unflushed lines, a kdump kernel's copied contexts, the context cache) and the stack's kdump
 * records are written in `putAny`'s self-describing form.
 */
import type {
  ContextCacheEntry,
  DeviceContext,
  FlushQueueEntry,
  IommuDomain,
  IommuState,
  IotlbEntry,
  PageTableEntry,
  PageTablePage,
  PasidCacheEntry,
  TranslatedRequest,
  Translation,
  UnsyncedUnmap,
} from '../../models/iommu/types.js';
import type { HeldFrame, PassthroughState } from '../../models/passthrough/types.js';
import { finishWords, putWord, startWords } from '../../src/stable-fingerprint.js';
import type { Fingerprint } from '../../src/state-table.js';
import {
  NIL,
  putAny,
  putFlag,
  putInt,
  putInts,
  putIntRecord,
  putList,
  putNullable,
  putOptionalFlag,
  putRecord,
  RecordKeys,
  putText,
  putFrameTail,
  startFrames,
} from '../generic/state-words.js';
import type { FieldsOf } from '../generic/state-words.js';
import { putVfioState } from '../vfio/state-words.js';

/** The fields of each record type and how the writers below treat them (a new field fails to compile). */
export const passthroughFields = {
  state: {
    vfio: 'written',
    iommu: 'written',
    dids: 'written',
    held: 'written',
    defaults: 'written',
    probing: 'written',
    vmmSetup: 'written',
  },
  held: { seq: 'written', mfn: 'written' },
  iommu: {
    caps: 'constant',
    domains: 'written',
    contexts: 'written',
    tables: 'written',
    iotlb: 'written',
    flat: 'written',
    nextFlushSeq: 'written',
    unsynced: 'written',
    requests: 'written',
    pasidCache: 'written',
    contextCache: 'written',
    unflushed: 'written',
    unflushedPasids: 'written',
    unflushedContexts: 'written',
    copiedContexts: 'written',
  },
  translation: { iovaPage: 'written', frame: 'written', pages: 'written', read: 'written', write: 'written' },
  flushEntry: { seq: 'written', iovaPage: 'written', pages: 'written', leaves: 'written', freedTableIds: 'written' },
  domain: {
    domainId: 'written',
    type: 'written',
    nestingParent: 'written',
    rootTableId: 'written',
    flushQueue: 'written',
    parentDomainId: 'written',
    firstLevel: 'written',
    cacheTags: 'written',
  },
  context: { domainId: 'written', pasids: 'written', orphaned: 'written' },
  table: { domainId: 'written', level: 'written', entries: 'written' },
  unsynced: {
    domainId: 'written',
    iovaPage: 'written',
    pages: 'written',
    leaves: 'written',
    freedTableIds: 'written',
    deferredClear: 'written',
    queuedSeq: 'written',
  },
  request: { deviceId: 'written', domainId: 'written', pasid: 'written', iovaPage: 'written', drained: 'written' },
  pasidCache: { deviceId: 'written', pasid: 'written', domainId: 'written', orphaned: 'written' },
  contextCache: { deviceId: 'written', domainId: 'written', orphaned: 'written' },
} as const satisfies {
  state: FieldsOf<PassthroughState>;
  held: FieldsOf<HeldFrame>;
  iommu: FieldsOf<IommuState>;
  translation: FieldsOf<Translation>;
  flushEntry: FieldsOf<FlushQueueEntry>;
  domain: FieldsOf<IommuDomain>;
  context: FieldsOf<DeviceContext>;
  table: FieldsOf<PageTablePage>;
  unsynced: FieldsOf<UnsyncedUnmap>;
  request: FieldsOf<TranslatedRequest>;
  pasidCache: FieldsOf<PasidCacheEntry>;
  contextCache: FieldsOf<ContextCacheEntry>;
};

/** The keys of the records each site met last (`RecordKeys`). */
const sites = {
  cacheTags: new RecordKeys(),
  pasids: new RecordKeys(),
  entries: new RecordKeys(),
  domains: new RecordKeys(),
  contexts: new RecordKeys(),
  tables: new RecordKeys(),
  flat: new RecordKeys(),
  dids: new RecordKeys(),
  defaults: new RecordKeys(),
};

function putTranslation(translation: Translation): void {
  putInt(translation.iovaPage);
  putInt(translation.frame);
  putInt(translation.pages);
  putFlag(translation.read);
  putFlag(translation.write);
}

function putLeaves(leaves: readonly Translation[]): void {
  putList(leaves, putTranslation);
}

function putFlushEntry(entry: FlushQueueEntry): void {
  putInt(entry.seq);
  putInt(entry.iovaPage);
  putInt(entry.pages);
  putList(entry.leaves, putTranslation);
  putInts(entry.freedTableIds);
}

function putDomain(domain: IommuDomain): void {
  putInt(domain.domainId);
  putText(domain.type);
  putFlag(domain.nestingParent);
  putNullable(domain.rootTableId);
  putList(domain.flushQueue, putFlushEntry);
  putNullable(domain.parentDomainId);
  putOptionalFlag(domain.firstLevel);
  if (domain.cacheTags === undefined) putWord(NIL);
  else {
    putWord(0);
    putIntRecord(domain.cacheTags, sites.cacheTags);
  }
}

function putContext(context: DeviceContext): void {
  putNullable(context.domainId);
  putIntRecord(context.pasids, sites.pasids);
  putOptionalFlag(context.orphaned);
}

function putEntry(entry: PageTableEntry): void {
  if (entry.kind === 'table') {
    putWord(0);
    putInt(entry.tableId);
    return;
  }
  if (entry.kind === 'leaf') {
    putWord(1);
    putInt(entry.frame);
    putFlag(entry.read);
    putFlag(entry.write);
    return;
  }
  putWord(2);
  putAny(entry, null);
}

function putTable(table: PageTablePage): void {
  putInt(table.domainId);
  putInt(table.level);
  putRecord(table.entries, putEntry, sites.entries);
}

function putIotlbEntry(entry: IotlbEntry): void {
  switch (entry.kind) {
    case 'translation':
      putWord(0);
      putInt(entry.domainId);
      putNullable(entry.pasid);
      putOptionalFlag(entry.orphaned);
      putOptionalFlag(entry.firstLevel);
      putTranslation(entry);
      return;
    case 'not-present':
      putWord(1);
      putInt(entry.domainId);
      putNullable(entry.pasid);
      putOptionalFlag(entry.orphaned);
      putInt(entry.iovaPage);
      return;
    case 'nested':
    default:
      // Nested translations (the vIOMMU's) and any later kind: every field, self-described.
      putWord(2);
      putAny(entry, null);
  }
}

function putUnsynced(unmap: UnsyncedUnmap): void {
  putInt(unmap.domainId);
  putInt(unmap.iovaPage);
  putInt(unmap.pages);
  putList(unmap.leaves, putTranslation);
  putInts(unmap.freedTableIds);
  const clear = unmap.deferredClear;
  if (clear === null) putWord(NIL);
  else {
    putInt(clear.iova);
    putInt(clear.sizeBytes);
  }
  putNullable(unmap.queuedSeq);
}

function putRequest(request: TranslatedRequest): void {
  putInt(request.deviceId);
  putInt(request.domainId);
  putNullable(request.pasid);
  putInt(request.iovaPage);
  putFlag(request.drained);
}

function putPasidCacheEntry(entry: PasidCacheEntry): void {
  putInt(entry.deviceId);
  putInt(entry.pasid);
  putInt(entry.domainId);
  putOptionalFlag(entry.orphaned);
}

function putIommu(iommu: IommuState): void {
  putRecord(iommu.domains, putDomain, sites.domains);
  putRecord(iommu.contexts, putContext, sites.contexts);
  putRecord(iommu.tables, putTable, sites.tables);
  putList(iommu.iotlb, putIotlbEntry);
  putRecord(iommu.flat, putLeaves, sites.flat);
  putInt(iommu.nextFlushSeq);
  putList(iommu.unsynced, putUnsynced);
  putList(iommu.requests, putRequest);
  if (iommu.pasidCache === undefined) putWord(NIL);
  else putList(iommu.pasidCache, putPasidCacheEntry);
  putAny(iommu.contextCache, null);
  putAny(iommu.unflushed, null);
  putAny(iommu.unflushedPasids, null);
  putAny(iommu.unflushedContexts, null);
  putAny(iommu.copiedContexts, null);
}

function putHeld(held: HeldFrame): void {
  putInt(held.seq);
  putInt(held.mfn);
}

/** The words of a passthrough state, frames kept (see the header). */
export function putPassthroughState(state: PassthroughState): void {
  startFrames(state.vfio.memory, false);
  putVfioState(state.vfio);
  putFrameTail(state.vfio.memory);
  putIommu(state.iommu);
  putIntRecord(state.dids, sites.dids);
  putList(state.held, putHeld);
  if (state.defaults === undefined) putWord(NIL);
  else {
    putWord(0);
    putIntRecord(state.defaults, sites.defaults);
  }
  putAny(state.probing, null);
  putAny(state.vmmSetup, null);
}

/** The fingerprint of `stableFingerprint(state)`'s partition of a scope's states (see the header). */
export function passthroughStateFingerprint(state: PassthroughState): Fingerprint {
  startWords();
  putPassthroughState(state);
  return finishWords();
}
