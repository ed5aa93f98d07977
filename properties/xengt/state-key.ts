/**
 * The XenGT scope's canonical key (`xenGtStateKey`) and its fingerprint (`xenGtStateFingerprint`):
 * one walk of the state (`writeKey`) written either as text or as 32-bit words that are hashed
 * without building the text (issue 23: the anchor's profile put 10% of the search in building the
 * key string and 6% in hashing it).
 *
 * The walk writes characters (record codes and separators) and integers. The text writes each
 * integer in decimal; the words write a character as its code with bit 30 set, and an integer in
 * [0, 2³⁰) as itself (any other number as a marker and its decimal digits, bracketed). So the words
 * give back the text, one word at a time: states with equal words have equal keys, and the key is
 * injective on canonical states (every record delimited, see `xenGtStateKey`), so the
 * fingerprint and the key partition states alike (`test/explore/symmetry.test.ts` holds them to
 * it), and the explorer's counts do not depend on which one it uses.
 */
import type { GuestQword, GvtVgpu, ShadowPte } from '../../models/gvt/types.js';
import type { XenBackendCall, XenGtBackend, XenGtBackendName } from '../../models/xengt/backend.js';
import type { XenGtOp } from '../../models/xengt/inflight.js';
import type { XenGtState } from '../../models/xengt/types.js';
import { finishWords, putWord, startWords } from '../../src/stable-fingerprint.js';
import type { Fingerprint } from '../../src/state-table.js';

/** Where the walk writes: characters and integers. */
interface KeySink {
  text(chars: string): void;
  int(value: number): void;
}

/** The key as text. */
class TextSink implements KeySink {
  out = '';
  text(chars: string): void {
    this.out += chars;
  }
  int(value: number): void {
    this.out += String(value);
  }
}

/** A character's word: its UTF-16 code with bit 30 set (an integer's word is below it). */
const CHARACTER = 0x40000000;
/** Brackets the decimal digits of a number outside [0, 2³⁰). */
const OTHER_NUMBER = 0x7fffffff;

/** The key as words (`startWords` before the walk, `finishWords` after). */
class WordSink implements KeySink {
  text(chars: string): void {
    for (let at = 0; at < chars.length; at++) putWord(CHARACTER | chars.charCodeAt(at));
  }
  int(value: number): void {
    if (value >= 0 && value < CHARACTER && (value | 0) === value) {
      putWord(value);
      return;
    }
    putWord(OTHER_NUMBER);
    this.text(String(value));
    putWord(OTHER_NUMBER);
  }
}

const textSink = new TextSink();
const wordSink = new WordSink();

type Rename = (mfn: number) => number;

/** A backend's DMA addresses are mfns (the lookup backend's), renamed with the frames. */
export function addressedByMachine(backend: XenGtBackendName | XenGtBackend): boolean {
  return typeof backend === 'string' ? backend === 'lookup' : backend.addressing === 'machine';
}

/** A backend call with the frame it names renamed (the calls by gfn name none). */
export function renameCall(call: XenBackendCall, rename: Rename): XenBackendCall {
  return call.kind === 'map_mfn' || call.kind === 'get_page' || call.kind === 'put_page'
    ? { ...call, mfn: rename(call.mfn) }
    : call;
}

const bit = (flag: boolean): string => (flag ? '1' : '0');

/** A flag, 0 or 1 (as integers: the text is the same, and a hot record's words build no string). */
function writeFlag(sink: KeySink, flag: boolean): void {
  sink.int(flag ? 1 : 0);
}

function writeAddress(sink: KeySink, value: number | null): void {
  if (value === null) sink.text('-');
  else sink.int(value);
}

/** A backend call's fields in order, `:`-separated. */
function writeCall(sink: KeySink, call: XenBackendCall, rename: Rename): void {
  let first = true;
  for (const value of Object.values(renameCall(call, rename))) {
    if (!first) sink.text(':');
    first = false;
    if (typeof value === 'number') sink.int(value);
    else sink.text(String(value));
  }
}

