/**
 * Sequence generation: explicit lengths (fast-check's default of at most ten commands is far
 * too short for reuse races) and swarm selection — each run enables a random subset of command
 * kinds, so some runs hammer a few operations while others mix all of them.
 *
 * A stack may generate some kinds as runs (`CommandSpace.run`): a guest driver's function that
 * writes an entry and then issues the invalidations it owes is drawn as its commands in order, in
 * place of the kind's one command; each is still a step, and shrinking and the minimizer take them
 * apart like any others. Drawn one at a time, three commands in a row with nothing undoing them in
 * between are rare: each later one must come before any kind that undoes the first (vIOMMU
 * scalable mode lost a factor of 4 to 5 at each, docs/reference/viommu.md §7.9).
 *
 * Interleavings (a stack whose command space declares `interleaving`): a sequence is first
 * generated as atomic commands, then a few of its phased operations are preempted: started and
 * left in flight after their first phase, each later phase run by an `advance` a few commands
 * further on. The number of preemptions is drawn small and independently of the sequence's
 * length, as in PCT (Burckhardt et al., "A randomized scheduler with probabilistic guarantees of
 * finding bugs", ASPLOS 2010): a bug that needs d context switches is found with a probability
 * that depends on d, not on how long the sequence is. Shrinking removes advances and starts like
 * any step, and the minimizer lowers a start's `phased` flag, which makes the operation atomic
 * again: a counterexample keeps only the context switches it needs.
 *
 * A context switch finds a bug only when what runs in the window conflicts with the operation
 * left in flight; a window of random commands rarely holds the two or three a race needs. So two
 * preemptions in three are aimed, as race-directed testing does (Sen, "Race directed random
 * testing of concurrent programs", PLDI 2008): one picks a phased kind that has conflicting kinds
 * (`InterleavingSpace.conflicts`) among the run's enabled kinds, preempts an operation of that
 * kind and places one to four commands of the conflicting kinds (`windowArbitrary` where the stack
 * aims them) at the start of its window. They are ordinary templates,
 * resolved against the state like any other (a stack's preferred picks aim them at the objects
 * in flight), and shrink away like any other step.
 */
import fc from 'fast-check';
import type { CommandSpace, InterleavingSpace } from './design.js';

export interface GenerationOptions {
  /** Longest sequence generated. */
  readonly maxCommands: number;
  /** Shortest sequence generated (before shrinking). */
  readonly minCommands: number;
  /** Enable swarm selection of command kinds (otherwise every run uses every kind). */
  readonly swarm: boolean;
  /** Most operations left in flight per sequence (0: every operation atomic). */
  readonly preemptions: number;
  /**
   * Keep fast-check's bias (off by default). fast-check biases a share of the runs toward small
   * values and short arrays — a half of the first ten runs, a quarter from the hundredth on — which
   * suits data structures but not command sequences here: in a biased run the picks crowd at the
   * ends of their ranges (and some sequences are short), and the bugs of a wide command mix are
   * not there. Measured over the 164 flawed designs and mutants, 20 seeds each (README §"Time to
   * bug"): unbiased runs need about a third fewer runs to the first failure (geometric means:
   * median 14.3 → 9.8, worst 56.4 → 39.0), and find every declared break on every seed for 163
   * of them against 161.
   */
  readonly biased?: boolean;
}

export const defaultGeneration: GenerationOptions = { maxCommands: 100, minCommands: 1, swarm: true, preemptions: 3 };

/** The longest delay, in commands, between two phases of a preempted operation. */
const MAX_DELAY = 8;

/** A run's command kinds: all of them in one run out of four, a random non-empty subset otherwise. */
export function swarmKinds(kinds: readonly string[], swarm: boolean): fc.Arbitrary<readonly string[]> {
  if (!swarm) return fc.constant(kinds);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant(kinds) },
    { weight: 3, arbitrary: fc.subarray([...kinds], { minLength: 1 }) },
  );
}

/** One preempted operation: which phased command of the sequence, and how far on each later phase runs. */
export interface Preemption<T = unknown> {
  /** Chooses among the sequence's phased commands (modulo their number): of `kind` only, when set. */
  readonly which: number;
  /** Commands run between one phase and the next (one per later phase; extra ones are unused). */
  readonly delays: readonly number[];
  /** An aimed preemption: the kind of operation it preempts. */
  readonly kind?: string;
  /** Commands placed at the start of the window, right after the operation's first phase. */
  readonly window?: readonly T[];
}

/**
 * The sequence with the chosen operations preempted: each started and left in flight, its window
 * commands (if any) right after it, and an advance inserted for each later phase after its delay.
 * The advance's pick is the operation's place, oldest first, among those in flight at that point
 * if every start and advance before it succeeds (a refused one shifts it; the step then advances
 * another operation or is refused). An aimed preemption whose kind the sequence lacks is dropped.
 */
