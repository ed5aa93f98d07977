/** Structural equality of plain data (objects, arrays, primitives), ignoring key order. */
export function deepEqual(left: unknown, right: unknown): boolean {
  if (left === right) return true;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) {
    return Object.is(left, right);
  }
  // A hot path: the atomicity invariant compares whole states after every refused request, so
  // this walks with index and for-in loops rather than allocating key arrays at every level.
  if (Array.isArray(left)) {
    if (!Array.isArray(right) || left.length !== right.length) return false;
    for (let index = 0; index < left.length; index++) if (!deepEqual(left[index], right[index])) return false;
    return true;
  }
  if (Array.isArray(right)) return false;
  const leftRecord = left as Record<string, unknown>;
  const rightRecord = right as Record<string, unknown>;
  let leftKeys = 0;
  for (const key in leftRecord) {
    if (!Object.hasOwn(leftRecord, key)) continue;
    leftKeys += 1;
    if (!Object.hasOwn(rightRecord, key) || !deepEqual(leftRecord[key], rightRecord[key])) return false;
  }
  let rightKeys = 0;
  for (const key in rightRecord) if (Object.hasOwn(rightRecord, key)) rightKeys += 1;
  return leftKeys === rightKeys;
}

/** The first path at which two plain values differ, for messages ("xen.domains.1.totPages"). */
export function firstDifference(left: unknown, right: unknown, path = ''): string | null {
  if (deepEqual(left, right)) return null;
  if (typeof left !== 'object' || typeof right !== 'object' || left === null || right === null) {
    return `${path === '' ? '(root)' : path}: ${JSON.stringify(left)} → ${JSON.stringify(right)}`;
  }
  const leftRecord = left as Record<string, unknown>;
  const rightRecord = right as Record<string, unknown>;
  const keys = [...new Set([...Object.keys(leftRecord), ...Object.keys(rightRecord)])];
  for (const key of keys) {
    const difference = firstDifference(leftRecord[key], rightRecord[key], path === '' ? key : `${path}.${key}`);
    if (difference !== null) return difference;
  }
  return null;
}
