/**
 * Checking a design: search with fast-check for a trace that breaks any invariant; if one is
 * found, search again per invariant so each broken invariant gets its own shortest
 * counterexample (an effect invariant shows the exploit, a latent one the root cause), shrunk by
 * fast-check and then minimized deterministically.
 *
 * Deterministic: the same design, seed and budget give the same result (a time limit, when set,
 * can cut a search short and is reported as `interrupted`).
 */
import fc from 'fast-check';
import type { OpResult } from '../models/result.js';
import { assertWellFormed } from './design.js';
import type { AnyDesign, Command, Design, Expectation, InvariantClass, Violation } from './design.js';
import { crashesLike, crashWhere, runTrace, selectInvariants, violates } from './execute.js';
import type { Crash } from './execute.js';
import type { Outcome } from './exit-codes.js';
import type { Shard } from './shard.js';
import { defaultGeneration, traceArbitrary } from './generate.js';
import { SwitchingArbitrary, guidedArbitrary, learnGuidance, outcomeSituation, pilotRunsOf } from './guidance.js';
import type { Guidance, PilotRun } from './guidance.js';
import type { GenerationOptions } from './generate.js';
import { minimize } from './minimize.js';
import { searchShorter } from './shortest.js';
import type { ShortestOutcome } from './shortest.js';
import { createStats } from './stats.js';
import type { RunStats } from './stats.js';

/**
 * How a check ended. `holds`: the whole budget ran, every command kind executed, nothing broke.
 * `violated`: an invariant broke. `crashed`: the design's own code threw (a finding, shrunk and
 * reported like a violation). `inconclusive`: nothing was found, but the search cannot say
 * "holds": it was cut short (time limit, interruption) or left a command kind unexecuted or a reach label below its floor.
 */
export type Verdict = 'holds' | 'violated' | 'crashed' | 'inconclusive';

export const verdicts: readonly Verdict[] = ['holds', 'violated', 'crashed', 'inconclusive'];

export interface CheckOptions {
  readonly seed: number;
  /** Sequences generated per search. */
  readonly runs: number;
  /** Wall-clock limit per search, in milliseconds. */
  readonly timeLimitMs?: number;
  readonly generation?: Partial<GenerationOptions>;
  /**
   * Invariants to report counterexamples for (all when absent). The verdict always uses all.
   * When the list is non-empty the search stops as soon as each of them has been broken.
   */
  readonly report?: readonly string[];
  /**
   * Check only the runs of one shard: run k (1-based) belongs to shard ((k − 1) mod n) + 1. Every
   * shard generates the same sequences from the seed and runs its own; the shards of a check
   * together run each sequence exactly once (`mergeChecks` puts them back together).
   */
  readonly shard?: Shard;
  /** Called after each run of the main pass (progress display). */
  readonly onRun?: (run: number) => void;
  /** The purity guard (`RunOptions.strict`): a step that changes the state it was given is a crash. */
  readonly strict?: boolean;
  /**
   * Minimize each counterexample after fast-check's shrinking (default true). `false` keeps
   * fast-check's shrunk trace: faster, for callers that only need a replayable trace.
   */
  readonly minimize?: boolean;
  /**
   * After minimizing, search the design's explore scope one step shallower for a shorter trace of
   * the same invariant (`shortest.ts`), within this many states; absent: no search. For designs
   * without a scope it does nothing.
   */
  readonly shortest?: { readonly maxStates: number };
  /**
   * Asked before every run and every shrinking attempt: true stops the check cleanly with what it
   * found so far (Ctrl-C). The check is then `interrupted` and says so.
   */
  readonly shouldStop?: () => boolean;
  /**
   * Feedback-guided generation (`guidance.ts`): after a pilot of the first 100 runs, generated as
   * without it, half of the rest start from the rare states the pilot reached.
   */
  readonly guided?: boolean;
  /** The guidance a guided search uses (learned from its pilot when absent). */
  readonly guidance?: Guidance;
}

export interface CounterexampleStep<C = unknown> {
  readonly command: C;
  /** Who ran the step, on a stack that says (`Design.actorOf`). */
  readonly actor?: string;
  readonly result: OpResult;
}

