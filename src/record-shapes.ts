/**
 * The canonical key order of a record, and its keys' words, computed once per record shape for
 * `stable-fingerprint.ts` (issue 23: sorting and encoding every record's keys was a third of the
 * fingerprint's time).
 *
 * Why a cache keyed by the `Object.keys` sequence is sound: the canonical order (array indices
 * ascending, then the other keys sorted) is a function of the key set alone, and the sequence
 * `Object.keys` gives determines the key set; a hit compares the whole sequence, so two records
 * share a shape only when they have the same keys. The words of a key are a function of the key
 * alone. A record with an array-index key (or the empty key, which the old order took for one) is
 * not cached (such records are keyed by gfn, page or requester id, one key set per state): the
 * caller orders it itself, as before. The cache lives as long as the process, across scopes; once
 * full, a record of a new shape is ordered each time, as before.
 */
import { sortKeys } from './stable-json.js';
import type { RenamedFields } from './stable-json.js';

/** A key's or a string's words: `tag`, the length, the UTF-16 code units two to a word. */
export function encodeText(tag: number, text: string): Int32Array {
  const length = text.length;
  const words = new Int32Array(2 + ((length + 1) >> 1));
  words[0] = tag;
  words[1] = length;
  let at = 0;
  let word = 2;
  for (; at + 1 < length; at += 2) words[word++] = text.charCodeAt(at) | (text.charCodeAt(at + 1) << 16);
  if (at < length) words[word] = text.charCodeAt(at);
  return words;
}

/** What a renaming walk does with the field at a position of `RecordShape.order`. */
export const AS_IS = 0;
export const RENAME = 1;
export const OMIT = 2;

/** The records whose `Object.keys` is `keys` (no array index among them). */
export interface RecordShape {
  readonly keys: readonly string[];
  /** The keys in canonical order (sorted). */
  readonly order: readonly string[];
  /** Each key of `order` encoded (`encodeText(KEY, key)`), one after the other. */
  readonly words: Int32Array;
  /** The words of `order[i]` are `words[starts[i]]` up to `words[starts[i + 1]]`. */
  readonly starts: Int32Array;
  /** Another shape with as many keys and the same first key (a short chain: few literals share both). */
  next: RecordShape | undefined;
  /** The last renaming's fields (`RenamedFields`, one of a scope's few maps) and what it does with each key of `order`. */
  renamed: RenamedFields | null;
  readonly actions: Uint8Array;
}

/**
 * The shapes met so far, by key count (up to `COUNTS`, the larger ones together) and first key:
 * the variants of a union share their first key (`kind`) but seldom their count. At most `LIMIT`
 * of them (a record past it is ordered each time).
 */
const shapes: Map<string, RecordShape>[] = [];
const COUNTS = 32;
const LIMIT = 4096;
let count = 0;

/**
 * The shape of records whose `Object.keys` is `keys` (at least one key, the first not an array
 * index, hence none is: `Object.keys` lists indices first), or undefined once the cache is full.
 */
export function shapeOf(keys: readonly string[], keyTag: number): RecordShape | undefined {
  const length = keys.length;
  const first = keys[0] ?? '';
  const bucket = Math.min(length, COUNTS);
  const table = (shapes[bucket] ??= new Map());
  const head = table.get(first);
  for (let shape = head; shape !== undefined; shape = shape.next) {
    const known = shape.keys;
    if (known.length !== length) continue;
    let at = 1;
    while (at < length && known[at] === keys[at]) at += 1;
    if (at === length) return shape;
  }
  if (count >= LIMIT) return undefined;
  count += 1;
  // A copy: `sortKeys` may return its argument, and `keys` is the caller's.
  const order = [...sortKeys(keys)];
  const encoded = order.map((key) => encodeText(keyTag, key));
  const starts = new Int32Array(length + 1);
  for (let index = 0; index < length; index++) starts[index + 1] = (starts[index] ?? 0) + (encoded[index]?.length ?? 0);
  const words = new Int32Array(starts[length] ?? 0);
  for (let index = 0; index < length; index++) words.set(encoded[index] ?? [], starts[index]);
  const shape: RecordShape = {
    keys: [...keys],
    order,
    words,
    starts,
    next: head,
    renamed: null,
    actions: new Uint8Array(length),
  };
  table.set(first, shape);
  return shape;
}

/** `shape.actions` for `fields` (recomputed only when the walk's fields are another map than last time). */
export function actionsOf(shape: RecordShape, fields: RenamedFields): Uint8Array {
  if (shape.renamed === fields) return shape.actions;
  const { order, actions } = shape;
  for (let index = 0; index < order.length; index++) {
    const action = fields.get(order[index] ?? '');
    actions[index] = action === undefined ? AS_IS : action === 'rename' ? RENAME : OMIT;
  }
  shape.renamed = fields;
  return actions;
}
