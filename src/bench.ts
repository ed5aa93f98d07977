/**
 * `dmaprop bench`: the project's performance dashboard, measured in one run on one machine.
 *
 * - throughput: per stack (its first sound design), the same pre-generated command sequences run
 *   twice — through `runTrace` with every invariant checked, and through `design.resolve` +
 *   `design.step` alone — so their ratio is the harness overhead; generation is timed apart, and
 *   `checkDesign` end to end (generation, fast-check, stats) is timed too;
 * - time to bug: per flawed design, over fresh seeds, `checkDesign`'s first failure (run, wall
 *   time) and its shrinking, re-run phase by phase (fast-check's shrink, then `minimize`) to time
 *   each phase and count its successful steps — the engine does not expose them;
 * - shrink quality: shrunk lengths vs the shortest counterexample `exploreDesign` finds;
 * - exploration: `exploreDesign` states per second per stack;
 * - suite time: `npm test` and `npm run check`, spawned.
 *
 * Nothing here changes the engine: it measures the public functions as they are.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { checkDesign, generation } from './check.js';
import type { Counterexample } from './check.js';
import { soundDesignPerModel } from './design.js';
import type { AnyDesign, Invariant } from './design.js';
import { runTrace } from './execute.js';
import { exploreDesign } from './explore.js';
import { traceArbitrary } from './generate.js';
import { minimize } from './minimize.js';
import { freshSeed } from './seed.js';
import { toolVersion } from './version.js';

export const BENCH_FORMAT_VERSION = 1;
export const DEFAULT_BENCH_OUT = 'bench/results.json';

/** What one bench run measures and how much. */
export interface BenchSettings {
  readonly mode: 'full' | 'quick';
  /** Sequences generated per stack for the throughput comparison. */
  readonly sequences: number;
  /** Timed repetitions of the checked and raw passes (the median is reported). */
  readonly repetitions: number;
  /** Seed of the throughput sequences and of the end-to-end check. */
  readonly generationSeed: number;
  /** `checkDesign` runs of the end-to-end throughput figure. */
  readonly endToEndRuns: number;
  /** Seeds of the time-to-bug searches (fresh unless given). */
  readonly seeds: readonly number[];
  /** `checkDesign` runs per seed. */
  readonly runs: number;
  readonly exploreDepth: number;
  readonly exploreMaxStates: number;
  readonly shrinkDepth: number;
  readonly shrinkMaxStates: number;
  /** Spawn `npm test` and `npm run check`. */
  readonly suite: boolean;
}

export interface BenchSettingsOverrides {
  readonly seed?: number;
  readonly seedCount?: number;
  readonly runs?: number;
  readonly suite?: boolean;
}

/** Full mode: the dashboard. Quick mode: the same measurements with tiny budgets, for tests. */
export function benchSettings(quick: boolean, overrides: BenchSettingsOverrides = {}): BenchSettings {
  const seedCount = overrides.seedCount ?? (quick ? 3 : 20);
  const base = overrides.seed;
  const seeds =
    base === undefined
      ? freshSeeds(seedCount)
      : Array.from({ length: seedCount }, (_, index) => (base + index) % 2 ** 31);
  const common = { seeds, generationSeed: 20_250_101 };
  if (quick) {
    return {
      mode: 'quick',
      sequences: 40,
      repetitions: 1,
      endToEndRuns: 40,
      runs: overrides.runs ?? 100,
      exploreDepth: 2,
      exploreMaxStates: 300,
      shrinkDepth: 3,
      shrinkMaxStates: 2000,
      suite: false,
      ...common,
    };
  }
  return {
    mode: 'full',
    sequences: 1000,
    repetitions: 5,
    endToEndRuns: 1000,
    runs: overrides.runs ?? 1000,
    exploreDepth: 6,
    exploreMaxStates: 20_000,
    // Deep enough for the longest counterexample any scope holds (the vIOMMU shadow's 8 steps);
    // the state cap bounds the wider scopes.
    shrinkDepth: 8,
    shrinkMaxStates: 50_000,
    suite: overrides.suite ?? true,
    ...common,
  };
}