export interface Counterexample<C = unknown> {
  readonly invariant: string;
  readonly class: InvariantClass;
  readonly violation: Violation;
  /** Steps of the minimized counterexample. */
  readonly length: number;
  /** The commands, as data: replaying them through the design reproduces the violation. */
  readonly steps: readonly C[];
  /** The same commands with their results. */
  readonly executed: readonly CounterexampleStep<C>[];
  /** Where it was found: the search's seed and fast-check's replay path, and the sizes on the way down. */
  readonly replay: { readonly seed: number; readonly path: string | null };
  readonly foundLength: number;
  readonly shrunkLength: number;
  readonly shrinks: number;
  readonly minimizeAttempts: number;
  /**
   * What the search of the explore scope did (`CheckOptions.shortest`), the minimized trace's
   * length and the states searched; absent when none ran.
   */
  readonly shortest?: { readonly outcome: ShortestOutcome; readonly minimizedLength: number; readonly states: number };
}

/**
 * An exception thrown by the design's code, shrunk like a violation: the shortest trace found
 * that throws the same kind of error from the same place, its steps up to the throw, and the
 * error itself. A crash is a finding: it never meets an expectation.
 */
export interface CrashReport<C = unknown> {
  readonly crash: Crash;
  /** Steps of the minimized trace, the throwing one included. */
  readonly length: number;
  /** The commands, as data: replaying them throws again. */
  readonly steps: readonly C[];
  /** The steps that returned, with their results (the throwing one has none when it threw in `resolve` or `step`). */
  readonly executed: readonly CounterexampleStep<C>[];
  readonly replay: { readonly seed: number; readonly path: string | null };
  readonly foundLength: number;
  readonly shrunkLength: number;
  readonly shrinks: number;
  readonly minimizeAttempts: number;
}

export interface FirstFailure {
  /** 1-based index of the first failing run. */
  readonly run: number;
  readonly elapsedMs: number;
  readonly invariant: string;
}

/**
 * Why a check stopped before its budget: its time limit, a request to stop (Ctrl-C), or, with a
 * `report` list, every invariant on it broken (the rest of the budget was not searched).
 */
export type CutShort = 'time limit' | 'interrupted' | 'report';

/** A cut, in words: "the time limit", for "… before the time limit (N runs)". */
function cutWords(cut: CutShort): string {
  switch (cut) {
    case 'time limit':
      return 'the time limit';
    case 'interrupted':
      return 'the interruption';
    case 'report':
      return 'the search stopped at the reported invariants';
  }
}

/** What shaped a check's search: enough to run it again (`replayCommand`). */
export interface CheckBudget {
  /** Sequences asked for. */
  readonly runs: number;
  /** The check's own generation options (over the design's); the CLI's `--max-commands`. */
  readonly generation: Partial<GenerationOptions>;
  readonly shard: Shard | null;
  readonly timeLimitMs: number | null;
  /** The invariants counterexamples were asked for, when not all. */
  readonly report: readonly string[] | null;
  /** The purity guard was on. */
  readonly strict: boolean;
  /** Feedback-guided generation was on. */
  readonly guided: boolean;
}

