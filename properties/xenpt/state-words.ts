/**
 * The Xen passthrough scope's fingerprint written straight as words (`xenPtStateFingerprint`),
 * without building the renamed state (`canonicalXenPtState`) and walking it (issue 23: on
 * `xenpt/hvm-shared-pt` the two were 62% of the search at depth 4, the renamed copy a fifth of it).
 *
 * Partition. The words are a function of the scope's view (`canonicalXenPtState`, or the state
 * without the allocator's cursor when the scope does not rename) and decode back to it, so two
 * states share words exactly when they share the view (`test/xenpt/state-words.test.ts` holds the
 * two to it on the reachable states of every design's scope). Under renaming, a frame's name is
 * `fixedBelow + rank` for the frames from `fixedBelow` up to the frame count (ranked in the
 * canonical order of `symmetry.ts`, `visitCanonicalFrames`, then the unmet ones by number) and its
 * number otherwise: a bijection between this and the view's names (`c<rank>` labels, numbers),
 * since every frame in that range gets a label and every number outside it keeps its value.
 * Without renaming every name is the number. Records keyed by frame (IOMMU tables, page types, …)
 * are written in ascending order of the keys' names, IOTLB entries by context and then dfn name:
 * functions of the view's key sets, as the view's canonical key order is.
 *
 * Encoding. Positional: each record's fields in a fixed order, lists after their length, optional
 * fields and nulls as `ABSENT` (a word no integer is written as), unions after a tag. An integer of
 * 32 bits (other than the two reserved words) is its own word; any other number is `ESCAPE` and
 * its IEEE 754 bits (frame numbers, domids, counters are integers: a state's numbers are finite).
 * Strings of closed unions (life, p2m types, op kinds …) are small codes, any other string its
 * length and UTF-16 code units. Every word the decoder reads is thus determined by the words before
 * it: the encoding is prefix-free, and the hash's bound (`state-table.ts`) carries over.
 *
 * A field added to a record's type later fails to compile here (`Fields`, below) until it is
 * written; a field a step adds at run time that no type declares shows in the test's walk
 * (`xenPtRecordFields`), and one declared but not written in the test's perturbation of leaves.
 */
import type { HostMemory } from '../../models/memory/frames.js';
import type { PciDev } from '../../models/xen/pci.js';
import type {
  ActiveEntry,
  DomainLife,
  GrantCopyAccess,
  GrantCopyBuf,
  GrantCopyInFlight,
  GrantCopyRecord,
  GrantEntry,
  GrantIommuCount,
  GrantStatus,
  IommuPte,
  MaptrackEntry,
  P2mEntry,
  PageType,
  PageTypeInfo,
  PvL1e,
  TeardownStage,
  XenDomain,
  XenDomainIommu,
  XenState,
} from '../../models/xen/types.js';
import type { DmaTarget, IotlbEntry, TeardownStep, XenPtOp, XenPtState } from '../../models/xenpt/types.js';
import { finishWords, putWord, startWords } from '../../src/stable-fingerprint.js';
import type { Fingerprint } from '../../src/state-table.js';
import { visitCanonicalFrames } from './symmetry.js';

/** Every field of every variant of `T`. */
type AllKeys<T> = T extends unknown ? keyof T : never;

/**
 * `true` exactly when `List` names every field of `T`: a field added to the type breaks the build
 * here until it is listed, and listing it is the reminder to write it.
 */
type Fields<T, List extends readonly AllKeys<T>[]> = [Exclude<AllKeys<T>, List[number]>] extends [never] ? true : never;