function freshSeeds(count: number): number[] {
  const seeds = new Set<number>();
  while (seeds.size < count) seeds.add(freshSeed());
  return [...seeds];
}

export interface Spread {
  readonly median: number;
  readonly worst: number;
}

export interface Machine {
  readonly os: string;
  readonly cpuModel: string;
  readonly cpus: number;
  readonly totalMemoryBytes: number;
  readonly node: string;
  /** 1, 5 and 15 minute load averages when the bench started: other work on the machine skews every figure. */
  readonly loadAverage: readonly number[];
}

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

/** One broken invariant's shrinking, re-run phase by phase. */
export interface ShrinkMeasure {
  readonly invariant: string;
  /** Run at which `checkDesign` first saw it broken (the re-search's budget). */
  readonly run: number;
  /** Re-finding the failing run (what `counterexampleFor` does before shrinking). */
  readonly searchMs: number;
  readonly fastCheckShrinkMs: number;
  /** fast-check's successful shrinks (`numShrinks`). */
  readonly fastCheckShrinks: number;
  /** Candidates fast-check tried while shrinking. */
  readonly fastCheckCandidates: number;
  readonly minimizeMs: number;
  /** Candidate traces `minimize` tried (the engine's `minimizeAttempts`). */
  readonly minimizeAttempts: number;
  /** Candidates that still failed and were kept: `minimize`'s successful steps. */
  readonly minimizeSteps: number;
  /** fast-check shrink + minimize. */
  readonly shrinkMs: number;
  /** fast-check's successful shrinks + minimize's successful steps. */
  readonly shrinkSteps: number;
  readonly foundLength: number;
  readonly shrunkLength: number;
  readonly length: number;
  /**
   * This re-run gives exactly the steps, shrink count and minimize attempts `checkDesign` reported
   * (the phase timings measure what the engine did).
   */
  readonly matchesCheck: boolean;
}

export interface SeedTimeToBug {
  readonly seed: number;
  readonly found: boolean;
  /** 1-based run of the first failure, or null. */
  readonly run: number | null;
  /** Wall time from the start of `checkDesign` to the first failure. */
  readonly ms: number | null;
  readonly invariant: string | null;
  /** `checkDesign` as a whole: the full budget plus a shrunk counterexample per broken invariant. */
  readonly checkMs: number;
  readonly runs: number;
  readonly shrinkMs: number;
  readonly shrinkSteps: number;
  readonly shrinks: readonly ShrinkMeasure[];
}

export interface TimeToBug {
  readonly design: string;
  readonly stack: string;
  readonly seeds: readonly number[];
  readonly runsPerSeed: number;
  readonly found: number;
  readonly foundOnAll: boolean;
  /** Over the seeds that found it. */
  readonly runsToFailure: Spread | null;
  readonly msToFailure: Spread | null;
  readonly checkMs: Spread;
  /** Per seed: all broken invariants' shrinking together. */
  readonly shrinkMsPerSeed: Spread | null;
  /** Per counterexample. */
  readonly shrinkMs: Spread | null;
  readonly shrinkSteps: Spread | null;
  readonly fastCheckShrinks: Spread | null;
  readonly minimizeSteps: Spread | null;
  readonly minimizeAttempts: Spread | null;
  /**
   * Each invariant the design broke: on how many seeds, and the first run that broke it (the
   * engine records runs per invariant, not times: only the first failure of all has a time).
   */
  readonly byInvariant: readonly { readonly invariant: string; readonly seeds: number; readonly runs: Spread | null }[];
  /** Every re-run matched `checkDesign`'s counterexample. */
  readonly consistent: boolean;
  readonly perSeed: readonly SeedTimeToBug[];
}

export interface ShrinkQualityRow {
  readonly invariant: string;
  /** Shortest counterexample in the explore scope within the depth bound; null: none found there. */
  readonly shortest: number | null;
  /** Shrunk lengths over the time-to-bug seeds that broke it. */
  readonly shrunk: {
    readonly seeds: number;
    readonly min: number;
    readonly median: number;
    readonly max: number;
  } | null;
  /** Seeds whose shrunk length equals the shortest. */
  readonly optimal: number;
}