export function preempt<T extends { readonly kind: string }>(
  sequence: readonly T[],
  interleaving: InterleavingSpace<T>,
  preemptions: readonly Preemption<T>[],
): T[] {
  const phasedOf = (kind: string | undefined): number[] =>
    sequence.flatMap((template, index) =>
      interleaving.phases(template.kind) > 1 && (kind === undefined || template.kind === kind) ? [index] : [],
    );
  const phased = phasedOf(undefined);
  if (phased.length === 0 || preemptions.length === 0) return [...sequence];
  // Advances to insert after each position: the position of the start they advance.
  const after = new Map<number, number[]>();
  const windows = new Map<number, readonly T[]>();
  const started = new Set<number>();
  for (const preemption of preemptions) {
    const candidates = preemption.kind === undefined ? phased : phasedOf(preemption.kind);
    if (candidates.length === 0) continue;
    const index = candidates[preemption.which % candidates.length] ?? 0;
    if (started.has(index)) continue;
    started.add(index);
    if (preemption.window !== undefined && preemption.window.length > 0) windows.set(index, preemption.window);
    const template = sequence[index];
    if (template === undefined) continue;
    let at = index;
    for (let phase = 1; phase < interleaving.phases(template.kind); phase++) {
      at = Math.min(sequence.length - 1, at + Math.max(1, preemption.delays[phase - 1] ?? 1));
      after.set(at, [...(after.get(at) ?? []), index]);
    }
  }
  // Walk the sequence, keeping the in-flight list as the steps would: starts join it, an
  // operation leaves after its last advance.
  const inFlight: { index: number; remaining: number }[] = [];
  const out: T[] = [];
  sequence.forEach((template, index) => {
    if (started.has(index)) {
      out.push(interleaving.start(template));
      inFlight.push({ index, remaining: interleaving.phases(template.kind) - 1 });
      out.push(...(windows.get(index) ?? []));
    } else out.push(template);
    for (const start of after.get(index) ?? []) {
      const place = inFlight.findIndex((operation) => operation.index === start);
      if (place < 0) continue;
      out.push(interleaving.advance(place));
      const operation = inFlight[place];
      if (operation !== undefined && --operation.remaining === 0) inFlight.splice(place, 1);
    }
  });
  return out;
}

const delays = fc.array(fc.integer({ min: 1, max: MAX_DELAY }), { minLength: 4, maxLength: 4 });

const plainPreemption: fc.Arbitrary<Preemption<never>> = fc.record({ which: fc.nat(), delays });

/**
 * Preemptions for a run whose enabled kinds are `kinds`: plain ones, and, when some enabled phased
 * kind has conflicting kinds, as many aimed ones (each with one to three conflicting commands).
 */
function preemptionArbitrary<T extends { readonly kind: string }>(
  space: CommandSpace<T>,
  interleaving: InterleavingSpace<T>,
  kinds: readonly string[],
): fc.Arbitrary<Preemption<T>> {
  const aimed = kinds.flatMap((kind) => {
    const conflicting = (interleaving.conflicts?.(kind) ?? []).filter((other) => space.kinds.includes(other));
    if (interleaving.phases(kind) <= 1 || conflicting.length === 0) return [];
    return [
      fc.record({
        kind: fc.constant(kind),
        which: fc.nat(),
        delays,
        window: fc.array(
          fc.oneof(...conflicting.map((other) => interleaving.windowArbitrary?.(other) ?? space.arbitrary(other))),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
      }),
    ];
  });
  if (aimed.length === 0) return plainPreemption;
  return fc.oneof({ weight: 1, arbitrary: plainPreemption }, { weight: 2, arbitrary: fc.oneof(...aimed) });
}

export function traceArbitrary<T extends { readonly kind: string }>(
  space: CommandSpace<T>,
  options: GenerationOptions,
): fc.Arbitrary<T[]> {
  const traces = biasedTraceArbitrary(space, options);
  return options.biased === true ? traces : fc.noBias(traces);
}

function biasedTraceArbitrary<T extends { readonly kind: string }>(
  space: CommandSpace<T>,
  options: GenerationOptions,
): fc.Arbitrary<T[]> {
  const lengths = { minLength: options.minCommands, maxLength: options.maxCommands, size: 'max' } as const;
  const runOf = space.run;
  const sequenceOf = (kinds: readonly string[]): fc.Arbitrary<T[]> =>
    runOf === undefined
      ? fc.array(
          fc.oneof(...kinds.map((kind) => ({ arbitrary: space.arbitrary(kind), weight: space.weight?.(kind) ?? 1 }))),
          lengths,
        )
      : // A kind's runs stand where its one command would; the sequence stays within `maxCommands`.
        fc
          .array(
            fc.oneof(
              ...kinds.map((kind) => ({
                arbitrary: runOf(kind) ?? space.arbitrary(kind).map((template): readonly T[] => [template]),
                weight: space.weight?.(kind) ?? 1,
              })),
            ),
            lengths,
          )
          .map((runs) => runs.flat().slice(0, options.maxCommands));
  const interleaving = space.interleaving;
  const most = options.preemptions ?? defaultGeneration.preemptions;
  if (interleaving === undefined || most <= 0) return swarmKinds(space.kinds, options.swarm).chain(sequenceOf);
  // Few preemptions, whatever the length: none in one sequence out of four, mostly one or two.
  const count = fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 3, arbitrary: fc.constant(Math.min(1, most)) },
    { weight: 2, arbitrary: fc.constant(Math.min(2, most)) },
    { weight: 1, arbitrary: fc.integer({ min: Math.min(3, most), max: most }) },
  );
  const aims = space.kinds.some(
    (kind) => interleaving.phases(kind) > 1 && (interleaving.conflicts?.(kind) ?? []).length > 0,
  );
  if (!aims)
    return fc
      .tuple(
        swarmKinds(space.kinds, options.swarm).chain(sequenceOf),
        count.chain((n) => fc.array(plainPreemption, { minLength: n, maxLength: n })),
      )
      .map(([sequence, preemptions]) => preempt(sequence, interleaving, preemptions));
  // The run's enabled kinds decide which operations an aimed preemption may pick.
  return swarmKinds(space.kinds, options.swarm).chain((kinds) =>
    fc
      .tuple(
        sequenceOf(kinds),
        count.chain((n) => fc.array(preemptionArbitrary(space, interleaving, kinds), { minLength: n, maxLength: n })),
      )
      .map(([sequence, preemptions]) => preempt(sequence, interleaving, preemptions)),
  );
}