/** The fields each record of the state has, by record: what the writer below writes of each. */
export const xenPtRecordFields = {
  state: ['xen', 'devices', 'iotlb', 'inflight'],
  xen: ['memory', 'domains', 'pageTypes', 'lastGrantCopy', 'frameContents'],
  memory: ['frames', 'freeList', 'policy', 'randomSeed', 'allocCount'],
  frame: ['mfn', 'owner', 'refcount'],
  domain: [
    'domid',
    'incarnation',
    'translated',
    'privileged',
    'life',
    'teardownNext',
    'totPages',
    'p2m',
    'grantTable',
    'active',
    'maptrack',
    'iommu',
    'grantVersion',
    'maxGrantVersion',
    'grantStatus',
    'sharedFrames',
    'statusFrames',
    'grantFrameGfns',
    'xenheapPages',
    'grantCopies',
    'grantIommuCounts',
  ],
  p2mEntry: ['type', 'mfn', 'handle', 'foreignDomid', 'foreignGfn', 'foreignIncarnation', 'status', 'idx'],
  grantEntry: ['permitAccess', 'readonly', 'reading', 'writing', 'domid', 'frame'],
  grantStatus: ['reading', 'writing'],
  active: ['hstw', 'hstr', 'devw', 'devr', 'domid', 'mfn'],
  maptrack: ['granterDomid', 'granterIncarnation', 'ref', 'host', 'device', 'readonly', 'mfn', 'hostAddr'],
  iommu: ['sharePt', 'table', 'flushPending'],
  iommuPte: ['mfn', 'read', 'write'],
  grantCopy: ['callerDomid', 'source', 'dest', 'sourceOffset', 'destOffset', 'len'],
  grantCopyBuf: ['domid', 'ref', 'gmfn', 'mfn', 'readonly', 'grantReadonly'],
  grantIommuCount: ['read', 'write'],
  pageType: ['type', 'count', 'validated', 'pinned'],
  pvL1e: ['mfn', 'rw'],
  lastGrantCopy: ['callerDomid', 'source', 'dest', 'accesses'],
  grantCopyAccess: ['mfn', 'write', 'owner'],
  device: ['sbdf', 'owner', 'quarantine', 'scratch', 'pseudoDomid'],
  iotlbEntry: ['target', 'read', 'write'],
  dmaTarget: ['kind', 'mfn', 'id'],
  op: [
    'kind',
    'device',
    'dfn',
    'write',
    'issuer',
    'domid',
    'idx',
    'gpfn',
    'heldMfn',
    'incarnation',
    'stages',
    'callerDomid',
  ],
} as const;

type Listed = typeof xenPtRecordFields;
// Each `true` compiles only while its list names every field of the type.
const listsComplete: readonly true[] = [
  true satisfies Fields<XenPtState, Listed['state']>,
  true satisfies Fields<XenState, Listed['xen']>,
  true satisfies Fields<HostMemory, Listed['memory']>,
  true satisfies Fields<HostMemory['frames'][number], Listed['frame']>,
  true satisfies Fields<XenDomain, Listed['domain']>,
  true satisfies Fields<P2mEntry, Listed['p2mEntry']>,
  true satisfies Fields<GrantEntry, Listed['grantEntry']>,
  true satisfies Fields<GrantStatus, Listed['grantStatus']>,
  true satisfies Fields<ActiveEntry, Listed['active']>,
  true satisfies Fields<MaptrackEntry, Listed['maptrack']>,
  true satisfies Fields<XenDomainIommu, Listed['iommu']>,
  true satisfies Fields<IommuPte, Listed['iommuPte']>,
  true satisfies Fields<GrantCopyInFlight, Listed['grantCopy']>,
  true satisfies Fields<GrantCopyBuf, Listed['grantCopyBuf']>,
  true satisfies Fields<GrantIommuCount, Listed['grantIommuCount']>,
  true satisfies Fields<PageTypeInfo, Listed['pageType']>,
  true satisfies Fields<PvL1e, Listed['pvL1e']>,
  true satisfies Fields<GrantCopyRecord, Listed['lastGrantCopy']>,
  true satisfies Fields<GrantCopyAccess, Listed['grantCopyAccess']>,
  true satisfies Fields<PciDev, Listed['device']>,
  true satisfies Fields<IotlbEntry, Listed['iotlbEntry']>,
  true satisfies Fields<DmaTarget, Listed['dmaTarget']>,
  true satisfies Fields<XenPtOp, Listed['op']>,
];
void listsComplete;