/** `C`: the design's concrete command, the type of every counterexample's steps. */
export interface DesignCheck<C = unknown> {
  readonly design: string;
  readonly stack: string;
  readonly expected: Expectation;
  readonly verdict: Verdict;
  /**
   * The verdict is the expected one: a sound design holds; a flawed design broke every invariant
   * it declares in `breaks`. A crash or an inconclusive search never meets an expectation.
   */
  readonly met: boolean;
  /** What the check comes to, for the exit status: met, unmet, crashed or inconclusive. */
  readonly outcome: Outcome;
  /** In words, why the check is not met or not conclusive; null when it is met. */
  readonly reason: string | null;
  /** Sequences run with every invariant checked (the whole budget, or this shard's part of it, unless cut short). */
  readonly runs: number;
  /** The index of the last sequence generated (runs of other shards included). */
  readonly lastRun: number;
  readonly seed: number;
  readonly budget: CheckBudget;
  readonly elapsedMs: number;
  /** Something was cut short: the search (see `cutShort`), or the shrinking after it (Ctrl-C). */
  readonly interrupted: boolean;
  /** The search stopped before its budget, and why; the verdict then only covers `runs`. */
  readonly cutShort: CutShort | null;
  readonly firstFailure: FirstFailure | null;
  /** Each broken invariant with the first run that broke it, in the design's invariant order. */
  readonly brokenAt: readonly { readonly invariant: string; readonly run: number }[];
  /** Invariants the design declares in `breaks` that no run broke. */
  readonly missing: readonly string[];
  /** Invariants broken that a flawed design does not declare (reported, not a failure). */
  readonly undeclared: readonly string[];
  readonly violations: readonly Counterexample<C>[];
  /** The first run whose trace made the design's code throw, and how many runs did. */
  readonly crashedAt: { readonly run: number; readonly crash: Crash } | null;
  readonly crashedRuns: number;
  /** The crash, shrunk and minimized (null when none, or when the search was stopped first). */
  readonly crash: CrashReport<C> | null;
  /** Command kinds of the design that no run executed (accepted): the search never exercised them. */
  readonly unexecuted: readonly string[];
  /** Reach labels of the design that fewer runs reached than their floor requires at this budget. */
  readonly unreached: readonly UnreachedLabel[];
  /** What the main pass generated, executed and checked. */
  readonly stats: RunStats;
  /** The seeds a guided check learned from its pilot (null when unguided or too small for one). */
  readonly guidance: Guidance | null;
}

/** The harness's defaults, then the design's own (a stack may want shorter sequences), then the check's. */
export function generation(design: AnyDesign, options: Pick<CheckOptions, 'generation'> = {}): GenerationOptions {
  return { ...defaultGeneration, ...design.generation, ...options.generation };
}

function parameters(options: CheckOptions, endOnFailure: boolean): fc.Parameters<[unknown[]]> {
  return {
    seed: options.seed,
    numRuns: options.runs,
    endOnFailure,
    ...(options.timeLimitMs === undefined ? {} : { interruptAfterTimeLimit: options.timeLimitMs }),
  };
}

/**
 * The guidance a guided check uses: the one it was given, else learned from its pilot — the
 * first 100 runs, generated and run in full (every shard runs all of them), in a pass of their
 * own. Null for an unguided check, or a budget too small for a pilot to teach anything.
 */
export function guidanceFor(design: AnyDesign, options: CheckOptions): Guidance | null {
  if (options.guided !== true) return null;
  if (options.guidance !== undefined) return options.guidance;
  const pilotRuns = pilotRunsOf(options.runs);
  if (pilotRuns >= options.runs) return null;
  const pilot: PilotRun[] = [];
  fc.check(
    fc.property(traceArbitrary(design.commands, generation(design, options)), (templates) => {
      const firstAt: Record<string, number> = {};
      const meet = (situation: string, step: number): void => {
        firstAt[situation] ??= step;
      };
      const trace = runTrace(design, templates, { stopAtFirst: false, onReach: meet });
      trace.steps.forEach((step, index) => {
        if (step.result.ok) meet(outcomeSituation(step.command, step.result), index + 1);
      });
      pilot.push({ firstAt, templates });
      return true;
    }),
    { seed: options.seed, numRuns: pilotRuns },
  );
  return learnGuidance(pilot);
}

/** The runs' arbitrary: the design's generation, and after the pilot half of the runs from its seeds. */
export function searchArbitrary(
  design: AnyDesign,
  options: CheckOptions,
  guidance: Guidance | null,
): fc.Arbitrary<unknown[]> {
  const plain = traceArbitrary(design.commands, generation(design, options));
  if (guidance === null) return plain;
  return new SwitchingArbitrary(plain, guidance.pilotRuns, () =>
    guidedArbitrary(plain, guidance, generation(design, options).maxCommands),
  );
}

/** True when run `run` (1-based) belongs to the shard (every run when there is none). */
export function inShard(run: number, shard: Shard | undefined | null): boolean {
  return shard === undefined || shard === null || (run - 1) % shard.count === shard.index - 1;
}

/**
 * Searches the runs up to `options.runs` (this shard's only) for a trace that `fails`, then lets
 * fast-check shrink it. Null when none fails or the search was stopped first.
 */
