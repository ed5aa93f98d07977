/**
 * The primitives of the compact state fingerprints that explore scopes write themselves (issue 23:
 * the generic walk, `src/stable-fingerprint.ts`, pays per field for the key's words, a shape
 * lookup and a tag; a scope that knows its state's types writes only the values, in a fixed order).
 * Used by `../vfio/state-words.ts` (VFIO's part of a state), `../passthrough/state-words.ts` and
 * `../kvmgt/state-words.ts`; XenGT's key (`../xengt/state-key.ts`) is the older pattern.
 *
 * Words are positional: the writer of a record type writes its fields in a fixed order, so what a
 * word means is decided by the words before it, and the stream is injective when every value of
 * variable size is delimited:
 * - an integer in the 32-bit range is one word, except the two sentinels below, which (with every
 *   other number) are written as `ESCAPE` and the two words of the IEEE 754 double (0 and -0 alike,
 *   as JSON has them);
 * - a nullable number is `NIL` or the number; a flag is 0 or 1; a text is its length and one word
 *   per UTF-16 code unit; a list is its length and its items;
 * - a record keyed by decimal strings (`putRecord`) is, per key whose value is not undefined, the
 *   key (as a number when it is an array index below 2³⁰, else `ESCAPE` and its text) and the value,
 *   then `NIL` (no key is written as `NIL`): array indices ascending, then the other keys sorted, a
 *   canonical order of the key set;
 * - an optional field is `NIL` when absent (undefined) and the value's words otherwise, where no
 *   value starts with `NIL` (flags and texts do not; nullable values are not optional here);
 * - a value whose type the writer does not spell out (a rare record: a crash, a kdump probe) is
 *   `putAny`'s self-describing form: a tag, then the value (objects with their keys sorted).
 * Two states get equal words exactly when the values written are equal, which is what `stableJson`
 * decides for them (equal up to key order and absent fields); the words feed the MurmurHash3 of
 * `startWords`/`finishWords`, whose collision bound (`src/state-table.ts`) carries over.
 *
 * Frame names (`startFrames`, `frameName`, `putFrameTail`): when renaming, a frame number is
 * renamed in order of first appearance in the words, as `../generic/frame-symmetry.ts` does over its
 * walk, then the memory's tail follows (the policy, the free list renamed, each frame's owner and
 * reference count in the order of the new names); with it off, frames keep their numbers and the
 * whole memory is written. Which fields hold frames is the writers' to follow (`vfioFrameFields`).
 */
import type { Frame, HostMemory } from '../../models/memory/frames.js';
import { putWord } from '../../src/stable-fingerprint.js';

export { finishWords, startWords } from '../../src/stable-fingerprint.js';

/** Marks a number written as its double, or a key written as text. */
const ESCAPE = -2147483648;
/** null, an absent optional field, and the end of a record's keys. */
export const NIL = -2147483647;

const float = new Float64Array(1);
const floatWords = new Int32Array(float.buffer);

/** A number (see the header). */
export function putInt(value: number): void {
  if ((value | 0) === value && value !== NIL && value !== ESCAPE) {
    putWord(value | 0);
    return;
  }
  float[0] = value;
  putWord(ESCAPE);
  putWord(floatWords[0] ?? 0);
  putWord(floatWords[1] ?? 0);
}

export function putNullable(value: number | null): void {
  if (value === null) putWord(NIL);
  else putInt(value);
}

export function putFlag(flag: boolean): void {
  putWord(flag ? 1 : 0);
}

/** A flag that may be absent (`?: true` or `?: boolean`): `NIL`, 0 or 1. */
export function putOptionalFlag(flag: boolean | undefined): void {
  putWord(flag === undefined ? NIL : flag ? 1 : 0);
}

export function putOptionalInt(value: number | undefined): void {
  if (value === undefined) putWord(NIL);
  else putInt(value);
}

export function putText(text: string): void {
  const length = text.length;
  putWord(length);
  for (let at = 0; at < length; at++) putWord(text.charCodeAt(at));
}

export function putInts(values: readonly number[]): void {
  const length = values.length;
  putWord(length);
  for (let index = 0; index < length; index++) putInt(values[index] ?? 0);
}

/** A list's length and its items, each written by `item`. */
export function putList<T>(items: readonly T[], item: (value: T) => void): void {
  const length = items.length;
  putWord(length);
  for (let index = 0; index < length; index++) item(items[index] as T);
}

/** The key of an array index below 2³⁰ as its number, else -1 (written as text). */
function indexOf(key: string): number {
  const length = key.length;
  if (length === 0 || length > 9) return -1;
  const first = key.charCodeAt(0);
  if (first === 48 && length > 1) return -1;
  let value = 0;
  for (let at = 0; at < length; at++) {
    const code = key.charCodeAt(at);
    if (code < 48 || code > 57) return -1;
    value = value * 10 + (code - 48);
  }
  return value;
}

