/**
 * dmaprop in a user's own vitest suite (`import { testDesign, testCorpus } from 'dmaprop/vitest'`),
 * in the spirit of `@fast-check/vitest`:
 *
 *     testDesign(myVariant);                       // one test: fails with dmaprop's full report
 *     testCorpus('test/regressions', [myVariant]); // one test per corpus entry
 *
 * A failing check throws `DesignCheckFailure`, whose message is the report `dmaprop check` prints
 * (each counterexample's steps with their results and the state that matters, the violation,
 * the replay line). Seeds are fixed (Standards: tests use fixed seeds): `DMAPROP_SEED`, or 1.
 * The purity guard is on unless `strict: false`.
 *
 * @module dmaprop/vitest
 */
import { describe, test } from 'vitest';
import { checkDesign } from './check.js';
import type { CheckOptions, DesignCheck } from './check.js';
import { formatReplayProblem, replayCorpusFile, scanCorpus } from './corpus.js';
import type { AnyDesign, Command, Design } from './design.js';
import { explainTrace, formatExplainedSteps } from './explain-trace.js';
import { formatDesignCheck } from './report.js';
import { SEED_VARIABLE } from './seed.js';

export interface DesignTestOptions extends Partial<Omit<CheckOptions, 'onRun' | 'shouldStop'>> {
  /** The test's name; the design's id and expectation by default. */
  readonly name?: string;
  /** The config file that exports the design, so the report's replay line runs it (`--config`). */
  readonly config?: string;
  /** vitest's timeout for the test, in ms (default 60 s). */
  readonly timeoutMs?: number;
}

/** The seed a test runs with: `DMAPROP_SEED` when set (a CI matrix, a replay), else 1. */
export function testSeed(env: Readonly<Record<string, string | undefined>> = process.env): number {
  const given = env[SEED_VARIABLE];
  return given !== undefined && /^\d+$/.test(given) ? Number(given) : 1;
}

/** A check that did not meet its design's expectation, with dmaprop's whole report as its message. */
export class DesignCheckFailure extends Error {
  readonly check: DesignCheck;
  constructor(check: DesignCheck, report: string) {
    super(report);
    this.name = 'DesignCheckFailure';
    this.check = check;
  }
}

/** The report of a check, each counterexample followed by its steps with the state that matters. */
export function checkReport(check: DesignCheck, design: AnyDesign, config?: string): string {
  const lines = [formatDesignCheck(check, design, config)];
  for (const counterexample of [...check.violations, ...(check.crash === null ? [] : [check.crash])]) {
    const title = 'invariant' in counterexample ? counterexample.invariant : `crash (${counterexample.crash.name})`;
    lines.push('', `  ${title}, step by step:`);
    lines.push(...formatExplainedSteps(design, explainTrace(design, counterexample.steps), '  '));
  }
  return lines.join('\n');
}

/** Checks the design and returns the check when it meets its expectation; throws `DesignCheckFailure` otherwise. */
export function expectDesignMeets<S, C extends T, T extends Command>(
  design: Design<S, C, T>,
  options: DesignTestOptions = {},
): DesignCheck<C> {
  // The test's own options (name, timeout, config) are not the check's, but none changes a search.
  const check = checkDesign(design, { seed: testSeed(), runs: 1000, strict: true, ...options });
  if (!check.met) throw new DesignCheckFailure(check, checkReport(check, design, options.config));
  return check;
}

/** Registers a vitest test that checks the design and fails with dmaprop's full report. */
export function testDesign<S, C extends T, T extends Command>(
  design: Design<S, C, T>,
  options: DesignTestOptions = {},
): void {
  const name = options.name ?? `${design.id} ${design.expected === 'holds' ? 'holds' : 'is caught'}`;
  test(name, () => void expectDesignMeets(design, options), options.timeoutMs ?? 60_000);
}

/**
 * Registers one test per file of the corpus below `root`, replayed against `designs` (yours, the
 * built-in ones, or both): each fails with what no longer holds for its entry. A corpus with no
 * entry registers one test that fails, so a wrong path is not a silent pass.
 */
export function testCorpus(root: string, designs: readonly AnyDesign[]): void {
  const scan = scanCorpus(root);
  describe(`corpus ${root}`, () => {
    if (scan.files.length === 0 && scan.problems.length === 0) {
      test('has entries', () => {
        throw new Error(`no corpus entry below ${root}`);
      });
    }
    for (const problem of scan.problems) {
      test(problem.file, () => {
        throw new Error(formatReplayProblem(problem));
      });
    }
    for (const path of scan.files) {
      test(path, () => {
        const problems = replayCorpusFile(root, path, designs);
        if (problems.length > 0) throw new Error(problems.map(formatReplayProblem).join('\n'));
      });
    }
  });
}
