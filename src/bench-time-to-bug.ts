/**
 * Time to bug: per flawed design, over fresh seeds, `checkDesign`'s first failure (run, wall time),
 * the first run that broke each invariant, on how many seeds every declared break was found, and
 * the shrinking, re-run phase by phase (fast-check's shrink, then `minimize`) to time each phase
 * and count its successful steps — the engine does not expose them.
 */
import fc from 'fast-check';
import type { BenchSettings } from './bench-settings.js';
import { round, spread, timed } from './bench-measure.js';
import type { Spread } from './bench-measure.js';
import { checkDesign, generation, shorterOf } from './check.js';
import type { Counterexample } from './check.js';
import type { AnyDesign } from './design.js';
import { runTrace } from './execute.js';
import { traceArbitrary } from './generate.js';
import { minimize } from './minimize.js';

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
  /** Invariants the design declares in `breaks` that the budget did not break on this seed. */
  readonly missing: readonly string[];
}

/** One declared break over the seeds: on how many the budget broke it, and the first run that did. */
export interface DeclaredBreak {
  readonly invariant: string;
  readonly seeds: number;
  readonly runs: Spread | null;
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
  /** The invariants the design declares it breaks (`breaks`): a check meets its expectation only when it breaks them all. */
  readonly declared: readonly string[];
  /** Seeds on which the budget broke every declared invariant. */
  readonly declaredFound: number;
  /** Each declared invariant, in declaration order, broken or not. */
  readonly declaredByInvariant: readonly DeclaredBreak[];
  /** Every re-run matched `checkDesign`'s counterexample. */
  readonly consistent: boolean;
  readonly perSeed: readonly SeedTimeToBug[];
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
  let first: unknown[] = [];
  let candidates = 0;
  const details = fc.check(
    fc.property(arbitrary, (templates) => {
      if (failedAt !== null) candidates += 1;
      const found = runTrace(design, templates, { invariants: [invariant] });
      if (found.violations.length === 0) return true;
      if (failedAt === null) {
        failedAt = performance.now();
        foundLength = found.steps.length;
        first = found.steps.map((step) => step.command);
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
  const shrunk = shorterOf(
    runTrace(design, counterexample[0], { invariants: [invariant] }).steps.map((step) => step.command),
    first,
  );
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
    missing: design.breaks.filter((name) => !check.brokenAt.some((broken) => broken.invariant === name)),
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
    declared: design.breaks,
    declaredFound: perSeed.filter((row) => row.missing.length === 0).length,
    declaredByInvariant: design.breaks.map((invariant) => {
      const runs = shrinks.filter((shrink) => shrink.invariant === invariant).map((shrink) => shrink.run);
      return { invariant, seeds: runs.length, runs: spread(runs) };
    }),
    consistent: shrinks.every((shrink) => shrink.matchesCheck),
    perSeed,
  };
}
