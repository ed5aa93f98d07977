/**
 * The 128-bit fingerprint of plain data's canonical form, in one pass over the data: what
 * `fingerprint128(stableJson(value))` decides (two values share a fingerprint when their canonical
 * JSON is the same), without building the text. Profiles of the explorer put a third of its time in
 * building key strings and collecting them afterwards (issue 23); this walks the state once and
 * feeds 32-bit words to MurmurHash3_x86_128 as it goes.
 *
 * The words are a prefix-free encoding of the canonical form, so different canonical texts give
 * different word streams, and the hash's bound (`state-table.ts`: about n²/2¹²⁹ for n states)
 * carries over:
 * - null (also a non-finite number, an array's undefined or function item): `NULL`;
 * - false, true: `FALSE`, `TRUE`;
 * - a number: `INT` and the value when it is a 32-bit integer (0 and -0 alike, as their JSON is),
 *   else `FLOAT` and the two words of its IEEE 754 bits;
 * - a string: `STRING`, its length, its UTF-16 code units two to a word;
 * - an array: `ARRAY`, its length, each item;
 * - an object: `OBJECT`, then for each key in canonical order (`canonicalKeys`: array indices
 *   ascending, then the other keys sorted) whose value is neither undefined nor a function, `KEY`,
 *   the key's length and code units, and the value; then `END`.
 * Each value starts with its tag, so a key's `KEY` and an object's `END` are told apart from it.
 *
 * The fingerprint is not `fingerprint128` of the JSON text (the words differ): a scope gives one or
 * the other for all its states (`ExploreScope.fingerprint`). It is a function of the data alone, so
 * the explorer's worker threads agree on it.
 */
import { actionsOf, AS_IS, encodeText, OMIT, RENAME, shapeOf } from './record-shapes.js';
import { sortKeys } from './stable-json.js';
import type { RenamedFields } from './stable-json.js';
import { C1, C2, C3, C4, finish, fingerprint128, rotl } from './state-table.js';
import type { Fingerprint } from './state-table.js';

const NULL = 1;
const FALSE = 2;
const TRUE = 3;
const INT = 4;
const FLOAT = 5;
const STRING = 6;
const ARRAY = 7;
const OBJECT = 8;
const KEY = 9;
const END = 10;

// The words of the value being fingerprinted, written by the walk and hashed at the end in one
// tight loop (one fingerprint at a time: the walk never starts another).
let buffer = new Int32Array(1 << 12);
let used = 0;

function room(count: number): void {
  if (used + count <= buffer.length) return;
  let size = buffer.length * 2;
  while (size < used + count) size *= 2;
  const grown = new Int32Array(size);
  grown.set(buffer.subarray(0, used));
  buffer = grown;
}

function put(word: number): void {
  if (used === buffer.length) room(1);
  buffer[used++] = word;
}

/**
 * Each string value's words (its tag, length and code units), for the strings met so far (bounded).
 * A record's keys have theirs in its shape (`record-shapes.ts`), or are encoded as met (`putKey`).
 */
const encodedStrings = new Map<string, Int32Array>();

function putString(text: string): void {
  let words = encodedStrings.get(text);
  if (words === undefined) {
    words = encodeText(STRING, text);
    if (encodedStrings.size < 4096) encodedStrings.set(text, words);
  }
  // A loop, not `buffer.set`: a string is a few words, and the call cost more than the copy.
  const count = words.length;
  room(count);
  for (let at = 0; at < count; at++) buffer[used++] = words[at] ?? 0;
}

/**
 * A key's words (`encodeText(KEY, key)`) written straight into the buffer: for the keys of records
 * no shape holds (array indices, which `Object.keys` gives as fresh strings, so that looking up
 * their words cost more than encoding them).
 */
function putKey(key: string): void {
  const length = key.length;
  room(2 + ((length + 1) >> 1));
  buffer[used++] = KEY;
  buffer[used++] = length;
  let at = 0;
  for (; at + 1 < length; at += 2) buffer[used++] = key.charCodeAt(at) | (key.charCodeAt(at + 1) << 16);
  if (at < length) buffer[used++] = key.charCodeAt(at);
}

const float = new Float64Array(1);
const floatWords = new Int32Array(float.buffer);

