/**
 * A command space from a table of generators by kind and their relative weights: the shape every
 * stack's generators end in.
 */
import type fc from 'fast-check';
import type { CommandSpace } from '../../src/design.js';

export function commandSpaceOf<T>(
  stack: string,
  table: Readonly<Record<string, fc.Arbitrary<T>>>,
  weights: Readonly<Record<string, number>>,
): CommandSpace<T> {
  return {
    kinds: Object.keys(table),
    weight: (kind) => weights[kind] ?? 1,
    arbitrary(kind) {
      const arbitrary = table[kind];
      if (arbitrary === undefined) throw new Error(`${stack}: no generator for command kind '${kind}'`);
      return arbitrary;
    },
  };
}