function searchAndShrink(
  design: AnyDesign,
  options: CheckOptions,
  fails: (templates: unknown[]) => boolean,
): { templates: unknown[]; first: unknown[]; path: string | null; shrinks: number; foundLength: number } | null {
  const arbitrary = searchArbitrary(design, options, guidanceFor(design, options));
  const stop = options.shouldStop ?? ((): boolean => false);
  let run = 0;
  let searching = true;
  let stopped = false;
  let foundLength = 0;
  let first: unknown[] = [];
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      if (stopped || stop()) {
        // Stopped: every remaining run or shrink candidate passes, which ends the search fast.
        stopped = true;
        return true;
      }
      if (searching) {
        run += 1;
        if (!inShard(run, options.shard)) return true;
      }
      if (!fails(templates)) return true;
      if (searching) {
        foundLength = templates.length;
        first = templates;
      }
      searching = false;
      return false;
    }),
    parameters(options, false),
  );
  if (!details.failed || details.counterexample === null) return null;
  return {
    templates: details.counterexample[0],
    first,
    path: details.counterexamplePath,
    shrinks: details.numShrinks,
    foundLength,
  };
}

/** A minimization predicate that gives up (nothing smaller fails) once the check is asked to stop. */
function unlessStopped(
  options: CheckOptions,
  fails: (commands: unknown[]) => boolean,
): (commands: unknown[]) => boolean {
  const stop = options.shouldStop;
  return stop === undefined ? fails : (commands) => !stop() && fails(commands);
}

/** The deterministic minimization after fast-check's shrinking, unless the check asked for none. */
function minimizeUnless(
  options: CheckOptions,
  shrunk: unknown[],
  fails: (commands: unknown[]) => boolean,
): { commands: unknown[]; attempts: number } {
  if (options.minimize === false) return { commands: shrunk, attempts: 0 };
  return minimize(shrunk as object[], unlessStopped(options, fails));
}

/**
 * The shorter of fast-check's shrunk trace and the trace first found (the shrunk one on a tie).
 * Shrinking a sequence and its preemptions apart can make a longer trace fail (a preemption shrunk
 * away lets another one's window in), and the minimizer should start from the shorter.
 */
export function shorterOf(shrunk: unknown[], found: unknown[]): unknown[] {
  return found.length < shrunk.length ? found : shrunk;
}

/** The executed prefix of `templates` up to the first violation of `invariant`, as concrete commands. */
function failingPrefix(design: AnyDesign, templates: readonly unknown[], invariant: string): unknown[] {
  return runTrace(design, templates, { invariants: [invariant] }).steps.map((step) => step.command);
}

/** Searches for a trace breaking `invariant` alone, then shrinks and minimizes it. */
export function counterexampleFor(design: AnyDesign, invariant: string, options: CheckOptions): Counterexample | null {
  const found = searchAndShrink(
    design,
    options,
    (templates) => runTrace(design, templates, { invariants: [invariant] }).violations.length > 0,
  );
  if (found === null) return null;
  const shrunk = shorterOf(
    failingPrefix(design, found.templates, invariant),
    failingPrefix(design, found.first, invariant),
  );
  const minimized = minimizeUnless(options, shrunk, (commands) => violates(design, commands, invariant));
  const search =
    options.shortest === undefined || options.shouldStop?.() === true
      ? null
      : searchShorter(design, invariant, minimized.commands.length, options.shortest.maxStates);
  return describeCounterexample(design, invariant, search?.commands ?? minimized.commands, {
    replay: { seed: options.seed, path: found.path },
    foundLength: found.foundLength,
    shrunkLength: shrunk.length,
    shrinks: found.shrinks,
    minimizeAttempts: minimized.attempts,
    ...(search === null
      ? {}
      : {
          shortest: { outcome: search.outcome, minimizedLength: minimized.commands.length, states: search.states },
        }),
  });
}

