/**
 * `stableFingerprint` and `renamedFingerprint` as they were before the record shapes
 * (`src/record-shapes.ts`, issue 23), kept as the reference the faster walk must agree with word for
 * word: every record's keys listed, ordered (`canonicalKeys`) and encoded as met. Written for
 * clarity, not speed (the words in a plain array, the renaming passed down).
 */
import type { RenamedFields } from '../../src/stable-json.js';
import { C1, C2, C3, C4, finish, rotl } from '../../src/state-table.js';
import type { Fingerprint } from '../../src/state-table.js';

const [NULL, FALSE, TRUE, INT, FLOAT, STRING, ARRAY, OBJECT, KEY, END] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

function putText(words: number[], tag: number, text: string): void {
  words.push(tag, text.length);
  let at = 0;
  for (; at + 1 < text.length; at += 2) words.push(text.charCodeAt(at) | (text.charCodeAt(at + 1) << 16));
  if (at < text.length) words.push(text.charCodeAt(at));
}

/** As the old `isArrayIndex`, the empty key taken for an index included (its `canonicalKeys` then lists the keys as they come). */
function isArrayIndex(key: string): boolean {
  const first = key.charCodeAt(0);
  if (first < 48 || first > 57 || key.length > 10 || (first === 48 && key.length > 1)) return false;
  for (let at = 1; at < key.length; at++) if (key.charCodeAt(at) < 48 || key.charCodeAt(at) > 57) return false;
  return key.length < 10 || Number(key) < 4294967295;
}

function canonicalKeys(record: object): readonly string[] {
  const keys = Object.keys(record);
  const count = keys.length;
  if (count < 2 || isArrayIndex(keys[count - 1] ?? '')) return keys;
  if (!isArrayIndex(keys[0] ?? '')) return [...keys].sort();
  let indices = 1;
  while (isArrayIndex(keys[indices] ?? '')) indices += 1;
  return [...keys.slice(0, indices), ...keys.slice(indices).sort()];
}

interface Renaming {
  readonly fields: RenamedFields;
  readonly rename: (value: number) => number;
}

function putValue(words: number[], value: unknown, renaming: Renaming | null): void {
  if (typeof value === 'number') {
    if ((value | 0) === value) words.push(INT, value);
    else if (Number.isFinite(value)) {
      const bits = new Int32Array(new Float64Array([value]).buffer);
      words.push(FLOAT, bits[0] ?? 0, bits[1] ?? 0);
    } else words.push(NULL);
  } else if (typeof value === 'boolean') words.push(value ? TRUE : FALSE);
  else if (typeof value === 'string') putText(words, STRING, value);
  else if (typeof value !== 'object' || value === null) words.push(NULL);
  else if (Array.isArray(value)) {
    words.push(ARRAY, value.length);
    for (const item of value as unknown[])
      putValue(words, item === undefined || typeof item === 'function' ? null : item, renaming);
  } else {
    const record = value as Record<string, unknown>;
    words.push(OBJECT);
    for (const key of canonicalKeys(record)) {
      const item = record[key];
      if (item === undefined || typeof item === 'function') continue;
      const action = renaming?.fields.get(key);
      if (action === 'omit') continue;
      putText(words, KEY, key);
      if (renaming !== null && action === 'rename') putRenamed(words, item, renaming);
      else putValue(words, item, renaming);
    }
    words.push(END);
  }
}

function putRenamed(words: number[], value: unknown, renaming: Renaming): void {
  if (typeof value === 'number' && (value | 0) === value) words.push(INT, renaming.rename(value));
  else if (!Array.isArray(value)) putValue(words, value, renaming);
  else {
    words.push(ARRAY, value.length);
    for (const item of value as unknown[])
      if (item === undefined || typeof item === 'function') words.push(NULL);
      else putRenamed(words, item, renaming);
  }
}

/** MurmurHash3_x86_128 of the words, as `stable-fingerprint.ts`'s `murmurWords`. */
function murmur(words: readonly number[]): Fingerprint {
  let [h1, h2, h3, h4] = [0x9747b28c, 0x9747b28c, 0x9747b28c, 0x9747b28c];
  const count = words.length;
  const blocks = count - (count % 4);
  const k = (at: number, c: number, r: number, d: number): number =>
    Math.imul(rotl(Math.imul(words[at] ?? 0, c), r), d);
  for (let at = 0; at < blocks; at += 4) {
    h1 ^= k(at, C1, 15, C2);
    h1 = (Math.imul(rotl(h1, 19) + h2, 5) + 0x561ccd1b) | 0;
    h2 ^= k(at + 1, C2, 16, C3);
    h2 = (Math.imul(rotl(h2, 17) + h3, 5) + 0x0bcaa747) | 0;
    h3 ^= k(at + 2, C3, 17, C4);
    h3 = (Math.imul(rotl(h3, 15) + h4, 5) + 0x96cd1c35) | 0;
    h4 ^= k(at + 3, C4, 18, C1);
    h4 = (Math.imul(rotl(h4, 13) + h1, 5) + 0x32ac3b17) | 0;
  }
  const left = count - blocks;
  if (left > 0) h1 ^= k(blocks, C1, 15, C2);
  if (left > 1) h2 ^= k(blocks + 1, C2, 16, C3);
  if (left > 2) h3 ^= k(blocks + 2, C3, 17, C4);
  return finish(h1, h2, h3, h4, count * 4);
}

export function referenceFingerprint(value: unknown): Fingerprint {
  const words: number[] = [];
  putValue(words, value, null);
  return murmur(words);
}

export function referenceRenamedFingerprint(
  value: unknown,
  fields: RenamedFields,
  rename: (value: number) => number,
  tail: () => unknown,
): Fingerprint {
  const words: number[] = [];
  putValue(words, value, { fields, rename });
  putValue(words, tail(), null);
  return murmur(words);
}