/**
 * The keys of the records one writer's site met last (`putRecord`'s `seen`), as numbers: a record
 * keyed by page numbers or DMA addresses keeps its entries as array elements up to the highest
 * (`models/copy-on-write.ts`), and enumerating them (for-in or `Object.keys`, a string per key)
 * was most of the compact fingerprint's time (issue 23); the successors of one state, which the
 * explorer fingerprints one after the other, share most such records with it (copy-on-write).
 *
 * Keyed by the record itself, which is sound because a state the explorer has is never edited in
 * place (the models are pure, `test/vfio/clone.test.ts`; the explorer steps again from the states
 * it keeps, and would be wrong otherwise) and because the cache holds the record, so that no
 * other object can take its identity. A few entries per site, compared one by one: a site may be
 * met several times per state (each DMA's pins). Null keys: a key that is no small array index.
 */
export class RecordKeys {
  private readonly records: (object | null)[];
  private readonly keys: (readonly number[] | null)[];
  private next = 0;
  private readonly size: number;

  constructor(size = 8) {
    this.size = size;
    this.records = new Array<object | null>(size).fill(null);
    this.keys = new Array<readonly number[] | null>(size).fill(null);
  }

  /** The record's keys, ascending, or null when one is no array index below 2³⁰. */
  of(record: object): readonly number[] | null {
    for (let at = 0; at < this.size; at++) if (this.records[at] === record) return this.keys[at] ?? null;
    const keys: number[] | null = [];
    let found: number[] | null = keys;
    for (const key in record) {
      const index = indexOf(key);
      if (index < 0) {
        found = null;
        break;
      }
      keys.push(index);
    }
    const at = this.next;
    this.next = (at + 1) % this.size;
    this.records[at] = record;
    this.keys[at] = found;
    return found;
  }
}

/**
 * A record keyed by decimal strings (gfn, page, DID, source-id), each value written by `item`
 * (see the header): array indices ascending (a plain object's for-in order), then any other key
 * sorted (rare). A record is a plain object (no enumerable key is inherited). `seen`: the site's
 * cache of keys (see `RecordKeys`); without it the keys are enumerated.
 */
export function putRecord<T>(
  record: Readonly<Record<string, T>>,
  item: (value: T) => void,
  seen: RecordKeys | null = null,
): void {
  const indexed = record as unknown as Readonly<Record<number, T>>;
  const keys = seen === null ? null : seen.of(record);
  if (keys !== null) {
    for (let at = 0; at < keys.length; at++) {
      const key = keys[at] ?? 0;
      const value = indexed[key];
      if (value === undefined) continue;
      putWord(key);
      item(value);
    }
    putWord(NIL);
    return;
  }
  let others: string[] | null = null;
  for (const key in record) {
    const index = indexOf(key);
    if (index < 0) {
      if (record[key] !== undefined) (others ??= []).push(key);
      continue;
    }
    const value = indexed[index];
    if (value === undefined) continue;
    putWord(index);
    item(value);
  }
  if (others !== null) {
    others.sort();
    for (const key of others) {
      putWord(ESCAPE);
      putText(key);
      item(record[key] as T);
    }
  }
  putWord(NIL);
}

/** A record of numbers. */
export function putIntRecord(record: Readonly<Record<string, number>>, seen: RecordKeys | null = null): void {
  putRecord(record, putInt, seen);
}

// ---------------------------------------------------------------------------------------------
// Frame names

let frames: readonly Frame[] = [];
let renaming = true;
/** Each frame's new name (valid where `stamps` holds the current `stamp`), and the names' order. */
let names = new Int32Array(64);
let stamps = new Int32Array(64);
let stamp = 0;
const order: number[] = [];
let countersKeptNow = true;

/**
 * Starts a state's frame names over `memory`'s frames: renamed by first appearance (`rename`) or
 * kept. Call before `startWords`-delimited writing of the state's frames; one state at a time.
 */
export function startFrames(memory: HostMemory, rename: boolean): void {
  frames = memory.frames;
  renaming = rename;
  countersKeptNow = !rename || memory.policy === 'random';
  order.length = 0;
  stamp += 1;
  if (stamp === 0x7fffffff) {
    stamps.fill(0);
    stamp = 1;
  }
  if (names.length < frames.length) {
    names = new Int32Array(frames.length * 2);
    stamps = new Int32Array(frames.length * 2);
  }
}

/**
 * A frame number's name: its number when not renaming, or when it is no frame of the memory (a
 * BAR's pfn past RAM: every name is below the frame count), as `FrameSymmetry`'s renamer does.
 */
export function frameName(mfn: number): number {
  if (!renaming || frames[mfn] === undefined) return mfn;
  if (stamps[mfn] === stamp) return names[mfn] ?? 0;
  const name = order.length;
  stamps[mfn] = stamp;
  names[mfn] = name;
  order.push(mfn);
  return name;
}

