/**
 * Throughput: per stack (its first sound design), the same pre-generated command sequences run
 * twice — through `runTrace` with every invariant checked, and through `design.resolve` +
 * `design.step` alone — so their ratio is the harness overhead; generation is timed apart, and
 * `checkDesign` end to end (generation, fast-check, stats) is timed too. Each invariant is also
 * timed alone on the recorded transitions.
 */
import fc from 'fast-check';
import type { BenchSettings } from './bench-settings.js';
import { median, perSecond, round, timed } from './bench-measure.js';
import { checkDesign, generation } from './check.js';
import type { AnyDesign, Invariant } from './design.js';
import { runTrace } from './execute.js';
import { traceArbitrary } from './generate.js';

export interface InvariantCost {
  readonly invariant: string;
  readonly checks: number;
  readonly ms: number;
  readonly nsPerCheck: number;
}

export interface Throughput {
  readonly stack: string;
  readonly design: string;
  readonly sequences: number;
  /** Commands in the sequences (every one executed by both passes: the design holds). */
  readonly commands: number;
  readonly generation: { readonly ms: number; readonly sequencesPerSec: number; readonly commandsPerSec: number };
  /** `design.resolve` + `design.step` only. */
  readonly raw: { readonly steps: number; readonly ms: number; readonly stepsPerSec: number };
  /** `runTrace`: the same, with every invariant checked after every step. */
  readonly checked: { readonly steps: number; readonly ms: number; readonly stepsPerSec: number };
  /** raw steps/s ÷ checked steps/s: how many times slower checking makes a step. */
  readonly overhead: number;
  /** `checkDesign` end to end: generation, fast-check, stepping, checking, stats. */
  readonly endToEnd: {
    readonly seed: number;
    readonly runs: number;
    readonly steps: number;
    readonly ms: number;
    readonly stepsPerSec: number;
  };
  /** Each invariant timed alone on the recorded transitions of the sequences, most expensive first. */
  readonly invariants: readonly InvariantCost[];
}

function rawPass(design: AnyDesign, sequences: readonly (readonly unknown[])[]): number {
  let steps = 0;
  let accepted = 0;
  for (const templates of sequences) {
    let state: unknown = design.init();
    for (const template of templates) {
      const command: unknown = design.resolve(state, template);
      const next = design.step(state, command);
      if (next.result.ok) accepted += 1;
      state = next.state;
      steps += 1;
    }
  }
  // `accepted` keeps the results live; it never exceeds `steps`.
  return accepted > steps ? -1 : steps;
}

function checkedPass(design: AnyDesign, sequences: readonly (readonly unknown[])[]): number {
  let steps = 0;
  for (const templates of sequences) steps += runTrace(design, templates).steps.length;
  return steps;
}

interface Recorded {
  readonly before: unknown;
  readonly command: unknown;
  readonly result: unknown;
  readonly after: unknown;
}

/** Every transition the sequences go through, the initial ones included, as the invariants see them. */
function recordTransitions(design: AnyDesign, sequences: readonly (readonly unknown[])[]): Recorded[] {
  const transitions: Recorded[] = [];
  for (const templates of sequences) {
    let state: unknown = design.init();
    transitions.push({ before: null, command: null, result: null, after: state });
    for (const template of templates) {
      const command: unknown = design.resolve(state, template);
      const { state: after, result } = design.step(state, command);
      transitions.push({ before: state, command, result, after });
      state = after;
    }
  }
  return transitions;
}

function invariantCosts(design: AnyDesign, sequences: readonly (readonly unknown[])[]): InvariantCost[] {
  // A bounded sample keeps memory low: states are kept alive for the whole measurement.
  const transitions = recordTransitions(design, sequences.slice(0, 200));
  const invariants = design.invariants as readonly Invariant<unknown, unknown>[];
  const costs = invariants.map((invariant) => {
    const check = invariant.check.bind(invariant) as (transition: Recorded) => unknown;
    let violations = 0;
    for (const transition of transitions) if (check(transition) !== null) violations += 1; // warm-up
    const { ms } = timed(() => {
      for (const transition of transitions) if (check(transition) !== null) violations += 1;
    });
    if (violations > 0) throw new Error(`bench: sound design ${design.id} broke ${invariant.name}`);
    return {
      invariant: invariant.name,
      checks: transitions.length,
      ms: round(ms),
      nsPerCheck: round((ms * 1e6) / Math.max(1, transitions.length), 1),
    };
  });
  return costs.sort((left, right) => right.ms - left.ms);
}

export function measureThroughput(design: AnyDesign, settings: BenchSettings): Throughput {
  const arbitrary = traceArbitrary(design.commands, generation(design));
  fc.sample(arbitrary, { seed: settings.generationSeed + 1, numRuns: Math.min(20, settings.sequences) }); // warm-up
  const generated = timed(() => fc.sample(arbitrary, { seed: settings.generationSeed, numRuns: settings.sequences }));
  const sequences = generated.value as unknown[][];
  const commands = sequences.reduce((sum, templates) => sum + templates.length, 0);
  // Warm both paths up, then alternate timed passes so that drift affects both alike.
  rawPass(design, sequences);
  checkedPass(design, sequences);
  const rawTimes: number[] = [];
  const checkedTimes: number[] = [];
  let rawSteps = 0;
  let checkedSteps = 0;
  for (let repetition = 0; repetition < settings.repetitions; repetition++) {
    const raw = timed(() => rawPass(design, sequences));
    const checked = timed(() => checkedPass(design, sequences));
    rawSteps = raw.value;
    checkedSteps = checked.value;
    rawTimes.push(raw.ms);
    checkedTimes.push(checked.ms);
  }
  if (rawSteps !== commands || checkedSteps !== commands) {
    throw new Error(
      `bench: ${design.id} executed ${checkedSteps} checked and ${rawSteps} raw steps of ${commands} commands (a sound design runs them all)`,
    );
  }
  const rawMs = median(rawTimes);
  const checkedMs = median(checkedTimes);
  const endToEnd = timed(() => checkDesign(design, { seed: settings.generationSeed, runs: settings.endToEndRuns }));
  const stats = endToEnd.value.stats;
  const endToEndSteps =
    Object.values(stats.executed).reduce((sum, count) => sum + count, 0) +
    Object.values(stats.rejected).reduce(
      (sum, errors) => sum + Object.values(errors).reduce((inner, count) => inner + count, 0),
      0,
    );
  const rawRate = perSecond(rawSteps, rawMs);
  const checkedRate = perSecond(checkedSteps, checkedMs);
  return {
    stack: design.stack,
    design: design.id,
    sequences: sequences.length,
    commands,
    generation: {
      ms: round(generated.ms),
      sequencesPerSec: Math.round(perSecond(sequences.length, generated.ms)),
      commandsPerSec: Math.round(perSecond(commands, generated.ms)),
    },
    raw: { steps: rawSteps, ms: round(rawMs), stepsPerSec: Math.round(rawRate) },
    checked: { steps: checkedSteps, ms: round(checkedMs), stepsPerSec: Math.round(checkedRate) },
    overhead: round(checkedRate > 0 ? rawRate / checkedRate : 0, 2),
    endToEnd: {
      seed: settings.generationSeed,
      runs: endToEnd.value.runs,
      steps: endToEndSteps,
      ms: round(endToEnd.ms),
      stepsPerSec: Math.round(perSecond(endToEndSteps, endToEnd.ms)),
    },
    invariants: invariantCosts(design, sequences),
  };
}
