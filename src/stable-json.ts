/**
 * Canonical JSON of plain data: object keys sorted, so equal data always gives the same text.
 * The explorer's canonical keys are this text of a state on several stacks (`ExploreScope.key`),
 * and `stable-fingerprint.ts` hashes the same structure without building the text.
 */
/** Each object key as JSON text with its colon (`"gfn":`), for the keys met so far (bounded). */
const quotedKeys = new Map<string, string>();

function quotedKey(key: string): string {
  let text = quotedKeys.get(key);
  if (text === undefined) {
    text = `${JSON.stringify(key)}:`;
    if (quotedKeys.size < 4096) quotedKeys.set(key, text);
  }
  return text;
}

/**
 * The key orders met so far, by first key (bounded): an object's keys as they came and sorted.
 * Objects built by one literal of a model have their keys in one order, so the sort is done once.
 */
const keyOrders = new Map<string, { readonly keys: readonly string[]; readonly sorted: readonly string[] }>();

/** An object's own keys in sorted order (not to be modified: it may be the cached order). */
export function sortedKeys(record: object): readonly string[] {
  return sortKeys(Object.keys(record));
}

/** `keys` in sorted order (not to be modified: it may be the cached order, or `keys` itself). */
export function sortKeys(keys: readonly string[]): readonly string[] {
  const count = keys.length;
  if (count < 2) return keys;
  const first = keys[0] ?? '';
  const known = keyOrders.get(first);
  if (known !== undefined && known.keys.length === count) {
    let same = true;
    for (let index = 1; index < count && same; index++) same = known.keys[index] === keys[index];
    if (same) return known.sorted;
  }
  let sorted = keys;
  for (let index = 1; index < count; index++) {
    if ((keys[index - 1] ?? '') > (keys[index] ?? '')) {
      sorted = [...keys].sort();
      break;
    }
  }
  if (known !== undefined || keyOrders.size < 4096) keyOrders.set(first, { keys, sorted });
  return sorted;
}

/**
 * What a renaming walk (`renamedStableJson`, `renamedFingerprint`) does with a field, wherever it
 * sits: `rename` its numbers (an array's items too), or `omit` it (a field no step, template or
 * invariant reads under the scope's conditions, such as a record of the allocation counter under a
 * policy that ignores it).
 */
export type RenamedFields = ReadonlyMap<string, 'rename' | 'omit'>;

/**
 * JSON of plain data with object keys sorted, so equal data always gives the same text (as
 * `canonicalJson`, except that integer-like keys sort as strings here, "10" before "9": a JS
 * object puts them first in numeric order whatever `canonicalJson` sorts). Written for speed:
 * several stacks' explore keys are this text of the whole state, computed once per transition.
 */
export function stableJson(value: unknown): string {
  const type = typeof value;
  if (type === 'number') return Number.isFinite(value) ? String(value) : 'null';
  if (type === 'boolean') return value === true ? 'true' : 'false';
  if (type === 'string') return JSON.stringify(value);
  if (type !== 'object') return 'null';
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    const length = value.length;
    if (length === 0) return '[]';
    let text = '[';
    for (let index = 0; index < length; index++) {
      if (index > 0) text += ',';
      const item: unknown = value[index];
      text += item === undefined || typeof item === 'function' ? 'null' : stableJson(item);
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  let text = '{';
  let first = true;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] ?? '';
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    text += `${first ? '' : ','}${quotedKey(key)}${stableJson(item)}`;
    first = false;
  }
  return `${text}}`;
}

/** What `stableJson` writes as `null`: null itself, a non-finite number, undefined, a function, a symbol, a bigint. */
function jsonNull(value: unknown): boolean {
  const type = typeof value;
  if (type === 'number') return !Number.isFinite(value);
  return value === null || (type !== 'boolean' && type !== 'string' && type !== 'object');
}

/** Whether a record's field is written by `stableJson` (neither undefined nor a function). */
function written(value: unknown): boolean {
  return value !== undefined && typeof value !== 'function';
}

/**
 * Whether `stableJson(left) === stableJson(right)`, without building either text: the explorer
 * skips a template that resolves to a command already tried from the same state, and building the
 * text of every command was most of that check's cost.
 */
export function sameJson(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  const leftNull = jsonNull(left);
  const rightNull = jsonNull(right);
  if (leftNull || rightNull) return leftNull && rightNull;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) return false;
  if (Array.isArray(left)) {
    if (!Array.isArray(right) || left.length !== right.length) return false;
    for (let index = 0; index < left.length; index++) {
      const item: unknown = left[index];
      const other: unknown = right[index];
      // An array's undefined or function item is written null.
      if (!sameJson(written(item) ? item : null, written(other) ? other : null)) return false;
    }
    return true;
  }
  if (Array.isArray(right)) return false;
  const leftRecord = left as Record<string, unknown>;
  const rightRecord = right as Record<string, unknown>;
  // for-in with own-key checks, not Object.keys: no array per record compared (a command's `kind`
  // comes first, so most comparisons end at the first field).
  let fields = 0;
  for (const key in leftRecord) {
    if (!Object.hasOwn(leftRecord, key)) continue;
    const item = leftRecord[key];
    if (!written(item)) continue;
    fields += 1;
    if (!Object.hasOwn(rightRecord, key) || !written(rightRecord[key]) || !sameJson(item, rightRecord[key]))
      return false;
  }
  for (const key in rightRecord) if (Object.hasOwn(rightRecord, key) && written(rightRecord[key])) fields -= 1;
  return fields === 0;
}

/**
 * `stableJson(value)` with, in every object, the integers of the fields `fields` renames (an
 * array's items too) renamed by `rename`, in the walk's order (keys sorted, as `stableJson`'s), and
 * the fields it omits left out: the text a symmetry-reduced key is made of (`renamedFingerprint`
 * hashes the same walk). Kept apart from `stableJson`, whose walk stays free of the field lookups.
 */
export function renamedStableJson(value: unknown, fields: RenamedFields, rename: (value: number) => number): string {
  if (typeof value !== 'object' || value === null) return stableJson(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let index = 0; index < value.length; index++) {
      const item: unknown = value[index];
      text += `${index > 0 ? ',' : ''}${item === undefined || typeof item === 'function' ? 'null' : renamedStableJson(item, fields, rename)}`;
    }
    return `${text}]`;
  }
  const record = value as Record<string, unknown>;
  const keys = sortedKeys(record);
  let text = '{';
  let first = true;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index] ?? '';
    const item = record[key];
    if (item === undefined || typeof item === 'function') continue;
    const how = fields.get(key);
    if (how === 'omit') continue;
    const renamed = how === 'rename' ? renamedItem(item, fields, rename) : renamedStableJson(item, fields, rename);
    text += `${first ? '' : ','}${quotedKey(key)}${renamed}`;
    first = false;
  }
  return `${text}}`;
}

/** A renamed field's value as `renamedFingerprint` takes it: a number renamed, an array's numbers renamed. */
function renamedItem(value: unknown, fields: RenamedFields, rename: (value: number) => number): string {
  if (typeof value === 'number' && (value | 0) === value) return String(rename(value));
  if (!Array.isArray(value)) return renamedStableJson(value, fields, rename);
  let text = '[';
  for (let index = 0; index < value.length; index++) {
    const item: unknown = value[index];
    text += `${index > 0 ? ',' : ''}${item === undefined || typeof item === 'function' ? 'null' : renamedItem(item, fields, rename)}`;
  }
  return `${text}]`;
}
