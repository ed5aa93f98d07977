/**
 * Feedback-guided generation (`CheckOptions.guided`): a pilot of the first 100 runs is generated
 * as always (the uniform swarm); the rare situations it reached then steer the rest of the budget.
 * A situation is a declared reach label (`Design.classify`) or the success of a command kind: the
 * coverage of a stack's decision points, as a coverage-guided fuzzer counts edges (a rare errno is
 * mostly an input check, a dead end rather than a state to build on, and is not one). For each situation the pilot reached in under a tenth of its runs, the commands of
 * the first run that reached it, up to that step, are kept as a seed; after the pilot, half of the
 * runs start from a seed and go on with freshly generated commands. A bug that lies a few steps
 * beyond a rare state is then searched from that state, not from the world's start — the seed
 * corpus of AFL-style fuzzers, and Hypothesis' `target()`, kept deterministic: the seeds are a
 * pure function of the pilot, and the pilot of the seed, so a check replays run for run from its
 * seed and budget, and every shard learns the same seeds (each runs the whole pilot: its own runs
 * for the verdict, the others only to learn).
 *
 * What it leaves out: one pilot sets the seeds once (adapting after every run would make a shard's
 * runs depend on runs it does not execute), and argument choices stay the stack's generators' own.
 */
import fc from 'fast-check';
import type { OpResult } from '../models/result.js';

/** What one pilot run reached: each situation at its first step (1-based), and the run's commands. */
export interface PilotRun {
  readonly firstAt: Readonly<Record<string, number>>;
  readonly templates: readonly unknown[];
}

/** The seeds a pilot taught: rare situations, and the commands that reached each. */
export interface Guidance {
  /** Pilot runs the seeds were learned from. */
  readonly pilotRuns: number;
  /** The rare situations aimed at, rarest first (one seed each). */
  readonly targets: readonly string[];
  /** Per target, the commands of the first pilot run that reached it, up to that step. */
  readonly seeds: readonly (readonly unknown[])[];
}

/**
 * The pilot: the first 100 runs, whatever the budget, so that a replay over fewer runs (a check
 * cut short by its time limit replays over the runs it made) switches at the same run. A budget
 * of 100 runs or fewer is all pilot: nothing is guided.
 */
export const PILOT_RUNS = 100;
/** A situation reached in fewer pilot runs than this share is rare. */
const RARE_SHARE = 0.1;
/** Seeds kept at most: the rarest situations'. */
export const MOST_SEEDS = 16;

export function pilotRunsOf(runs: number): number {
  return Math.min(runs, PILOT_RUNS);
}

/** A step's outcome as a situation: `mapDma ok`, `mapDma EINVAL`. */
export function outcomeSituation(command: unknown, result: OpResult): string {
  const kind = (command as { kind?: unknown }).kind;
  return `${String(kind)} ${result.ok ? 'ok' : String(result.error)}`;
}

/**
 * The seeds a pilot teaches: each situation reached in fewer than a tenth of the pilot's runs,
 * rarest first (a tie keeps the order situations were first met in), at most 16, with the
 * commands of the first run that reached it up to its step. Two situations first reached at the
 * same step of the same run share one seed.
 */
export function learnGuidance(pilot: readonly PilotRun[]): Guidance {
  const runs = new Map<string, number>();
  const first = new Map<string, { run: number; step: number }>();
  pilot.forEach((run, index) => {
    for (const [situation, step] of Object.entries(run.firstAt)) {
      runs.set(situation, (runs.get(situation) ?? 0) + 1);
      if (!first.has(situation)) first.set(situation, { run: index, step });
    }
  });
  const rare = [...first.keys()]
    .filter((situation) => (runs.get(situation) ?? 0) < RARE_SHARE * pilot.length)
    .sort((left, right) => (runs.get(left) ?? 0) - (runs.get(right) ?? 0));
  const targets: string[] = [];
  const seeds: (readonly unknown[])[] = [];
  const taken = new Set<string>();
  for (const situation of rare) {
    if (seeds.length === MOST_SEEDS) break;
    const at = first.get(situation);
    const run = at === undefined ? undefined : pilot[at.run];
    if (at === undefined || run === undefined || taken.has(`${at.run}:${at.step}`)) continue;
    taken.add(`${at.run}:${at.step}`);
    targets.push(situation);
    seeds.push(run.templates.slice(0, at.step));
  }
  return { pilotRuns: pilot.length, targets, seeds };
}

/**
 * Runs after the pilot: half fresh, half a seed (chosen by the generator) followed by fresh
 * commands, cut to the longest sequence. Both halves shrink as fast-check shrinks a choice, an
 * index and a sequence; the minimizer then works on the whole trace as on any other.
 */
export function guidedArbitrary<T>(
  fresh: fc.Arbitrary<T[]>,
  guidance: Guidance,
  maxCommands: number,
): fc.Arbitrary<T[]> {
  if (guidance.seeds.length === 0) return fresh;
  const seeded = fc
    .tuple(fc.nat({ max: guidance.seeds.length - 1 }), fresh)
    .map(([index, suffix]) => [...((guidance.seeds[index] ?? []) as T[]), ...suffix].slice(0, maxCommands));
  return fc.oneof(fresh, seeded);
}

/**
 * An arbitrary that generates its first `switchAfter` values with `first` and the rest with what
 * `later` returns then (asked when the first of them is generated: the pilot has run by then, as
 * fast-check generates each run's value after the previous run's property). Each value shrinks
 * with the arbitrary that generated it.
 */
export class SwitchingArbitrary<T> extends fc.Arbitrary<T> {
  private generatedCount = 0;
  private chosen: fc.Arbitrary<T> | null = null;
  private readonly first: fc.Arbitrary<T>;
  private readonly switchAfter: number;
  private readonly later: () => fc.Arbitrary<T>;

  constructor(first: fc.Arbitrary<T>, switchAfter: number, later: () => fc.Arbitrary<T>) {
    super();
    this.first = first;
    this.switchAfter = switchAfter;
    this.later = later;
  }

  generate(random: fc.Random, biasFactor: number | undefined): fc.Value<T> {
    this.generatedCount += 1;
    const source = this.generatedCount <= this.switchAfter ? this.first : (this.chosen ??= this.later());
    const value = source.generate(random, biasFactor);
    return new fc.Value(value.value_, { source, context: value.context });
  }

  canShrinkWithoutContext(value: unknown): value is T {
    return this.first.canShrinkWithoutContext(value);
  }

  shrink(value: T, context: unknown): fc.Stream<fc.Value<T>> {
    const tagged = context as { source: fc.Arbitrary<T>; context: unknown } | undefined;
    const source = tagged?.source ?? this.first;
    return source
      .shrink(value, tagged?.context)
      .map((shrunk) => new fc.Value(shrunk.value_, { source, context: shrunk.context }));
  }
}