function putValue(value: unknown): void {
  switch (typeof value) {
    case 'number':
      if ((value | 0) === value) {
        room(2);
        buffer[used++] = INT;
        buffer[used++] = value;
      } else if (Number.isFinite(value)) {
        float[0] = value;
        room(3);
        buffer[used++] = FLOAT;
        buffer[used++] = floatWords[0] ?? 0;
        buffer[used++] = floatWords[1] ?? 0;
      } else put(NULL);
      return;
    case 'boolean':
      put(value ? TRUE : FALSE);
      return;
    case 'string':
      putString(value);
      return;
    case 'object':
      break;
    // As stableJson: what JSON has no value for is null (a bigint never occurs in a state).
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
  putComposite(value);
}

/**
 * Whether `key` is an array index (ECMA-262: the canonical decimal form of an integer below
 * 2³² − 1). `Object.keys` lists a plain object's array indices first, in ascending numeric order.
 */
export function isArrayIndex(key: string): boolean {
  const length = key.length;
  const first = key.charCodeAt(0);
  if (first < 48 || first > 57 || length > 10 || (first === 48 && length > 1)) return false;
  for (let at = 1; at < length; at++) {
    const code = key.charCodeAt(at);
    if (code < 48 || code > 57) return false;
  }
  return length < 10 || Number(key) < 4294967295;
}

/**
 * A record's keys in a canonical order (a function of its key set alone): its array indices in
 * ascending numeric order, as `Object.keys` already gives them, then its other keys sorted. Not
 * `stableJson`'s order, which sorts indices as strings ("10" before "9") and so sorted again every
 * record keyed by gfn, page or requester id; either order gives equal data equal words.
 */
function canonicalKeys(keys: readonly string[]): readonly string[] {
  const count = keys.length;
  if (count < 2 || isArrayIndex(keys[count - 1] ?? '')) return keys;
  if (!isArrayIndex(keys[0] ?? '')) return sortKeys(keys);
  let indices = 1;
  while (isArrayIndex(keys[indices] ?? '')) indices += 1;
  return [...keys.slice(0, indices), ...sortKeys(keys.slice(indices))];
}

function putComposite(value: object): void {
  if (Array.isArray(value)) {
    const length = value.length;
    room(2);
    buffer[used++] = ARRAY;
    buffer[used++] = length;
    for (let index = 0; index < length; index++) {
      const item: unknown = value[index];
      if (item === undefined || typeof item === 'function') put(NULL);
      else putValue(item);
    }
    return;
  }
  const record = value as Record<string, unknown>;
  const keys = Object.keys(record);
  const count = keys.length;
  // A shape only where `canonicalKeys` sorts all the keys: no array index first or last (hence none;
  // the last is checked too, as `canonicalKeys` does, for the empty key, which `isArrayIndex` takes for one).
  const shape =
    count > 0 && !isArrayIndex(keys[0] ?? '') && !isArrayIndex(keys[count - 1] ?? '') ? shapeOf(keys, KEY) : undefined;
  if (shape === undefined) {
    putFields(record, canonicalKeys(keys));
    return;
  }
  // The shape's keys in canonical order, each key's words copied from the shape's.
  const { order, words, starts } = shape;
  const actions = renamedFields === null ? null : actionsOf(shape, renamedFields);
  put(OBJECT);
  for (let index = 0; index < order.length; index++) {
    const item = record[order[index] ?? ''];
    if (item === undefined || typeof item === 'function') continue;
    const action = actions === null ? AS_IS : actions[index];
    if (action === OMIT) continue;
    const from = starts[index] ?? 0;
    const to = starts[index + 1] ?? 0;
    room(to - from);
    for (let at = from; at < to; at++) buffer[used++] = words[at] ?? 0;
    if (action === RENAME) putRenamed(item);
    else putValue(item);
  }
  put(END);
}

/** A record's fields in the order `keys` gives (canonical), where no shape is cached. */
function putFields(record: Record<string, unknown>, keys: readonly string[]): void {
  put(OBJECT);
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] ?? '';
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    if (renamedFields !== null && renamedFields.has(key)) {
      if (renamedFields.get(key) === 'omit') continue;
      putKey(key);
      putRenamed(item);
      continue;
    }
    putKey(key);
    putValue(item);
  }
  put(END);
}