export interface ShrinkQuality {
  readonly design: string;
  readonly stack: string;
  readonly depth: number;
  readonly maxStates: number;
  readonly depthReached: number;
  readonly states: number;
  readonly ms: number;
  readonly limitReached: boolean;
  readonly invariants: readonly ShrinkQualityRow[];
}

export interface Exploration {
  readonly stack: string;
  readonly design: string;
  readonly depth: number;
  readonly maxStates: number;
  readonly depthReached: number;
  readonly limitReached: boolean;
  readonly states: number;
  readonly transitions: number;
  readonly ms: number;
  readonly statesPerSec: number;
  readonly transitionsPerSec: number;
}

export interface SuiteRun {
  readonly command: string;
  readonly ms: number;
  readonly exitCode: number | null;
  /** What it reported: vitest's test count, the check's seed. */
  readonly summary: string | null;
  /** The end of its output when it failed. */
  readonly tail: string | null;
}

export interface BenchResult {
  readonly benchFormatVersion: number;
  readonly date: string;
  readonly toolVersion: string;
  readonly commit: string | null;
  readonly machine: Machine;
  readonly settings: BenchSettings;
  readonly throughput: readonly Throughput[];
  readonly timeToBug: readonly TimeToBug[];
  readonly shrinkQuality: readonly ShrinkQuality[];
  readonly exploration: readonly Exploration[];
  /** Null when skipped (`--quick`, `--no-suite`). */
  readonly suite: { readonly test: SuiteRun; readonly check: SuiteRun } | null;
  /** Designs whose stack has no sound design, or that declare no explore scope: what was left out. */
  readonly skipped: readonly string[];
  readonly totalMs: number;
  /** Load averages when the bench ended: near 1 when it ran alone (the suite uses every core). */
  readonly loadAverageAtEnd: readonly number[];
}

export interface BenchRun {
  readonly settings: BenchSettings;
  /** Designs to measure (the registry, or a selection of it). */
  readonly designs: readonly AnyDesign[];
  /** Working directory of the spawned suite commands. */
  readonly cwd?: string;
  readonly onProgress?: (text: string) => void;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  if (sorted.length === 0) return Number.NaN;
  const middle = sorted.length >> 1;
  const upper = sorted[middle] ?? Number.NaN;
  return sorted.length % 2 === 1 ? upper : ((sorted[middle - 1] ?? upper) + upper) / 2;
}

function spread(values: readonly number[]): Spread | null {
  if (values.length === 0) return null;
  return { median: median(values), worst: Math.max(...values) };
}

function perSecond(count: number, ms: number): number {
  return ms <= 0 ? 0 : (count * 1000) / ms;
}

/** Rounds to `digits` decimals: the JSON keeps what the clock resolves, not float noise. */
function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

export function machineInfo(): Machine {
  const cores = cpus();
  return {
    os: `${platform()} ${release()} ${arch()}`,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    cpus: cores.length,
    totalMemoryBytes: totalmem(),
    node: process.version,
    loadAverage: loadavg().map((load) => round(load, 2)),
  };
}

/** The commit measured, with ` (modified)` when tracked files differ from it; null outside a git checkout. */
function gitCommit(cwd: string): string | null {
  const head = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd, encoding: 'utf8' });
  if (head.status !== 0) return null;
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd, encoding: 'utf8' });
  const modified = status.status === 0 && status.stdout.trim() !== '';
  return `${head.stdout.trim()}${modified ? ' (modified)' : ''}`;
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