/** The commands of a crashing trace up to and including the one that threw. */
function crashingPrefix(design: AnyDesign, templates: readonly unknown[], crash: Crash): unknown[] {
  const run = runTrace(design, templates, {
    invariants: crash.invariant === null ? [] : [crash.invariant],
    strict: crash.name === 'PurityError',
  });
  const commands = run.steps.map((step) => step.command);
  // `resolve` and `step` throw before their step is recorded: the template itself is the last command.
  if (run.crash !== null && (run.crash.site === 'resolve' || run.crash.site === 'step')) {
    commands.push(templates[run.steps.length]);
  }
  return commands;
}

/** Searches for a trace that crashes as `crash` did, then shrinks and minimizes it. */
export function crashReportFor(design: AnyDesign, crash: Crash, options: CheckOptions): CrashReport | null {
  const found = searchAndShrink(design, options, (templates) => crashesLike(design, templates, crash));
  if (found === null) return null;
  const shrunk = shorterOf(crashingPrefix(design, found.templates, crash), crashingPrefix(design, found.first, crash));
  const minimized = minimizeUnless(options, shrunk, (commands) => crashesLike(design, commands, crash));
  return describeCrash(design, crash, minimized.commands, {
    replay: { seed: options.seed, path: found.path },
    foundLength: found.foundLength,
    shrunkLength: shrunk.length,
    shrinks: found.shrinks,
    minimizeAttempts: minimized.attempts,
  });
}

type Provenance = Pick<Counterexample, 'replay' | 'foundLength' | 'shrunkLength' | 'shrinks' | 'minimizeAttempts'>;

/** Replays minimized commands and records each step's result and the violation. */
export function describeCounterexample(
  design: AnyDesign,
  invariant: string,
  commands: readonly unknown[],
  provenance: Provenance,
): Counterexample {
  const run = runTrace(design, commands, { invariants: [invariant] });
  const found = run.violations[0];
  if (found === undefined) throw new Error(`${design.id}: minimized trace no longer violates ${invariant}`);
  return {
    invariant,
    class: found.class,
    violation: found.violation,
    length: run.steps.length,
    steps: run.steps.map((step) => step.command),
    executed: run.steps,
    ...provenance,
  };
}

/** Replays minimized commands that crash: the steps that returned, and the crash itself. */
export function describeCrash(
  design: AnyDesign,
  like: Crash,
  commands: readonly unknown[],
  provenance: Provenance,
): CrashReport {
  const run = runTrace(design, commands, {
    invariants: like.invariant === null ? [] : [like.invariant],
    strict: like.name === 'PurityError',
  });
  if (run.crash === null) throw new Error(`${design.id}: minimized trace no longer crashes`);
  return {
    crash: run.crash,
    length: commands.length,
    steps: commands,
    executed: run.steps,
    ...provenance,
  };
}

/** What a check's search found, before a verdict is reached (one shard's, or several merged). */
interface Findings {
  readonly runs: number;
  readonly cutShort: CutShort | null;
  readonly brokenAt: ReadonlyMap<string, number>;
  readonly crashedAt: { readonly run: number; readonly crash: Crash } | null;
  readonly stats: RunStats;
}

/** A reach label below its floor: the runs that reached it, and the runs its floor requires. */
export interface UnreachedLabel {
  readonly label: string;
  readonly runs: number;
  readonly required: number;
}

/** Runs in 1,000 a reach label must be reached in when the design names no floor for it. */
export const DEFAULT_REACH_FLOOR = 1;

/** The runs out of `runs` that must reach `label`: its floor per 1,000, scaled down and rounded down. */
export function requiredReach(design: Pick<AnyDesign, 'reachFloors'>, label: string, runs: number): number {
  const floor = design.reachFloors?.[label] ?? DEFAULT_REACH_FLOOR;
  return Math.floor((floor * runs) / 1000);
}

/** The design's reach labels that fewer runs reached than their floor requires. */
function unreachedLabels(design: AnyDesign, stats: RunStats, runs: number): UnreachedLabel[] {
  return (design.reach ?? []).flatMap((label) => {
    const reached = stats.reachRuns[label] ?? 0;
    const required = requiredReach(design, label, runs);
    return reached < required ? [{ label, runs: reached, required }] : [];
  });
}

