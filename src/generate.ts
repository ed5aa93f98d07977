/**
 * Sequence generation: explicit lengths (fast-check's default of at most ten commands is far
 * too short for reuse races) and swarm selection — each run enables a random subset of command
 * kinds, so some runs hammer a few operations while others mix all of them.
 */
import fc from 'fast-check';
import type { CommandSpace } from './design.js';

export interface GenerationOptions {
  /** Longest sequence generated. */
  readonly maxCommands: number;
  /** Shortest sequence generated (before shrinking). */
  readonly minCommands: number;
  /** Enable swarm selection of command kinds (otherwise every run uses every kind). */
  readonly swarm: boolean;
}

export const defaultGeneration: GenerationOptions = { maxCommands: 100, minCommands: 1, swarm: true };

/** A run's command kinds: all of them in one run out of four, a random non-empty subset otherwise. */
export function swarmKinds(kinds: readonly string[], swarm: boolean): fc.Arbitrary<readonly string[]> {
  if (!swarm) return fc.constant(kinds);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(kinds) },
    { weight: 3, arbitrary: fc.subarray([...kinds], { minLength: 1 }) },
  );
}

export function traceArbitrary<T>(space: CommandSpace<T>, options: GenerationOptions): fc.Arbitrary<T[]> {
  return swarmKinds(space.kinds, options.swarm).chain((kinds) =>
    fc.array(
      fc.oneof(...kinds.map((kind) => ({ arbitrary: space.arbitrary(kind), weight: space.weight?.(kind) ?? 1 }))),
      {
        minLength: options.minCommands,
        maxLength: options.maxCommands,
        size: 'max',
      },
    ),
  );
}