/** A null or absent field (no integer is written as this word). */
const ABSENT = -0x7fffffff;
/** Before the two words of a number that is not a 32-bit integer, or is one of the reserved words. */
const ESCAPE = -0x80000000;

const float = new Float64Array(1);
const floatWords = new Int32Array(float.buffer);

function int(value: number): void {
  if ((value | 0) === value && value > ABSENT) {
    putWord(value);
    return;
  }
  float[0] = value;
  putWord(ESCAPE);
  putWord(floatWords[0] ?? 0);
  putWord(floatWords[1] ?? 0);
}

function intOrNull(value: number | null | undefined): void {
  if (value === null || value === undefined) putWord(ABSENT);
  else int(value);
}

function flag(value: boolean): number {
  return value ? 1 : 0;
}

function text(value: string): void {
  putWord(value.length);
  for (let at = 0; at < value.length; at++) putWord(value.charCodeAt(at));
}

/** The strings of a closed union as codes; a string outside it (none in a model's state) as -1 and its text. */
function codes<T extends string>(values: Readonly<Record<T, number>>): (value: T) => void {
  const table = new Map<string, number>(Object.entries(values) as [string, number][]);
  return (value) => {
    const code = table.get(value);
    if (code !== undefined) putWord(code);
    else {
      putWord(-1);
      text(value);
    }
  };
}

const life = codes<DomainLife>({ running: 0, dying: 1, dead: 2 });
const teardownStage = codes<TeardownStage>({ 'release-mappings': 0, 'relinquish-memory': 1 });
const teardownStep = codes<TeardownStep>({ 'release-devices': 0, 'relinquish-memory': 1 });
const pageType = codes<PageType>({ none: 0, writable: 1, l1: 2, l2: 3, l3: 4, l4: 5, seg_desc: 6 });
const policy = codes<HostMemory['policy']>({ lifo: 0, fifo: 1, random: 2 });

/**
 * The frames' names of the state being written: `names[mfn]` for `fixedBelow <= mfn < frameCount`
 * (see the header); reused from state to state (one fingerprint at a time).
 */
let names = new Int32Array(64);
let fixedBelow = 0;
let frameCount = 0;

function nameOf(mfn: number): number {
  return (mfn | 0) === mfn && mfn >= fixedBelow && mfn < frameCount ? (names[mfn] ?? mfn) : mfn;
}

function frame(mfn: number): void {
  int(nameOf(mfn));
}

function frameOrNull(mfn: number | null | undefined): void {
  if (mfn === null || mfn === undefined) putWord(ABSENT);
  else int(nameOf(mfn));
}

function frames(mfns: readonly number[]): void {
  putWord(mfns.length);
  for (const mfn of mfns) frame(mfn);
}

/** Names the frames (see the header): by canonical rank under renaming, else by number. */
function nameFrames(state: XenPtState, renameFrom: number | null): void {
  frameCount = state.xen.memory.frames.length;
  if (renameFrom === null) {
    fixedBelow = frameCount;
    return;
  }
  fixedBelow = renameFrom;
  if (names.length < frameCount) names = new Int32Array(frameCount * 2);
  for (let mfn = fixedBelow; mfn < frameCount; mfn++) names[mfn] = -1;
  let next = fixedBelow;
  visitCanonicalFrames(state, (mfn) => {
    if (mfn === null || mfn === undefined || (mfn | 0) !== mfn || mfn < fixedBelow || mfn >= frameCount) return;
    if ((names[mfn] ?? 0) < 0) names[mfn] = next++;
  });
  for (let mfn = fixedBelow; mfn < frameCount; mfn++) if ((names[mfn] ?? 0) < 0) names[mfn] = next++;
}

// The entries of the record `byFrame` is writing (never two at once: no item holds such a record).
const keyedNames: number[] = [];
const keyedItems: unknown[] = [];

