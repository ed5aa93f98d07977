/**
 * `stableFingerprint` and `renamedFingerprint` as they were before the record shapes
 * (`src/record-shapes.ts`, issue 23), kept as the reference the faster walk must agree with word for
 * word: every record's keys listed, ordered (`canonicalKeys`) and encoded as met. Written for
 * clarity, not speed (the words in a plain array, the renaming passed down). With the renaming the
 * fingerprint tests share.
 */
import type { RenamedFields } from '../../src/stable-json.js';
import { finishWords, putWord, startWords } from '../../src/stable-fingerprint.js';
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

/** The hash of the words: MurmurHash3_x86_128, through the writer XenGT's key uses (unchanged by the shapes). */
function murmur(words: readonly number[]): Fingerprint {
  startWords();
  for (const word of words) putWord(word);
  return finishWords();
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

/** A renaming by first appearance (as the frame renaming's): the first number met is 0, the next new one 1, ... */
export function renamingByFirstAppearance(): (value: number) => number {
  const names = new Map<number, number>();
  return (value) => {
    const name = names.get(value) ?? names.size;
    names.set(value, name);
    return name;
  };
}