/** The kinds of the design that no run executed. */
function unexecutedKinds(design: AnyDesign, stats: RunStats): string[] {
  return design.commands.kinds.filter((kind) => (stats.executed[kind] ?? 0) === 0);
}

function plural(count: number, noun: string): string {
  return `${count} ${noun}${count === 1 ? '' : 's'}`;
}

/** The verdict, whether it meets the design's expectation, and why not, from what the search found. */
export function decide(
  design: AnyDesign,
  findings: Findings,
): Pick<DesignCheck, 'verdict' | 'met' | 'reason' | 'missing' | 'undeclared' | 'unexecuted' | 'unreached'> {
  const broken = design.invariants.map((invariant) => invariant.name).filter((name) => findings.brokenAt.has(name));
  const flawed = design.expected === 'violates';
  const missing = flawed ? design.breaks.filter((name) => !findings.brokenAt.has(name)) : [];
  const undeclared = flawed ? broken.filter((name) => !design.breaks.includes(name)) : [];
  const unexecuted = unexecutedKinds(design, findings.stats);
  const unreached = unreachedLabels(design, findings.stats, findings.runs);
  const common = { missing, undeclared, unexecuted, unreached };
  if (findings.crashedAt !== null) {
    const { crash, run } = findings.crashedAt;
    return {
      verdict: 'crashed',
      met: false,
      reason: `the design's code threw at ${crashWhere(crash)} of run ${run}: ${crash.name}: ${crash.message}`,
      ...common,
    };
  }
  if (broken.length > 0) {
    if (!flawed)
      return { verdict: 'violated', met: false, reason: `a sound design broke ${broken.join(', ')}`, ...common };
    if (missing.length === 0) return { verdict: 'violated', met: true, reason: null, ...common };
    const where =
      findings.cutShort === null
        ? `in ${plural(findings.runs, 'run')}`
        : `before ${cutWords(findings.cutShort)} (${plural(findings.runs, 'run')})`;
    return {
      verdict: 'violated',
      met: false,
      reason: `declared breaks not found ${where}: ${missing.join(', ')}`,
      ...common,
    };
  }
  if (findings.cutShort !== null) {
    return {
      verdict: 'inconclusive',
      met: false,
      reason: `${findings.cutShort === 'time limit' ? 'time limit reached' : 'interrupted'} after ${plural(findings.runs, 'run')} with nothing found`,
      ...common,
    };
  }
  if (findings.runs === 0) return { verdict: 'inconclusive', met: false, reason: 'no run was made', ...common };
  if (unexecuted.length > 0) {
    return {
      verdict: 'inconclusive',
      met: false,
      reason: `${plural(unexecuted.length, 'command kind')} never executed in ${plural(findings.runs, 'run')}: ${unexecuted.join(', ')}`,
      ...common,
    };
  }
  if (unreached.length > 0) {
    const each = unreached.map(({ label, runs, required }) => `${label} (${runs} of the ${required} required)`);
    return {
      verdict: 'inconclusive',
      met: false,
      reason: `${plural(unreached.length, 'reach label')} below its floor in ${plural(findings.runs, 'run')}: ${each.join(', ')}`,
      ...common,
    };
  }
  if (flawed) {
    return {
      verdict: 'holds',
      met: false,
      reason: `no declared break found in ${plural(findings.runs, 'run')}: ${missing.join(', ')}`,
      ...common,
    };
  }
  return { verdict: 'holds', met: true, reason: null, ...common };
}

/**
 * What a check comes to: met; unmet when its verdict contradicts the expectation (a sound design
 * that broke an invariant however short the search, a flawed one not caught over its whole
 * budget); crashed; or inconclusive, when the search could not decide (a flawed design whose
 * search was cut short before it found every declared break, or nothing found and nothing decided).
 */
export function outcomeOf(check: Pick<DesignCheck, 'met' | 'verdict' | 'expected' | 'cutShort'>): Outcome {
  if (check.verdict === 'crashed') return 'crashed';
  if (check.met) return 'met';
  if (check.verdict === 'inconclusive') return 'inconclusive';
  if (check.expected === 'holds') return 'unmet';
  return check.cutShort === null ? 'unmet' : 'inconclusive';
}

