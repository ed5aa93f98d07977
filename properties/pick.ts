/**
 * Picks: a generated command field that names "the k-th live object" instead of a raw value,
 * resolved against the state when the step runs (fast-check's "position modulo count",
 * Hypothesis bundles). The trace records the resolved value, so a shrunk trace replays as is.
 */
import fc from 'fast-check';

export interface Pick {
  readonly pick: number;
}

/** A field that is either a concrete value or a pick. */
export type Pickable<V> = V | Pick;

/** Template of a command: each numeric field may be a pick (booleans and kinds stay concrete). */
export type Templated<C> = C extends unknown
  ? { readonly [K in keyof C]: C[K] extends number | null ? C[K] | Pick : C[K] }
  : never;

export function isPick(value: unknown): value is Pick {
  return typeof value === 'object' && value !== null && 'pick' in value;
}

/** A pick resolves to `live[pick mod |live|]`; with no live object it falls back to `fallback(pick)`. */
export function resolvePick<V>(value: Pickable<V>, live: readonly V[], fallback: (pick: number) => V): V {
  if (!isPick(value)) return value;
  if (live.length === 0) return fallback(value.pick);
  return live[value.pick % live.length] ?? fallback(value.pick);
}

/** Mostly picks from the live set, sometimes a raw (possibly invalid) value. */
export function pickOr<V>(raw: fc.Arbitrary<V>, pickWeight = 4): fc.Arbitrary<Pickable<V>> {
  return fc.oneof(
    { weight: pickWeight, arbitrary: fc.nat({ max: 7 }).map((pick): Pick => ({ pick })) },
    { weight: 1, arbitrary: raw },
  );
}
