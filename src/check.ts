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
import type { AnyDesign, Expectation, InvariantClass, Violation } from './design.js';
import { runTrace, selectInvariants, violates } from './execute.js';
import type { Crash } from './execute.js';
import { defaultGeneration, traceArbitrary } from './generate.js';
import type { GenerationOptions } from './generate.js';
import { minimize } from './minimize.js';
import { createStats } from './stats.js';
import type { RunStats } from './stats.js';

export type Verdict = 'holds' | 'violated';

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
  /** Called after each run of the main pass (progress display). */
  readonly onRun?: (run: number) => void;
}

export interface CounterexampleStep {
  readonly command: unknown;
  readonly result: OpResult;
}

export interface Counterexample {
  readonly invariant: string;
  readonly class: InvariantClass;
  readonly violation: Violation;
  /** Steps of the minimized counterexample. */
  readonly length: number;
  /** The commands, as data: replaying them through the design reproduces the violation. */
  readonly steps: readonly unknown[];
  /** The same commands with their results. */
  readonly executed: readonly CounterexampleStep[];
  /** Where it was found: the search's seed and fast-check's replay path, and the sizes on the way down. */
  readonly replay: { readonly seed: number; readonly path: string | null };
  readonly foundLength: number;
  readonly shrunkLength: number;
  readonly shrinks: number;
  readonly minimizeAttempts: number;
}

/**
 * An exception thrown by the design's code, shrunk like a violation: the shortest trace found
 * that throws the same kind of error from the same place, its steps up to the throw, and the
 * error itself. A crash is a finding: it never meets an expectation.
 */
export interface CrashReport {
  readonly crash: Crash;
  /** Steps of the minimized trace, the throwing one included. */
  readonly length: number;
  /** The commands, as data: replaying them throws again. */
  readonly steps: readonly unknown[];
  /** The steps that returned, with their results (the throwing one has none when it threw in `resolve` or `step`). */
  readonly executed: readonly CounterexampleStep[];
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

export interface DesignCheck {
  readonly design: string;
  readonly stack: string;
  readonly expected: Expectation;
  readonly verdict: Verdict;
  /** The verdict is the expected one. */
  readonly met: boolean;
  /** Sequences generated and run with every invariant checked (the whole budget unless stopped early). */
  readonly runs: number;
  readonly seed: number;
  readonly elapsedMs: number;
  readonly interrupted: boolean;
  readonly firstFailure: FirstFailure | null;
  /** Each broken invariant with the first run that broke it, in the design's invariant order. */
  readonly brokenAt: readonly { readonly invariant: string; readonly run: number }[];
  readonly violations: readonly Counterexample[];
  /** What the main pass generated, executed and checked. */
  readonly stats: RunStats;
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

/** The executed prefix of `templates` up to the first violation of `invariant`, as concrete commands. */
function failingPrefix(design: AnyDesign, templates: readonly unknown[], invariant: string): unknown[] {
  return runTrace(design, templates, { invariants: [invariant] }).steps.map((step) => step.command);
}

/** Searches for a trace breaking `invariant` alone, then shrinks and minimizes it. */
export function counterexampleFor(design: AnyDesign, invariant: string, options: CheckOptions): Counterexample | null {
  const arbitrary = traceArbitrary(design.commands, generation(design, options));
  let foundLength = 0;
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      const found = runTrace(design, templates, { invariants: [invariant] });
      if (found.violations.length === 0) return true;
      if (foundLength === 0) foundLength = found.steps.length;
      return false;
    }),
    parameters(options, false),
  );
  if (!details.failed || details.counterexample === null) return null;
  const shrunk = failingPrefix(design, details.counterexample[0], invariant);
  const minimized = minimize(shrunk as object[], (commands) => violates(design, commands, invariant));
  return describeCounterexample(design, invariant, minimized.commands, {
    replay: { seed: options.seed, path: details.counterexamplePath },
    foundLength,
    shrunkLength: shrunk.length,
    shrinks: details.numShrinks,
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

export function checkDesign(design: AnyDesign, options: CheckOptions): DesignCheck {
  const started = performance.now();
  const arbitrary = traceArbitrary(design.commands, generation(design, options));
  const reported = new Set(selectInvariants(design, options.report).map((invariant) => invariant.name));
  // One pass over the whole budget, every invariant checked, each invariant's first failing run recorded.
  // Generation does not depend on the property, so a later search with the same seed meets the
  // same traces in the same order and finds that failure again at that run.
  const firstRunBroken = new Map<string, number>();
  let runs = 0;
  let firstFailure: FirstFailure | null = null;
  const stats = createStats();
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      runs += 1;
      options.onRun?.(runs);
      for (const found of runTrace(design, templates, { stopAtFirst: false, stats }).violations) {
        if (!firstRunBroken.has(found.invariant)) firstRunBroken.set(found.invariant, runs);
        firstFailure ??= { run: runs, elapsedMs: performance.now() - started, invariant: found.invariant };
      }
      // With a named, non-empty report list, the pass ends once every one of them is broken: more
      // runs could not change their counterexamples, and the verdict is already "violated".
      return !(
        options.report !== undefined &&
        options.report.length > 0 &&
        options.report.every((name) => firstRunBroken.has(name))
      );
    }),
    parameters(options, true),
  );
  const violations: Counterexample[] = [];
  for (const invariant of design.invariants) {
    const run = firstRunBroken.get(invariant.name);
    if (run === undefined || !reported.has(invariant.name)) continue;
    const counterexample = counterexampleFor(design, invariant.name, { ...options, runs: run });
    if (counterexample !== null) violations.push(counterexample);
  }
  const verdict: Verdict = firstRunBroken.size > 0 ? 'violated' : 'holds';
  return {
    design: design.id,
    stack: design.stack,
    expected: design.expected,
    verdict,
    met: (verdict === 'holds') === (design.expected === 'holds'),
    runs,
    seed: options.seed,
    elapsedMs: performance.now() - started,
    interrupted: details.interrupted,
    firstFailure,
    brokenAt: design.invariants.flatMap((invariant) => {
      const run = firstRunBroken.get(invariant.name);
      return run === undefined ? [] : [{ invariant: invariant.name, run }];
    }),
    violations,
    stats,
  };
}