function timed<T>(work: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = work();
  return { value, ms: performance.now() - started };
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

/**
 * `counterexampleFor`'s pipeline (re-search up to the failing run, fast-check shrinking, the
 * executed prefix, `minimize`), timed phase by phase with its successful steps counted. The result
 * is compared with the counterexample `checkDesign` reported, so a drift from the engine shows.
 */
export function measureShrink(
  design: AnyDesign,
  invariant: string,
  seed: number,
  run: number,
  reported: Counterexample | null,
): ShrinkMeasure {
  // The same generation as `checkDesign`'s: the design's own defaults (a shorter longest sequence) included.
  const arbitrary = traceArbitrary(design.commands, generation(design));
  const started = performance.now();
  let failedAt: number | null = null;
  let foundLength = 0;
  let candidates = 0;
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      if (failedAt !== null) candidates += 1;
      const found = runTrace(design, templates, { invariants: [invariant] });
      if (found.violations.length === 0) return true;
      if (failedAt === null) {
        failedAt = performance.now();
        foundLength = found.steps.length;
      }
      return false;
    }),
    { seed, numRuns: run, endOnFailure: false },
  );
  const ended = performance.now();
  const counterexample = details.counterexample;
  if (!details.failed || counterexample === null || failedAt === null) {
    throw new Error(`bench: ${design.id} seed ${seed}: ${invariant} not broken again within ${run} runs`);
  }
  const failedAtMs: number = failedAt;
  const shrunk = runTrace(design, counterexample[0], { invariants: [invariant] }).steps.map((step) => step.command);
  let minimizeSteps = 0;
  const minimized = timed(() =>
    minimize(shrunk as object[], (commands) => {
      const fails = runTrace(design, commands, { invariants: [invariant] }).violations.length > 0;
      if (fails) minimizeSteps += 1;
      return fails;
    }),
  );
  const fastCheckShrinkMs = ended - failedAtMs;
  return {
    invariant,
    run,
    searchMs: round(failedAtMs - started),
    fastCheckShrinkMs: round(fastCheckShrinkMs),
    fastCheckShrinks: details.numShrinks,
    fastCheckCandidates: candidates,
    minimizeMs: round(minimized.ms),
    minimizeAttempts: minimized.value.attempts,
    minimizeSteps,
    shrinkMs: round(fastCheckShrinkMs + minimized.ms),
    shrinkSteps: details.numShrinks + minimizeSteps,
    foundLength,
    shrunkLength: shrunk.length,
    length: minimized.value.commands.length,
    matchesCheck:
      reported !== null &&
      reported.shrinks === details.numShrinks &&
      reported.minimizeAttempts === minimized.value.attempts &&
      JSON.stringify(minimized.value.commands) === JSON.stringify(reported.steps),
  };
}

function measureSeed(design: AnyDesign, seed: number, runs: number): SeedTimeToBug {
  const check = checkDesign(design, { seed, runs });
  const shrinks = check.brokenAt.map(({ invariant, run }) => {
    const reported = check.violations.find((counterexample) => counterexample.invariant === invariant);
    return measureShrink(design, invariant, seed, run, reported ?? null);
  });
  return {
    seed,
    found: check.firstFailure !== null,
    run: check.firstFailure?.run ?? null,
    ms: check.firstFailure === null ? null : round(check.firstFailure.elapsedMs),
    invariant: check.firstFailure?.invariant ?? null,
    checkMs: round(check.elapsedMs),
    runs: check.runs,
    shrinkMs: round(shrinks.reduce((sum, shrink) => sum + shrink.shrinkMs, 0)),
    shrinkSteps: shrinks.reduce((sum, shrink) => sum + shrink.shrinkSteps, 0),
    shrinks,
  };
}