export function checkDesign<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  options: CheckOptions,
): DesignCheck<C> {
  const design: AnyDesign = typed;
  assertWellFormed(design);
  const started = performance.now();
  const guidance = guidanceFor(design, options);
  const arbitrary = searchArbitrary(design, options, guidance);
  const reported = new Set(selectInvariants(design, options.report).map((invariant) => invariant.name));
  const stop = options.shouldStop ?? ((): boolean => false);
  // One pass over the whole budget, every invariant checked, each invariant's first failing run recorded.
  // Generation does not depend on the property, so a later search with the same seed meets the
  // same traces in the same order and finds that failure again at that run.
  const brokenAt = new Map<string, number>();
  let runs = 0;
  let lastRun = 0;
  let firstFailure: FirstFailure | null = null;
  let crashedAt: { run: number; crash: Crash } | null = null;
  let crashedRuns = 0;
  let stopped = false;
  let reportedAll = false;
  const stats = createStats();
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      if (stop()) {
        stopped = true;
        return false;
      }
      lastRun += 1;
      if (!inShard(lastRun, options.shard)) return true;
      runs += 1;
      options.onRun?.(runs);
      const trace = runTrace(design, templates, { stopAtFirst: false, stats, strict: options.strict ?? false });
      for (const found of trace.violations) {
        if (!brokenAt.has(found.invariant)) brokenAt.set(found.invariant, lastRun);
        firstFailure ??= { run: lastRun, elapsedMs: performance.now() - started, invariant: found.invariant };
      }
      if (trace.crash !== null) {
        crashedRuns += 1;
        crashedAt ??= { run: lastRun, crash: trace.crash };
      }
      // With a named, non-empty report list, the pass ends once every one of them is broken: more
      // runs could not change their counterexamples, and the verdict is already "violated".
      reportedAll =
        options.report !== undefined && options.report.length > 0 && options.report.every((name) => brokenAt.has(name));
      return !reportedAll;
    }),
    parameters(options, true),
  );
  const cutShort: CutShort | null = stopped
    ? 'interrupted'
    : details.interrupted
      ? 'time limit'
      : reportedAll && lastRun < options.runs
        ? 'report'
        : null;
  const violations: Counterexample[] = [];
  for (const invariant of design.invariants) {
    const run = brokenAt.get(invariant.name);
    if (run === undefined || !reported.has(invariant.name) || stop()) continue;
    const counterexample = counterexampleFor(design, invariant.name, {
      ...options,
      runs: run,
      ...(guidance === null ? {} : { guidance }),
    });
    if (counterexample !== null) violations.push(counterexample);
  }
  const crashed = crashedAt as { run: number; crash: Crash } | null;
  const crash =
    crashed === null || stop()
      ? null
      : crashReportFor(design, crashed.crash, {
          ...options,
          runs: crashed.run,
          ...(guidance === null ? {} : { guidance }),
        });
  const decided = decide(design, { runs, cutShort, brokenAt, crashedAt: crashed, stats });
  return {
    design: design.id,
    stack: design.stack,
    expected: design.expected,
    ...decided,
    outcome: outcomeOf({ ...decided, expected: design.expected, cutShort }),
    runs,
    lastRun,
    seed: options.seed,
    budget: budgetOf(options),
    elapsedMs: performance.now() - started,
    interrupted: cutShort !== null || stop(),
    cutShort,
    firstFailure,
    brokenAt: design.invariants.flatMap((invariant) => {
      const run = brokenAt.get(invariant.name);
      return run === undefined ? [] : [{ invariant: invariant.name, run }];
    }),
    // The commands are the design's own, resolved by it: `C` at run time.
    violations: violations as Counterexample<C>[],
    crashedAt: crashed,
    crashedRuns,
    crash: crash as CrashReport<C> | null,
    stats,
    guidance,
  };
}

function budgetOf(options: CheckOptions): CheckBudget {
  return {
    runs: options.runs,
    generation: options.generation ?? {},
    shard: options.shard ?? null,
    timeLimitMs: options.timeLimitMs ?? null,
    report: options.report === undefined ? null : [...options.report],
    strict: options.strict ?? false,
    guided: options.guided ?? false,
  };
}