/** An operation in flight, renaming as `xenGtCanonicalState` does. */
function writeOp(sink: KeySink, op: XenGtOp, rename: Rename, renameAddr: Rename): void {
  if (op.kind === 'gpuDma') {
    const { dma } = op;
    sink.text(';D');
    sink.int(dma.entry);
    sink.text(`,${bit(dma.write)},${dma.outcome[0] ?? ''},`);
    writeAddress(sink, dma.dmaAddr === null ? null : renameAddr(dma.dmaAddr));
    sink.text(',');
    writeAddress(sink, dma.mfn === null ? null : rename(dma.mfn));
    return;
  }
  if (op.kind === 'unmapGrantRef') {
    const p = op.pending;
    sink.text(';U');
    sink.int(p.mapperDomid);
    sink.text(',');
    sink.int(p.handle);
    sink.text(',');
    sink.int(p.granterDomid);
    sink.text(',');
    sink.int(p.ref);
    sink.text(',');
    sink.int(rename(p.mfn));
    sink.text(`,${bit(p.readonly)}${bit(p.host)}${bit(p.device)}${bit(p.putFirst === true)}`);
    return;
  }
  if (op.kind === 'decreaseReservation') {
    const p = op.pending;
    sink.text(';B');
    sink.int(p.domid);
    sink.text(',');
    sink.int(p.gfn);
    sink.text(',');
    sink.int(rename(p.mfn));
    sink.text(`,${bit(p.putFirst === true)}`);
    return;
  }
  if (op.kind === 'destroyDomain') {
    sink.text(';K');
    sink.int(op.pending.domid);
    return;
  }
  if (op.kind === 'mapGrantRef') {
    const p = op.pending;
    sink.text(';M');
    sink.int(p.mapperDomid);
    sink.text(',');
    sink.int(p.granterDomid);
    sink.text('.');
    sink.int(p.granterIncarnation);
    sink.text(',');
    sink.int(p.ref);
    sink.text(',');
    sink.int(p.handle);
    sink.text(`,${bit(p.host)}${bit(p.device)}${bit(p.readonly)},`);
    writeAddress(sink, p.hostAddr ?? null);
    sink.text(',');
    sink.int(rename(p.mfn));
    sink.text(`,${bit(p.pageRef)},`);
    sink.int(p.pinsBefore.hstw);
    sink.text('.');
    sink.int(p.pinsBefore.hstr);
    sink.text('.');
    sink.int(p.pinsBefore.devw);
    sink.text('.');
    sink.int(p.pinsBefore.devr);
    return;
  }
  const { pending } = op;
  const { mapped } = pending;
  sink.text(';W');
  sink.int(op.vcpu);
  sink.text(',');
  sink.int(pending.index);
  sink.text(`,${bit(pending.written.present)}`);
  sink.int(pending.written.gfn);
  sink.text(`,${bit(pending.partialUpdate)}${bit(pending.translate)}${bit(pending.releasedOld === true)},`);
  if (mapped === null) sink.text('-');
  else if (mapped.ok) {
    sink.text('m');
    sink.int(renameAddr(mapped.dmaAddr));
  } else sink.text(`e${mapped.errno}`);
  sink.text(',');
  let first = true;
  for (const call of op.handOver ?? []) {
    if (!first) sink.text('+');
    first = false;
    writeCall(sink, call, rename);
  }
}

const lifeCode = { running: 'r', dying: 'z', dead: 'x' } as const;

function writeQword(sink: KeySink, qword: GuestQword): void {
  if (qword.kind === 'pte') {
    sink.text(qword.present ? 'P' : 'p');
    sink.int(qword.gfn);
  } else {
    sink.text(qword.op[0] ?? '');
    sink.int(qword.ggttIndex);
  }
}

function writeQwords(sink: KeySink, qwords: readonly GuestQword[]): void {
  for (let index = 0; index < qwords.length; index++) {
    if (index > 0) sink.text(',');
    const qword = qwords[index];
    if (qword !== undefined) writeQword(sink, qword);
  }
}

function writePte(sink: KeySink, pte: ShadowPte, renameAddr: Rename): void {
  switch (pte.kind) {
    case 'scratch':
      sink.text('s');
      return;
    case 'dma':
      sink.text('d');
      sink.int(renameAddr(pte.dmaAddr));
      return;
    case 'table':
      sink.text('t');
      sink.int(pte.gfn);
      return;
    case 'split2m':
      sink.text('S');
      sink.int(pte.baseGfn);
      sink.text('(');
      writePtes(sink, pte.entries, renameAddr);
      sink.text(')');
      return;
  }
}

function writePtes(sink: KeySink, ptes: readonly ShadowPte[], renameAddr: Rename): void {
  for (let index = 0; index < ptes.length; index++) {
    if (index > 0) sink.text(',');
    const pte = ptes[index];
    if (pte !== undefined) writePte(sink, pte, renameAddr);
  }
}

function writeInts(sink: KeySink, values: readonly number[]): void {
  for (let index = 0; index < values.length; index++) {
    if (index > 0) sink.text(',');
    sink.int(values[index] ?? 0);
  }
}