export function measureTimeToBug(
  design: AnyDesign,
  settings: BenchSettings,
  onSeed?: (seed: number, index: number) => void,
): TimeToBug {
  const perSeed: SeedTimeToBug[] = [];
  settings.seeds.forEach((seed, index) => {
    onSeed?.(seed, index);
    perSeed.push(measureSeed(design, seed, settings.runs));
  });
  const found = perSeed.filter((row) => row.found);
  const shrinks = perSeed.flatMap((row) => row.shrinks);
  return {
    design: design.id,
    stack: design.stack,
    seeds: settings.seeds,
    runsPerSeed: settings.runs,
    found: found.length,
    foundOnAll: found.length === perSeed.length,
    runsToFailure: spread(found.map((row) => row.run ?? 0)),
    msToFailure: spread(found.map((row) => row.ms ?? 0)),
    checkMs: spread(perSeed.map((row) => row.checkMs)) ?? { median: 0, worst: 0 },
    shrinkMsPerSeed: spread(found.map((row) => row.shrinkMs)),
    shrinkMs: spread(shrinks.map((shrink) => shrink.shrinkMs)),
    shrinkSteps: spread(shrinks.map((shrink) => shrink.shrinkSteps)),
    fastCheckShrinks: spread(shrinks.map((shrink) => shrink.fastCheckShrinks)),
    minimizeSteps: spread(shrinks.map((shrink) => shrink.minimizeSteps)),
    minimizeAttempts: spread(shrinks.map((shrink) => shrink.minimizeAttempts)),
    byInvariant: design.invariants.flatMap((invariant) => {
      const runs = shrinks.filter((shrink) => shrink.invariant === invariant.name).map((shrink) => shrink.run);
      return runs.length === 0 ? [] : [{ invariant: invariant.name, seeds: runs.length, runs: spread(runs) }];
    }),
    consistent: shrinks.every((shrink) => shrink.matchesCheck),
    perSeed,
  };
}

export function measureShrinkQuality(design: AnyDesign, settings: BenchSettings, timeToBug: TimeToBug): ShrinkQuality {
  const explored = exploreDesign(design, { depth: settings.shrinkDepth, maxStates: settings.shrinkMaxStates });
  const shrunkBy = new Map<string, number[]>();
  for (const row of timeToBug.perSeed) {
    for (const shrink of row.shrinks) {
      const lengths = shrunkBy.get(shrink.invariant) ?? [];
      lengths.push(shrink.length);
      shrunkBy.set(shrink.invariant, lengths);
    }
  }
  const invariants = design.invariants.flatMap((invariant): ShrinkQualityRow[] => {
    const shortest = explored.violations.find((counterexample) => counterexample.invariant === invariant.name);
    const lengths = shrunkBy.get(invariant.name) ?? [];
    if (shortest === undefined && lengths.length === 0) return [];
    return [
      {
        invariant: invariant.name,
        shortest: shortest?.length ?? null,
        shrunk:
          lengths.length === 0
            ? null
            : { seeds: lengths.length, min: Math.min(...lengths), median: median(lengths), max: Math.max(...lengths) },
        optimal: shortest === undefined ? 0 : lengths.filter((length) => length === shortest.length).length,
      },
    ];
  });
  return {
    design: design.id,
    stack: design.stack,
    depth: settings.shrinkDepth,
    maxStates: settings.shrinkMaxStates,
    depthReached: explored.depthReached,
    states: explored.states,
    ms: round(explored.elapsedMs),
    limitReached: explored.limitReached,
    invariants,
  };
}

export function measureExploration(design: AnyDesign, settings: BenchSettings): Exploration {
  const explored = exploreDesign(design, { depth: settings.exploreDepth, maxStates: settings.exploreMaxStates });
  return {
    stack: design.stack,
    design: design.id,
    depth: settings.exploreDepth,
    maxStates: settings.exploreMaxStates,
    depthReached: explored.depthReached,
    limitReached: explored.limitReached,
    states: explored.states,
    transitions: explored.transitions,
    ms: round(explored.elapsedMs),
    statesPerSec: Math.round(perSecond(explored.states, explored.elapsedMs)),
    transitionsPerSec: Math.round(perSecond(explored.transitions, explored.elapsedMs)),
  };
}

function lastLines(text: string, count: number): string {
  return text.trimEnd().split('\n').slice(-count).join('\n');
}

/** Spawns an npm script and times it; its output is kept only to summarise it. */
export function measureSuiteRun(
  args: readonly string[],
  cwd: string,
  summarize: (output: string) => string | null,
): SuiteRun {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const started = performance.now();
  const child = spawnSync(npm, [...args], {
    cwd,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
  });
  const ms = performance.now() - started;
  const output = `${child.stdout ?? ''}\n${child.stderr ?? ''}`;
  return {
    command: `npm ${args.join(' ')}`,
    ms: Math.round(ms),
    exitCode: child.status,
    summary: summarize(output),
    tail: child.status === 0 ? null : lastLines(output, 15) || String(child.error ?? ''),
  };
}