/** A record keyed by frame number: its entries in ascending order of the keys' names. */
function byFrame<V>(record: Readonly<Record<string, V>> | undefined, value: (item: V) => void): void {
  if (record === undefined) {
    putWord(ABSENT);
    return;
  }
  keyedNames.length = 0;
  keyedItems.length = 0;
  for (const key in record) {
    const item = record[key];
    if (item === undefined) continue;
    // Insertion in order of names: a record keyed by frame holds a few entries.
    const name = nameOf(Number(key));
    let at = keyedNames.length;
    keyedNames.push(name);
    keyedItems.push(item);
    while (at > 0 && (keyedNames[at - 1] ?? 0) > name) {
      keyedNames[at] = keyedNames[at - 1] ?? 0;
      keyedItems[at] = keyedItems[at - 1];
      at -= 1;
    }
    keyedNames[at] = name;
    keyedItems[at] = item;
  }
  const count = keyedNames.length;
  putWord(count);
  for (let index = 0; index < count; index++) {
    int(keyedNames[index] ?? 0);
    value(keyedItems[index] as V);
  }
}

function p2mEntry(entry: P2mEntry): void {
  switch (entry.type) {
    case 'ram_rw':
      putWord(0);
      frame(entry.mfn);
      return;
    case 'grant_map_rw':
    case 'grant_map_ro':
      putWord(entry.type === 'grant_map_rw' ? 1 : 2);
      frame(entry.mfn);
      int(entry.handle);
      return;
    case 'map_foreign':
      putWord(3);
      frame(entry.mfn);
      int(entry.foreignDomid);
      int(entry.foreignGfn);
      int(entry.foreignIncarnation);
      return;
    case 'grant_table':
      putWord(4);
      frame(entry.mfn);
      putWord(flag(entry.status));
      int(entry.idx);
      return;
    default: {
      const unknown: never = entry;
      throw new Error(`no words for the p2m entry ${JSON.stringify(unknown)}`);
    }
  }
}

/** A grant entry; a blank one (no flags, domid 0, frame named 0) as one word. */
function grantEntry(entry: GrantEntry): void {
  const flags =
    flag(entry.permitAccess) | (flag(entry.readonly) << 1) | (flag(entry.reading) << 2) | (flag(entry.writing) << 3);
  const name = nameOf(entry.frame);
  if (flags === 0 && entry.domid === 0 && name === 0) {
    putWord(16);
    return;
  }
  putWord(flags);
  int(entry.domid);
  int(name);
}

/** An active entry; an idle one (no pins, domid 0, no frame) as one word. */
function activeEntry(entry: ActiveEntry): void {
  if (
    entry.hstw === 0 &&
    entry.hstr === 0 &&
    entry.devw === 0 &&
    entry.devr === 0 &&
    entry.domid === 0 &&
    entry.mfn === null
  ) {
    putWord(0);
    return;
  }
  putWord(1);
  int(entry.hstw);
  int(entry.hstr);
  int(entry.devw);
  int(entry.devr);
  int(entry.domid);
  frameOrNull(entry.mfn);
}

function mapping(entry: MaptrackEntry | null): void {
  if (entry === null) {
    putWord(ABSENT);
    return;
  }
  int(entry.granterDomid);
  int(entry.granterIncarnation);
  int(entry.ref);
  putWord(flag(entry.host) | (flag(entry.device) << 1) | (flag(entry.readonly) << 2));
  frame(entry.mfn);
  intOrNull(entry.hostAddr);
}

function copyBuf(buf: GrantCopyBuf): void {
  int(buf.domid);
  intOrNull(buf.ref);
  frameOrNull(buf.gmfn);
  frame(buf.mfn);
  putWord(flag(buf.readonly) | (buf.grantReadonly === undefined ? 2 : flag(buf.grantReadonly) << 2));
}

function iommuPte(pte: IommuPte): void {
  frame(pte.mfn);
  putWord(flag(pte.read) | (flag(pte.write) << 1));
}

function grantIommuCount(count: GrantIommuCount): void {
  int(count.read);
  int(count.write);
}