/** The vGPU's part of the key, renaming DMA addresses in the order `xenGtCanonicalState` does. */
function writeVgpu(sink: KeySink, vgpu: GvtVgpu, renameAddr: Rename): void {
  sink.text('V|t');
  for (const entry of vgpu.ggttGuest) {
    sink.text(';');
    writeFlag(sink, entry.present);
    sink.text(',');
    sink.int(entry.gfn);
  }
  sink.text('|h');
  for (const pte of vgpu.ggttHost) {
    sink.text(';');
    writePte(sink, pte, renameAddr);
  }
  sink.text('|q');
  for (const [index, offset] of Object.entries(vgpu.ggttPartial)) {
    sink.text(`;${index}:`);
    sink.int(offset);
  }
  sink.text('|M');
  for (const mm of vgpu.mms) {
    sink.text(';');
    sink.int(mm.rootGfn);
    sink.text(',');
    sink.int(mm.refcount);
  }
  sink.text('|S');
  for (const spt of Object.values(vgpu.spts)) {
    sink.text(';');
    sink.int(spt.gfn);
    sink.text(`,${spt.level},`);
    sink.int(spt.refcount);
    sink.text(':');
    writePtes(sink, spt.entries, renameAddr);
    sink.text(':');
    writeInts(sink, spt.postShadow);
  }
  sink.text('|T');
  writeInts(sink, vgpu.tracked);
  sink.text('|C');
  for (const entry of Object.values(vgpu.cache)) {
    sink.text(';');
    sink.int(entry.gfn);
    sink.text(',');
    sink.int(renameAddr(entry.dmaAddr));
    sink.text(',');
    sink.int(entry.kref);
  }
  sink.text('|w');
  for (const workload of vgpu.workloads) {
    sink.text(';');
    sink.int(workload.batchGfn);
    sink.text(':');
    if (workload.shadowCopy === null) sink.text('-');
    else writeQwords(sink, workload.shadowCopy);
  }
  sink.text('|');
  writeFlag(sink, vgpu.failsafe);
}

