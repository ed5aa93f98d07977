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
  const keys = Object.keys(record);
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