function domain(entry: XenDomain): void {
  int(entry.domid);
  int(entry.incarnation);
  putWord(flag(entry.translated) | (flag(entry.privileged) << 1));
  life(entry.life);
  if (entry.teardownNext === undefined) putWord(ABSENT);
  else teardownStage(entry.teardownNext);
  int(entry.totPages);
  // for-in: a p2m's keys are decimal gfns, given in ascending order (`visitCanonicalFrames`).
  const p2m = entry.p2m;
  for (const gfn in p2m) {
    const item = p2m[gfn];
    if (item === undefined) continue;
    int(Number(gfn));
    p2mEntry(item);
  }
  putWord(ABSENT);
  putWord(entry.grantTable.length);
  for (const grant of entry.grantTable) grantEntry(grant);
  putWord(entry.active.length);
  for (const active of entry.active) activeEntry(active);
  putWord(entry.maptrack.length);
  for (const item of entry.maptrack) mapping(item);
  const iommu = entry.iommu;
  if (iommu === undefined) putWord(ABSENT);
  else {
    putWord(flag(iommu.sharePt));
    byFrame(iommu.table, iommuPte);
    frames(iommu.flushPending);
  }
  intOrNull(entry.grantVersion);
  intOrNull(entry.maxGrantVersion);
  const status = entry.grantStatus;
  if (status === undefined) putWord(ABSENT);
  else {
    putWord(status.length);
    for (const word of status) putWord(flag(word.reading) | (flag(word.writing) << 1));
  }
  if (entry.sharedFrames === undefined) putWord(ABSENT);
  else frames(entry.sharedFrames);
  if (entry.statusFrames === undefined) putWord(ABSENT);
  else frames(entry.statusFrames);
  byFrame(entry.grantFrameGfns, int);
  intOrNull(entry.xenheapPages);
  const copies = entry.grantCopies;
  if (copies === undefined) putWord(ABSENT);
  else {
    putWord(copies.length);
    for (const copy of copies) {
      int(copy.callerDomid);
      copyBuf(copy.source);
      copyBuf(copy.dest);
      int(copy.sourceOffset);
      int(copy.destOffset);
      int(copy.len);
    }
  }
  byFrame(entry.grantIommuCounts, grantIommuCount);
}

/** The index of the frame of each name (`memory`), reused from state to state. */
let byName = new Int32Array(64);

/** Host memory: under renaming, frames in the order of their names and the allocator's policy. */
function memory(host: HostMemory, renaming: boolean): void {
  const all = host.frames;
  putWord(all.length);
  if (!renaming) {
    // The view keeps the frames and the free list only.
    for (const item of all) {
      int(item.mfn);
      intOrNull(item.owner);
      int(item.refcount);
    }
    frames(host.freeList);
    return;
  }
  // Frames are indexed by mfn: their names are then a permutation of their indices, and the frame
  // named n is the one at the index whose name is n; else (never in a model's state) sorted.
  if (byName.length < all.length) byName = new Int32Array(all.length * 2);
  byName.fill(-1, 0, all.length);
  let permutation = true;
  for (let index = 0; index < all.length && permutation; index++) {
    const name = nameOf(all[index]?.mfn ?? -1);
    if ((name | 0) !== name || name < 0 || name >= all.length || byName[name] !== -1) permutation = false;
    else byName[name] = index;
  }
  const order = permutation
    ? byName.subarray(0, all.length)
    : all.map((_, index) => index).sort((left, right) => nameOf(all[left]?.mfn ?? 0) - nameOf(all[right]?.mfn ?? 0));
  for (let at = 0; at < order.length; at++) {
    const item = all[order[at] ?? 0];
    if (item === undefined) continue;
    frame(item.mfn);
    intOrNull(item.owner);
    int(item.refcount);
  }
  frames(host.freeList);
  policy(host.policy);
  text(host.randomSeed);
  // The counter only under the policy that reads it (`renameXenPtFrames`).
  if (host.policy === 'random') int(host.allocCount);
}

function pvL1e(slot: PvL1e | null): void {
  if (slot === null) {
    putWord(ABSENT);
    return;
  }
  frame(slot.mfn);
  putWord(flag(slot.rw));
}