/** The walk: the key's records in order (see `xenGtStateKey`). */
function writeKey(
  sink: KeySink,
  state: XenGtState,
  backend: XenGtBackendName | XenGtBackend,
  renameFrames: boolean,
): void {
  const machine = addressedByMachine(backend);
  const frameCount = state.xen.memory.frames.length;
  // Each frame's new name (-1: not met yet), and the frames in the order named; a number that is
  // no frame (none in the built-in worlds) is named the same way through `others`.
  const names = new Int32Array(frameCount).fill(-1);
  const order: number[] = [];
  const others = new Map<number, number>();
  const rename = (mfn: number): number => {
    const inRange = mfn >= 0 && mfn < frameCount && (mfn | 0) === mfn;
    let name = inRange ? (names[mfn] ?? -1) : (others.get(mfn) ?? -1);
    if (name < 0) {
      name = order.length;
      if (inRange) names[mfn] = name;
      else others.set(mfn, name);
      order.push(mfn);
    }
    return name;
  };
  // Without renaming every frame keeps its number: named in mfn order before anything else.
  if (!renameFrames) for (const frame of state.xen.memory.frames) rename(frame.mfn);
  for (const domain of state.xen.domains) {
    const resumes = domain.teardownNext === undefined ? '' : domain.teardownNext === 'release-mappings' ? 'R' : 'M';
    sink.text('D');
    sink.int(domain.domid);
    sink.text('.');
    sink.int(domain.incarnation);
    sink.text(',');
    writeFlag(sink, domain.translated);
    writeFlag(sink, domain.privileged);
    sink.text(lifeCode[domain.life]);
    sink.text(resumes);
    sink.text(',');
    sink.int(domain.totPages);
    sink.text('|p');
    // for-in, not Object.entries: the same ascending order of integer keys without an array of
    // pairs per domain (Object.entries was most of the key's time on the anchor).
    const p2m = domain.p2m;
    for (const gfn in p2m) {
      const entry = p2m[gfn];
      if (entry === undefined || !Object.hasOwn(p2m, gfn)) continue;
      sink.text(';');
      sink.text(gfn);
      sink.text(':');
      switch (entry.type) {
        case 'ram_rw':
          sink.text('r');
          sink.int(rename(entry.mfn));
          break;
        case 'grant_map_rw':
        case 'grant_map_ro':
          sink.text(entry.type === 'grant_map_rw' ? 'gw' : 'gr');
          sink.int(rename(entry.mfn));
          sink.text(',');
          sink.int(entry.handle);
          break;
        case 'map_foreign':
          sink.text('f');
          sink.int(rename(entry.mfn));
          sink.text(',');
          sink.int(entry.foreignDomid);
          sink.text('.');
          sink.int(entry.foreignIncarnation);
          sink.text(',');
          sink.int(entry.foreignGfn);
          break;
        case 'grant_table':
          // A XenGT world has no grant-table frames in a p2m (grant v2 is the Xen passthrough stack's).
          sink.text('t');
          sink.int(rename(entry.mfn));
          sink.text(`,${bit(entry.status)}`);
          sink.int(entry.idx);
          break;
      }
    }
    sink.text('|m');
    // A free handle, an idle active entry and a blank grant entry are written as nothing at all
    // (every other record is non-empty), which keeps keys short.
    for (const mapping of domain.maptrack) {
      sink.text(';');
      if (mapping === null) continue;
      sink.int(mapping.granterDomid);
      sink.text('.');
      sink.int(mapping.granterIncarnation);
      sink.text(',');
      sink.int(mapping.ref);
      sink.text(',');
      writeFlag(sink, mapping.host);
      writeFlag(sink, mapping.device);
      writeFlag(sink, mapping.readonly);
      sink.text(',');
      sink.int(rename(mapping.mfn));
      sink.text(',');
      writeAddress(sink, mapping.hostAddr);
    }
    sink.text('|a');
    for (const act of domain.active) {
      sink.text(';');
      const idle =
        act.hstw === 0 && act.hstr === 0 && act.devw === 0 && act.devr === 0 && act.domid === 0 && act.mfn === null;
      if (idle) continue;
      sink.int(act.hstw);
      sink.text(',');
      sink.int(act.hstr);
      sink.text(',');
      sink.int(act.devw);
      sink.text(',');
      sink.int(act.devr);
      sink.text(',');
      sink.int(act.domid);
      sink.text(',');
      writeAddress(sink, act.mfn === null ? null : rename(act.mfn));
    }
    sink.text('|g');
    for (const entry of domain.grantTable) {
      sink.text(';');
      const blank =
        !entry.permitAccess &&
        !entry.readonly &&
        !entry.reading &&
        !entry.writing &&
        entry.domid === 0 &&
        entry.frame === 0;
      if (blank) continue;
      writeFlag(sink, entry.permitAccess);
      writeFlag(sink, entry.readonly);
      writeFlag(sink, entry.reading);
      writeFlag(sink, entry.writing);
      sink.text(',');
      sink.int(entry.domid);
      sink.text(',');
      sink.int(entry.frame);
    }
    sink.text('|');
  }
  const vgpu = state.vgpu;
  const renameAddr = machine ? rename : (dmaAddr: number): number => dmaAddr;
  if (vgpu === null) sink.text('V-');
  else writeVgpu(sink, vgpu, renameAddr);
  // The hardware's GGTT kept past a destroyed vGPU, and the fault armed.
  const released = state.releasedGgtt;
  if (released === null) sink.text('|H-');
  else {
    sink.text('|H');
    writePtes(sink, released, renameAddr);
  }
  if (state.fault === null) sink.text('|X-');
  else {
    sink.text(`|X${state.fault.point},`);
    sink.int(state.fault.nth);
  }
  // The operations in flight, oldest first (their order is what an advance names).
  sink.text('|I');
  for (const op of state.inflight) writeOp(sink, op, rename, renameAddr);
  sink.text('|G');
  for (const [gfn, page] of Object.entries(state.guestPages)) {
    sink.text(`;${gfn}:`);
    writeQwords(sink, page);
  }
  sink.text('|W');
  writeInts(sink, state.writeProtected);
  const memory = state.xen.memory;
  sink.text(`|F${memory.policy}`);
  for (const mfn of memory.freeList) {
    sink.text(';');
    sink.int(rename(mfn));
  }
  for (const frame of memory.frames) rename(frame.mfn);
  sink.text('|f');
  // Frames in the order of their new names.
  for (const mfn of order) {
    const frame = memory.frames[mfn];
    sink.text(';');
    if (frame === undefined) {
      sink.text('?');
      continue;
    }
    if (frame.owner === null) sink.text('-');
    else sink.int(frame.owner);
    sink.text(',');
    sink.int(frame.refcount);
  }
  if (memory.policy === 'random') {
    sink.text('|R');
    sink.text(memory.randomSeed);
    sink.text(',');
    sink.int(memory.allocCount);
  }
}

/**
 * The canonical key: the same information as `stableJson(xenGtCanonicalState(state))` in a compact
 * positional encoding (every record delimited, so the encoding is injective), because it is
 * computed once per transition. A test holds the two keys to the same partition of states.
 * `renameFrames` (default true): frames renamed in order of first appearance.
 */
export function xenGtStateKey(
  state: XenGtState,
  backend: XenGtBackendName | XenGtBackend,
  options: { readonly renameFrames?: boolean } = {},
): string {
  textSink.out = '';
  writeKey(textSink, state, backend, options.renameFrames !== false);
  const key = textSink.out;
  textSink.out = '';
  return key;
}

/** The fingerprint of `xenGtStateKey`'s partition, from the same walk written as words (see the header). */
export function xenGtStateFingerprint(
  state: XenGtState,
  backend: XenGtBackendName | XenGtBackend,
  options: { readonly renameFrames?: boolean } = {},
): Fingerprint {
  startWords();
  writeKey(wordSink, state, backend, options.renameFrames !== false);
  return finishWords();
}
