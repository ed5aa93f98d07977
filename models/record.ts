/**
 * `record` without `key`, or undefined when no other key is left: the models keep a per-id record
 * that is usually empty (entries not yet written back, copied context entries, attaches in flight)
 * as an absent field, so that a state without any is the same plain data as before the field was.
 */
export function withoutKey<V>(
  record: Readonly<Record<string, V>>,
  key: number | string,
): Record<string, V> | undefined {
  const rest = { ...record };
  delete rest[key];
  return Object.keys(rest).length === 0 ? undefined : rest;
}
