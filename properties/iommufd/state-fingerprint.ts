/**
 * The explore fingerprint of the stack over iommufd (issue 23): the same partition of states as
 * `stableFingerprint(state)` (equal canonical JSON, equal fingerprint; else different but for a
 * 128-bit collision), written by hand. `stableFingerprint` was 16% of the search, 28% once the
 * step's copy was cheaper (`models/iommufd/clone.ts`): it looks up each record's keys and shape,
 * and walks the whole state for every successor of a state, most of which share all but a few
 * records with it.
 *
 * How: the records of the state (the iommufd context, its objects, areas, `iopt_pages`, groups;
 * the host memory, the process and the VT-d state, of other models' types) are written field by
 * field in a fixed order; the parts a step shares with its input until it writes them
 * (`models/copy-on-write.ts`: the memory's frames, the process's page table, each paging hwpt's
 * translations, VT-d's capabilities, context entries and each table page) as their
 * `stableFingerprint`, remembered by identity (`printOf`), and the VT-d state's words as their
 * fingerprint, remembered too (`nodePrintOf`: a step that changed no translation shares it whole);
 * everything else (ids-keyed records, small records of other types, the stack's `dids`, `held`,
 * `otherFrames`) by a generic walk of plain data (`putPlain`) that writes what `stableJson` writes.
 *
 * Why the partition is the same: every value is written with a tag and, where it has one, its
 * length (a record: its count of fields; a record written by hand: its fields in a fixed order, each
 * tagged), so the words are prefix-free and give the value back: different canonical JSON,
 * different words (or a different remembered fingerprint: a 2⁻¹²⁸ collision). And equal canonical
 * JSON gives equal words: a record keyed by ids is written in an order of its keys that is a
 * function of the key set (`putKeyed`: array indices ascending, as `for…in` gives them, else
 * sorted); a field whose value is undefined or a function is written as absent, as `stableJson`
 * leaves it out (in an array: as null, as it writes it); a number is an integer word when it is a
 * 32-bit integer (-0 as 0), null when not finite, as JSON writes them. A field added to a record
 * written by hand would be left out, so `test/iommufd/state-fingerprint.test.ts` walks the scope's
 * reachable states and fails on a field this file does not know (`test/iommufd/fields.ts`), and
 * holds the fingerprint to `stableFingerprint`'s partition on them.
 *
 * A state handed out by a step is never written again (`models/copy-on-write.ts`;
 * test/iommufd/clone.test.ts deep-freezes them), so a remembered fingerprint stays right.
 */