/** A frame number, named. */
export function putFrame(mfn: number): void {
  putInt(frameName(mfn));
}

export function putNullableFrame(mfn: number | null): void {
  if (mfn === null) putWord(NIL);
  else putInt(frameName(mfn));
}

/** A list of frame numbers, named (`freeListBefore`, a started map's `mfns`). */
export function putFrames(mfns: readonly number[]): void {
  putList(mfns, putFrame);
}

/**
 * Whether the allocation counter and its records (`allocCountBefore`) are written in the state
 * being written: always when frames keep their numbers (the whole state is the key), else under
 * the `random` policy only, the only one that reads it (`FrameSymmetry`).
 */
export function countersKept(): boolean {
  return countersKeptNow;
}

/**
 * The memory, last (see the header). Renaming: `FrameSymmetry`'s tail (the policy, the seed and
 * counter under `random`, the free list renamed, then each frame's owner and reference count in
 * the order of the names, the frames not met named in mfn order). Kept: every field of it.
 */
export function putFrameTail(memory: HostMemory): void {
  putText(memory.policy);
  if (!renaming) {
    putText(memory.randomSeed);
    putInt(memory.allocCount);
    putInts(memory.freeList);
    putList(memory.frames, (frame) => {
      putInt(frame.mfn);
      putNullable(frame.owner);
      putInt(frame.refcount);
    });
    return;
  }
  if (memory.policy === 'random') {
    putText(memory.randomSeed);
    putInt(memory.allocCount);
  }
  putFrames(memory.freeList);
  for (const each of frames) frameName(each.mfn);
  for (const mfn of order) {
    const each = frames[mfn];
    putNullable(each?.owner ?? null);
    putInt(each?.refcount ?? 0);
  }
}

// ---------------------------------------------------------------------------------------------
// The self-describing form, for values no writer spells out

const FALSE_TAG = -2147483646;
const TRUE_TAG = -2147483645;
const NUMBER_TAG = -2147483644;
const TEXT_TAG = -2147483643;
const LIST_TAG = -2147483642;
const RECORD_TAG = -2147483641;

/** The fields a renaming walk renames or leaves out wherever they sit (`FrameSymmetry`'s). */
export interface AnyFields {
  readonly renamed: ReadonlySet<string>;
  readonly counters: ReadonlySet<string>;
}

/**
 * Any plain value, tagged (null and undefined as `NIL`), objects with their keys sorted and fields
 * whose value is undefined or a function left out, as `stableJson` does; with `fields`, the
 * numbers of a renamed field (and of its lists) named as frames, and the counters' fields left out
 * where `countersKept` says so, as `FrameSymmetry`'s walk does (`renamed`: the value sits in a
 * renamed field).
 */
export function putAny(value: unknown, fields: AnyFields | null, renamed = false): void {
  switch (typeof value) {
    case 'number':
      putWord(NUMBER_TAG);
      putInt(renamed ? frameName(value) : value);
      return;
    case 'boolean':
      putWord(value ? TRUE_TAG : FALSE_TAG);
      return;
    case 'string':
      putWord(TEXT_TAG);
      putText(value);
      return;
    case 'object':
      break;
    // As stableJson: what JSON has no value for is null.
    case 'bigint':
    case 'function':
    case 'symbol':
    case 'undefined':
      putWord(NIL);
      return;
  }
  if (value === null) {
    putWord(NIL);
    return;
  }
  if (Array.isArray(value)) {
    putWord(LIST_TAG);
    putWord(value.length);
    for (const item of value as unknown[]) putAny(item, fields, renamed);
    return;
  }
  const record = value as Record<string, unknown>;
  putWord(RECORD_TAG);
  for (const key of Object.keys(record).sort()) {
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    if (fields !== null && !countersKeptNow && fields.counters.has(key)) continue;
    putWord(ESCAPE);
    putText(key);
    putAny(
      item,
      fields,
      fields !== null && fields.renamed.has(key) && (typeof item === 'number' || Array.isArray(item)),
    );
  }
  putWord(NIL);
}

/**
 * Every field of `T`, optional ones too, marked how its writer treats it (`written`, or `constant`
 * across the scope and left out): a field added to `T` fails to compile where its writer lists
 * them, so that no new field is silently left out of a compact fingerprint.
 */
export type FieldsOf<T> = { readonly [K in keyof Required<T>]: 'written' | 'constant' };

/** The memory's fields and its frames', all written by `putFrameTail` (a new field fails to compile). */
export const memoryFields = {
  memory: { frames: 'written', freeList: 'written', policy: 'written', randomSeed: 'written', allocCount: 'written' },
  frame: { mfn: 'written', owner: 'written', refcount: 'written' },
} as const satisfies { memory: FieldsOf<HostMemory>; frame: FieldsOf<Frame> };