function vitestSummary(output: string): string | null {
  const files = /Test Files\s+([^\n]*)/.exec(output)?.[1]?.trim();
  const tests = /\n\s*Tests\s+([^\n]*)/.exec(output)?.[1]?.trim();
  if (files === undefined && tests === undefined) return null;
  return [files === undefined ? null : `files: ${files}`, tests === undefined ? null : `tests: ${tests}`]
    .filter((part) => part !== null)
    .join('; ');
}

function checkSummary(output: string): string | null {
  const seed = /dmaprop check: seed (\d+)/.exec(output)?.[1];
  const summary = output
    .split('\n')
    .find((line) => /designs? checked/.test(line))
    ?.trim();
  const parts = [seed === undefined ? null : `seed ${seed}`, summary ?? null].filter((part) => part !== null);
  return parts.length === 0 ? null : parts.join('; ');
}

export function runBench(run: BenchRun): BenchResult {
  const started = performance.now();
  const machine = machineInfo();
  const { settings, designs } = run;
  const progress = run.onProgress ?? ((): void => undefined);
  const cwd = run.cwd ?? process.cwd();
  const skipped: string[] = [];

  const sound = soundDesignPerModel(designs);
  const throughput = sound.map((design) => {
    progress(`throughput: ${design.id}`);
    return measureThroughput(design, settings);
  });

  const flawed = designs.filter((design) => design.expected === 'violates');
  const timeToBug = flawed.map((design) =>
    measureTimeToBug(design, settings, (seed, index) =>
      progress(`time to bug: ${design.id} seed ${seed} (${index + 1}/${settings.seeds.length})`),
    ),
  );

  const shrinkQuality: ShrinkQuality[] = [];
  flawed.forEach((design, index) => {
    const measured = timeToBug[index];
    if (design.explore === undefined || measured === undefined) {
      skipped.push(`shrink quality: ${design.id} declares no explore scope`);
      return;
    }
    progress(`shrink quality: exploring ${design.id} to depth ${settings.shrinkDepth}`);
    shrinkQuality.push(measureShrinkQuality(design, settings, measured));
  });

  const exploration: Exploration[] = [];
  for (const design of sound) {
    if (design.explore === undefined) {
      skipped.push(`exploration: ${design.id} (stack ${design.stack}) declares no explore scope`);
      continue;
    }
    progress(`exploration: ${design.id} to depth ${settings.exploreDepth}`);
    exploration.push(measureExploration(design, settings));
  }
  const stacks = new Set(designs.map((design) => design.stack));
  for (const stack of stacks) {
    if (!sound.some((design) => design.stack === stack)) skipped.push(`throughput: stack ${stack} has no sound design`);
  }

  let suite: BenchResult['suite'] = null;
  if (settings.suite) {
    progress('suite: npm test');
    const test = measureSuiteRun(['test'], cwd, vitestSummary);
    progress('suite: npm run check');
    const check = measureSuiteRun(['run', 'check'], cwd, checkSummary);
    suite = { test, check };
  }

  return {
    benchFormatVersion: BENCH_FORMAT_VERSION,
    date: new Date().toISOString(),
    toolVersion,
    commit: gitCommit(cwd),
    machine,
    settings,
    throughput,
    timeToBug,
    shrinkQuality,
    exploration,
    suite,
    skipped,
    totalMs: Math.round(performance.now() - started),
    loadAverageAtEnd: loadavg().map((load) => round(load, 2)),
  };
}

/** Writes the results atomically: a temporary file in the same directory, synced, renamed into place. */
export function writeBenchResults(path: string, result: BenchResult): void {
  const directory = dirname(path);
  mkdirSync(directory, { recursive: true });
  const temporary = join(directory, `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const descriptor = openSync(temporary, 'wx');
  try {
    try {
      writeSync(descriptor, `${JSON.stringify(result, null, 2)}\n`);
      fsyncSync(descriptor);
    } finally {
      closeSync(descriptor);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}