function lastGrantCopy(record: GrantCopyRecord | undefined): void {
  if (record === undefined) {
    putWord(ABSENT);
    return;
  }
  int(record.callerDomid);
  copyBuf(record.source);
  copyBuf(record.dest);
  putWord(record.accesses.length);
  for (const access of record.accesses) {
    frame(access.mfn);
    putWord(flag(access.write));
    intOrNull(access.owner);
  }
}

function device(entry: PciDev): void {
  int(entry.sbdf);
  int(entry.owner);
  putWord(flag(entry.quarantine));
  intOrNull(entry.scratch);
  intOrNull(entry.pseudoDomid);
}

function target(entry: DmaTarget): void {
  if (entry.kind === 'frame') {
    putWord(0);
    frame(entry.mfn);
  } else {
    putWord(1);
    int(entry.id);
  }
}

/** IOTLB entries by context, then by the name of their dfn (keys `${context}/${dfn}`). */
function iotlb(record: XenPtState['iotlb']): void {
  const contexts: string[] = [];
  const dfns: number[] = [];
  const entries: IotlbEntry[] = [];
  for (const key in record) {
    const entry = record[key];
    if (entry === undefined) continue;
    const slash = key.lastIndexOf('/');
    contexts.push(key.slice(0, slash));
    dfns.push(nameOf(Number(key.slice(slash + 1))));
    entries.push(entry);
  }
  const order = contexts.map((_, index) => index);
  if (order.length > 1)
    order.sort((left, right) => {
      const a = contexts[left] ?? '';
      const b = contexts[right] ?? '';
      return a < b ? -1 : a > b ? 1 : (dfns[left] ?? 0) - (dfns[right] ?? 0);
    });
  putWord(order.length);
  for (const index of order) {
    const entry = entries[index] as IotlbEntry;
    text(contexts[index] ?? '');
    int(dfns[index] ?? 0);
    target(entry.target);
    putWord(flag(entry.read) | (flag(entry.write) << 1));
  }
}

function op(entry: XenPtOp): void {
  switch (entry.kind) {
    case 'dma':
      putWord(0);
      int(entry.device);
      frame(entry.dfn);
      putWord(flag(entry.write));
      int(entry.issuer);
      return;
    case 'moveGfn':
      putWord(1);
      int(entry.domid);
      int(entry.idx);
      int(entry.gpfn);
      frameOrNull(entry.heldMfn);
      return;
    case 'destroyDomain':
      putWord(2);
      int(entry.domid);
      int(entry.incarnation);
      putWord(entry.stages.length);
      for (const stage of entry.stages) teardownStep(stage);
      return;
    case 'grantCopy':
      putWord(3);
      int(entry.callerDomid);
      int(entry.incarnation);
      return;
    default: {
      const unknown: never = entry;
      throw new Error(`no words for the operation ${JSON.stringify(unknown)}`);
    }
  }
}

/**
 * The fingerprint of the scope's view of `state` (see the header): with `renameFrom` a number, of
 * `canonicalXenPtState(state, renameFrom)`; with null, of the state without the allocator's
 * policy, seed and counter (the scope's view with the `pv-memory` or `grants` part).
 */
export function xenPtStateFingerprint(state: XenPtState, renameFrom: number | null): Fingerprint {
  nameFrames(state, renameFrom);
  startWords();
  const xen = state.xen;
  memory(xen.memory, renameFrom !== null);
  putWord(xen.domains.length);
  for (const entry of xen.domains) domain(entry);
  byFrame(xen.pageTypes, (info) => {
    pageType(info.type);
    int(info.count);
    putWord(flag(info.validated) | (flag(info.pinned) << 1));
  });
  byFrame(xen.frameContents, (slots) => {
    putWord(slots.length);
    for (const slot of slots) pvL1e(slot);
  });
  lastGrantCopy(xen.lastGrantCopy);
  putWord(state.devices.length);
  for (const entry of state.devices) device(entry);
  iotlb(state.iotlb);
  putWord(state.inflight.length);
  for (const entry of state.inflight) op(entry);
  return finishWords();
}