import type { IommuState, PageTablePage } from '../../models/iommu/types.js';
import type { HostMemory } from '../../models/memory/frames.js';
import type {
  AccessObject,
  HwptPagingObject,
  IoasObject,
  IommufdGroup,
  IommufdObject,
  IommufdState,
  IoptArea,
  IoptPages,
} from '../../models/iommufd/types.js';
import type { IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { VmmProcess } from '../../models/vfio/types.js';
import { finishWords, isArrayIndex, putWord, stableFingerprint, startWords } from '../../src/stable-fingerprint.js';
import { sortKeys } from '../../src/stable-json.js';
import type { Fingerprint } from '../../src/state-table.js';

const INT = 1;
const FLOAT = 2;
const NULL = 3;
const ABSENT = 4;
const FALSE = 5;
const TRUE = 6;
const STRING = 7;
const ARRAY = 8;
const RECORD = 9;
const PRINT = 10;

// The state's words, written here and hashed at the end (`stableFingerprint` of a part, called on
// the way, uses the engine's buffer).
let words = new Int32Array(1 << 10);
let used = 0;

function put(word: number): void {
  if (used === words.length) {
    const grown = new Int32Array(words.length * 2);
    grown.set(words);
    words = grown;
  }
  words[used++] = word;
}

const float = new Float64Array(1);
const floatWords = new Int32Array(float.buffer);

function putNumber(value: number): void {
  if ((value | 0) === value) {
    put(INT);
    put(value | 0);
  } else if (Number.isFinite(value)) {
    float[0] = value;
    put(FLOAT);
    put(floatWords[0] ?? 0);
    put(floatWords[1] ?? 0);
  } else put(NULL);
}

function putString(text: string): void {
  put(STRING);
  put(text.length);
  for (let at = 0; at < text.length; at++) put(text.charCodeAt(at));
}

function putPrint(print: Fingerprint): void {
  put(PRINT);
  put(print[0]);
  put(print[1]);
  put(print[2]);
  put(print[3]);
}

/** A record field's value: undefined and functions are absent (`stableJson` leaves them out). */
function putField(value: unknown): void {
  if (value === undefined || typeof value === 'function') put(ABSENT);
  else putPlain(value);
}

/**
 * A record keyed by ids, its values written by `putItem` (undefined and functions left out), its
 * keys in an order that is a function of the key set alone: array indices ascending, as `for…in`
 * gives them (ECMA-262 OrdinaryOwnPropertyKeys), else sorted.
 */
function putKeyed<T>(record: Readonly<Record<string, T>>, putItem: (item: T) => void): void {
  put(RECORD);
  const countAt = used;
  put(0);
  let count = 0;
  for (const key in record) {
    if (!isArrayIndex(key)) {
      used = countAt - 1;
      putSorted(record, putItem);
      return;
    }
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    putString(key);
    putItem(item as T);
    count += 1;
  }
  words[countAt] = count;
}

function putSorted<T>(record: Readonly<Record<string, T>>, putItem: (item: T) => void): void {
  // `sortKeys` remembers the order of each key sequence it has sorted (a record of a fixed shape).
  const keys = sortKeys(Object.keys(record));
  put(RECORD);
  const countAt = used;
  put(0);
  let count = 0;
  for (const key of keys) {
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    putString(key);
    putItem(item);
    count += 1;
  }
  words[countAt] = count;
}

/** Any plain data, as `stableJson` has it. */
function putPlain(value: unknown): void {
  switch (typeof value) {
    case 'number':
      putNumber(value);
      return;
    case 'boolean':
      put(value ? TRUE : FALSE);
      return;
    case 'string':
      putString(value);
      return;
    case 'object':
      break;
    // As stableJson: what JSON has no value for is null (in an array; a record's field is absent).
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      put(NULL);
      return;
  }
  if (value === null) {
    put(NULL);
    return;
  }
  if (Array.isArray(value)) {
    put(ARRAY);
    put(value.length);
    for (const item of value as unknown[]) putPlain(item);
    return;
  }
  putKeyed(value as Record<string, unknown>, putPlain);
}

/**
 * Remembered fingerprints, by identity. A `Map`, not a `WeakMap`: a `WeakMap` entry cost more than
 * the walk it saves (its ephemeron tables were a quarter of the search in a profile); the map is
 * emptied once it holds `REMEMBERED` entries, so it keeps at most that many objects alive.
 */
const prints = new Map<object, Fingerprint>();
const REMEMBERED = 1 << 15;

/** `stableFingerprint(part)`, remembered: for the parts a step shares with its input. */
function printOf(part: object): Fingerprint {
  let print = prints.get(part);
  if (print === undefined) {
    print = stableFingerprint(part);
    if (prints.size >= REMEMBERED) prints.clear();
    prints.set(part, print);
  }
  return print;
}

/**
 * The fingerprint of the words `write` writes for `part`, remembered like `printOf`: for a record a
 * step may share whole or copy with most of its parts shared (the VT-d state).
 */
function nodePrintOf<T extends object>(part: T, write: (part: T) => void): Fingerprint {
  let print = prints.get(part);
  if (print === undefined) {
    const start = used;
    write(part);
    startWords();
    for (let at = start; at < used; at++) putWord(words[at] ?? 0);
    print = finishWords();
    used = start;
    if (prints.size >= REMEMBERED) prints.clear();
    prints.set(part, print);
  }
  return print;
}

/**
 * The VT-d state (another model's type), with the parts a copy shares (`cloneIommuState`: the
 * capabilities, the context entries, each table page) as their prints.
 */
function putIommu(iommu: IommuState): void {
  putPrint(printOf(iommu.caps));
  putKeyed(iommu.domains, putPlain);
  putPrint(printOf(iommu.contexts));
  putKeyed(iommu.tables, putTablePage);
  putPlain(iommu.iotlb);
  putKeyed(iommu.flat, putPlain);
  putField(iommu.nextFlushSeq);
  putPlain(iommu.unsynced);
  putPlain(iommu.requests);
  putField(iommu.pasidCache);
  putField(iommu.contextCache);
  putField(iommu.unflushed);
}

function putTablePage(page: PageTablePage): void {
  putPrint(printOf(page));
}

/** The host memory (the memory model's type), its frames as their print. */
function putMemory(memory: HostMemory): void {
  putPrint(printOf(memory.frames));
  putPlain(memory.freeList);
  putField(memory.policy);
  putField(memory.randomSeed);
  putField(memory.allocCount);
}

/** The VMM process (the type1 model's type), its page table as its print. */
function putProcess(process: VmmProcess): void {
  putField(process.owner);
  putPrint(printOf(process.pages));
  putField(process.lockedVmPages);
  putField(process.memlockLimitPages);
  putField(process.capIpcLock);
  putField(process.addressSpaceLimitPages);
  putField(process.zeroMfn);
  putField(process.mm);
  putField(process.lastExecShiftPages);
}

function putArea(area: IoptArea): void {
  putField(area.iovaPage);
  putField(area.npages);
  putField(area.pagesId);
  putField(area.pageIndex);
  putField(area.read);
  putField(area.write);
  putField(area.numAccesses);
  putField(area.preventAccess);
}

function putIoas(ioas: IoasObject): void {
  put(ARRAY);
  put(ioas.areas.length);
  for (const area of ioas.areas) putArea(area);
  putPlain(ioas.allowed);
  putPlain(ioas.reserved);
  putPlain(ioas.domainHwptIds);
  putPlain(ioas.hwptIds);
  putPlain(ioas.accessIds);
  putField(ioas.disableLargePages);
}

function putHwptPaging(hwpt: HwptPagingObject): void {
  putField(hwpt.ioasId);
  putField(hwpt.iommu);
  putField(hwpt.autoDomain);
  putField(hwpt.nestParent);
  putField(hwpt.enforceCacheCoherency);
  putField(hwpt.pgsizeBitmap);
  putPlain(hwpt.aperture);
  putPrint(printOf(hwpt.translations));
}

function putAccess(access: AccessObject): void {
  putField(access.needsPinPages);
  putField(access.ioasId);
  putPlain(access.pins);
}

/** An object: its type first (which fields follow is the type's), then its fields. */
function putObject(object: IommufdObject): void {
  putField(object.type);
  putField(object.id);
  putField(object.users);
  switch (object.type) {
    case 'ioas':
      putIoas(object);
      return;
    case 'hwpt_paging':
      putHwptPaging(object);
      return;
    case 'hwpt_nested':
      putField(object.parentId);
      putField(object.iommu);
      putField(object.iotlb);
      return;
    case 'device':
      putField(object.deviceIndex);
      return;
    case 'access':
      putAccess(object);
      return;
    default:
      // Another type (no such object in the model): whole.
      putPlain(object);
  }
}

function putPages(pages: IoptPages): void {
  putField(pages.id);
  putField(pages.vaddrPage);
  putField(pages.npages);
  putField(pages.writable);
  putField(pages.accountMode);
  putField(pages.users);
  putKeyed(pages.pinned, putPlain);
  putKeyed(pages.accessUsers, putPlain);
}

function putGroup(group: IommufdGroup): void {
  putField(group.hwptId);
  putPlain(group.deviceIds);
}

function putIommufd(state: IommufdState): void {
  putMemory(state.memory);
  putProcess(state.process);
  putField(state.accountMode);
  putField(state.openedAsVfio);
  putField(state.userLockedVmPages);
  putField(state.pinnedVmPages);
  putKeyed(state.objects, putObject);
  putKeyed(state.pages, putPages);
  putField(state.nextPagesId);
  putField(state.vfioIoasId);
  putKeyed(state.groups, putGroup);
  putKeyed(state.boundDevices, putPlain);
}

/** The state's fingerprint (the scope's `fingerprint`). Call it only on states a step handed out. */
export function iommufdPtStateFingerprint(state: IommufdPtState): Fingerprint {
  used = 0;
  putIommufd(state.iommufd);
  // The VT-d state is shared whole by a step that changed no translation.
  putPrint(nodePrintOf(state.iommu, putIommu));
  putPlain(state.dids);
  putPlain(state.held);
  putPlain(state.otherFrames);
  startWords();
  for (let at = 0; at < used; at++) putWord(words[at] ?? 0);
  return finishWords();
}