export type { RenamedFields };

/**
 * During `renamedFingerprint`: the fields renamed or left out, and the renaming. Null otherwise,
 * so the plain walk pays one comparison per field.
 */
let renamedFields: RenamedFields | null = null;
let renameNumber: (value: number) => number = (value) => value;

/** A renamed field's value: a number renamed, an array's numbers renamed, anything else as is. */
function putRenamed(value: unknown): void {
  if (typeof value === 'number' && (value | 0) === value) {
    room(2);
    buffer[used++] = INT;
    buffer[used++] = renameNumber(value);
    return;
  }
  if (!Array.isArray(value)) {
    putValue(value);
    return;
  }
  const length = value.length;
  room(2);
  buffer[used++] = ARRAY;
  buffer[used++] = length;
  for (let index = 0; index < length; index++) {
    const item: unknown = value[index];
    if (item === undefined || typeof item === 'function') put(NULL);
    else putRenamed(item);
  }
}

/**
 * The fingerprint of the value with, in every object, the integers of the fields `fields` renames
 * (an array's items too) renamed by `rename` in the walk's order (this file's canonical key order,
 * not `renamedStableJson`'s), and the fields it omits left out; `tail` is called once the walk is
 * done (a renaming by first appearance has then named everything it met) and its value follows,
 * walked as is. A renaming by first appearance over a walk of every field gives equal forms to
 * the same states whatever the walk's order, so this and `renamedStableJson` partition alike.
 */
export function renamedFingerprint(
  value: unknown,
  fields: RenamedFields,
  rename: (value: number) => number,
  tail: () => unknown,
): Fingerprint {
  used = 0;
  renamedFields = fields;
  renameNumber = rename;
  try {
    putValue(value);
  } finally {
    renamedFields = null;
  }
  putValue(tail());
  return murmurWords(buffer, used);
}

/** The fingerprint of `value`'s canonical form (see above): equal for data with equal `stableJson`. */
export function stableFingerprint(value: unknown): Fingerprint {
  used = 0;
  putValue(value);
  return murmurWords(buffer, used);
}

/**
 * A fingerprint of words a scope writes itself, in an encoding of its own that must be prefix-free
 * (XenGT's compact key, `properties/xengt/state-key.ts`): `startWords()`, `putWord` for each word,
 * then `finishWords()`. One at a time, like the walks above (they share the buffer).
 */
export function startWords(): void {
  used = 0;
}

export { put as putWord };

export function finishWords(): Fingerprint {
  return murmurWords(buffer, used);
}

/** MurmurHash3_x86_128 of `count` 32-bit words (a block is four words; the tail as MurmurHash3's). */
function murmurWords(words: Int32Array, count: number): Fingerprint {
  let h1 = 0x9747b28c;
  let h2 = 0x9747b28c;
  let h3 = 0x9747b28c;
  let h4 = 0x9747b28c;
  const blocks = count - (count % 4);
  let at = 0;
  for (; at < blocks; at += 4) {
    const k1 = Math.imul(rotl(Math.imul(words[at] ?? 0, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    const k2 = Math.imul(rotl(Math.imul(words[at + 1] ?? 0, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    const k3 = Math.imul(rotl(Math.imul(words[at + 2] ?? 0, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    const k4 = Math.imul(rotl(Math.imul(words[at + 3] ?? 0, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  const left = count - at;
  if (left > 0) h1 ^= Math.imul(rotl(Math.imul(words[at] ?? 0, C1), 15), C2);
  if (left > 1) h2 ^= Math.imul(rotl(Math.imul(words[at + 1] ?? 0, C2), 16), C3);
  if (left > 2) h3 ^= Math.imul(rotl(Math.imul(words[at + 2] ?? 0, C3), 17), C4);
  return finish(h1, h2, h3, h4, count * 4);
}

/** How the explorer fingerprints a scope's states: its `fingerprint`, else the hash of its `key`. */
export function scopeFingerprint<S>(scope: {
  key(state: S): string;
  fingerprint?(state: S): Fingerprint;
}): (state: S) => Fingerprint {
  const own = scope.fingerprint?.bind(scope);
  if (own !== undefined) return own;
  return (state) => fingerprint128(scope.key(state));
}
