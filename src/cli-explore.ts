/**
 * `dmaprop explore`: exhaustive breadth-first search of designs in their stack's small scope, up
 * to a depth. Reports the shortest counterexample of each broken invariant (the same report and
 * JSON shape as `check`, savable to the corpus), or "no violation up to depth K" with the number
 * of distinct states and transitions explored.
 */
import { selectDesigns } from './cli-check.js';
import { formatSaveOutcome, formatSaveSummary, savedJson } from './cli-saved.js';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { entryFor, entryForCrash, saveEntry } from './corpus.js';
import type { SaveOutcome } from './corpus.js';
import type { AnyDesign } from './design.js';
import { crashesLike } from './execute.js';
import { exploreDesign } from './explore.js';
import type { ExploreResult } from './explore.js';
import { terminalProgress } from './progress.js';
import {
  counterexampleJson,
  crashJson,
  formatCounterexample,
  formatCrashReport,
  formatMs,
  outcomeMark,
} from './report.js';
import { EXIT_INTERRUPTED, EXIT_USAGE, exitStatus } from './exit-codes.js';
import type { Outcome } from './exit-codes.js';
import { checkOutputDirectory, OutputPathError } from './output-path.js';
import type { Shard } from './shard.js';
import { exploreRow } from './html/report-model.js';
import { writeHtmlReport } from './html/write-report.js';

export interface ExploreFlags {
  readonly design?: string[];
  /** `--depth K`; absent with `--time-limit` alone: as deep as the time allows (`MAX_EXPLORE_DEPTH`). */
  readonly depth?: number;
  /** `--time-limit S`: a wall-clock limit per design's search, in seconds. */
  readonly timeLimit?: number;
  readonly maxStates: number;
  readonly shard?: Shard;
  readonly save?: boolean;
  readonly corpus: string;
  readonly json?: boolean;
  /** `--partial-order`: skip the other order of commands the scope's footprints call independent. */
  readonly partialOrder?: boolean;
  /** `--workers N`: a parallel search on N worker threads (the same result). */
  readonly workers?: number;
  /** `--html DIR`: write an HTML report of the run there (index.html and a page per counterexample). */
  readonly html?: string;
  /** False with `--no-flat`: search the state objects even where the scope gives a flat encoding. */
  readonly flat?: boolean;
}

/** The deepest `--depth` (and the depth a search with `--time-limit` alone goes to). */
export const MAX_EXPLORE_DEPTH = 64;

/** The run's bounds in words: the depth, the time limit, the state limit. */
function searchBounds(flags: ExploreFlags, depth: number): string {
  const time = flags.timeLimit === undefined ? '' : `${flags.timeLimit} s per design, `;
  const to = flags.depth === undefined ? 'as deep as the time allows' : `to depth ${depth}`;
  return `breadth-first ${to}, ${time}at most ${flags.maxStates} states`;
}

function perSecond(count: number, ms: number): string {
  return ms <= 0 ? '–' : String(Math.round((count * 1000) / ms));
}

/**
 * The designs to explore: the named ones (each must declare a scope), or every design that
 * declares one — and those that do not, so that the run says it left them out.
 */
function exploredDesigns(
  registry: readonly AnyDesign[],
  ids: readonly string[] | undefined,
): { explored: AnyDesign[]; skipped: AnyDesign[] } {
  if (ids === undefined || ids.length === 0) {
    return {
      explored: registry.filter((design) => design.explore !== undefined),
      skipped: registry.filter((design) => design.explore === undefined),
    };
  }
  const selected = selectDesigns(registry, ids);
  const without = selected.find((design) => design.explore === undefined);
  if (without !== undefined) {
    throw new UsageError(`design '${without.id}' (stack ${without.stack}) declares no explore scope`);
  }
  return { explored: selected, skipped: [] };
}

export function formatExploreResult(result: ExploreResult, design?: AnyDesign): string {
  const slept = result.slept > 0 ? ` (${result.slept} more skipped by partial-order reduction)` : '';
  const engine = result.engine === 'flat' ? ', flat encoding' : '';
  const size = `${result.states} states, ${result.transitions} transitions${slept}, ${formatMs(result.elapsedMs)} (${perSecond(result.states, result.elapsedMs)} states/s, ${perSecond(result.transitions, result.elapsedMs)} transitions/s${engine})`;
  const shard = result.shard === null ? '' : ` [shard ${result.shard.index}/${result.shard.count}]`;
  let outcome: string;
  if (result.verdict === 'holds')
    outcome = `no violation up to depth ${result.depth}${result.exhausted ? ' (every reachable state visited)' : ''}`;
  else if (result.verdict === 'inconclusive') outcome = `no violation up to depth ${result.depthReached}`;
  else if (result.verdict === 'crashed') outcome = `the design's code threw`;
  else {
    const count = result.violations.length;
    outcome = `${count} invariant${count === 1 ? '' : 's'} broken within depth ${result.depth}`;
  }
  const lines = [
    `${result.design} [${result.stack}] expected ${result.expected}, ${result.verdict} ${outcomeMark(result.outcome)}${shard} — ${outcome}: ${size}`,
  ];
  if (design?.explore !== undefined) lines.push(`  scope: ${design.explore.description}`);
  if (result.message !== null) lines.push(`  ${result.message}`);
  if (result.crash !== null) {
    for (const line of formatCrashReport(result.crash, design)) {
      if (line.startsWith('    found at ')) lines.push(`    shortest: no sequence of fewer steps in the scope throws`);
      else lines.push(line);
    }
  }
  for (const counterexample of result.violations) {
    for (const line of formatCounterexample(counterexample, design)) {
      // check's provenance line (found at, shrunk to, minimized to) means nothing here.
      if (line.startsWith('    found at ')) {
        lines.push(`    shortest: no sequence of fewer steps in the scope breaks it (breadth-first search)`);
      } else lines.push(line);
    }
  }
  return lines.join('\n');
}

/** The JSON of one exploration (the CLI contract; extra fields may be added, none removed). */
export function exploreJson(result: ExploreResult): Record<string, unknown> {
  return {
    design: result.design,
    stack: result.stack,
    expected: result.expected,
    depth: result.depth,
    depthReached: result.depthReached,
    states: result.states,
    transitions: result.transitions,
    partialOrder: result.partialOrder,
    slept: result.slept,
    engine: result.engine ?? 'objects',
    elapsedMs: Math.round(result.elapsedMs),
    verdict: result.verdict,
    met: result.met,
    outcome: result.outcome,
    exhausted: result.exhausted,
    missing: result.missing,
    interrupted: result.interrupted,
    timeLimited: result.timeLimited === true,
    limitReached: result.limitReached,
    message: result.message,
    maxStates: result.maxStates,
    shard: result.shard,
    violations: result.violations.map(counterexampleJson),
    crash: result.crash === null ? null : crashJson(result.crash),
  };
}

/** How deep the search that found a counterexample went, in words. */
function searchedTo(result: ExploreResult): string {
  return result.timeLimited === true
    ? `in ${Math.round(result.elapsedMs / 1000)} s, cut at depth ${result.depthReached + 1}`
    : `at depth ${result.depth}`;
}

function saveFindings(flags: ExploreFlags, design: AnyDesign, result: ExploreResult): SaveOutcome[] {
  const outcomes = result.violations.map((counterexample) => {
    const entry = entryFor(design, counterexample, 0);
    const message = `${counterexample.violation.message} (found by dmaprop explore ${searchedTo(result)}: shortest, ${counterexample.length} step${counterexample.length === 1 ? '' : 's'})`;
    return saveEntry(flags.corpus, { ...entry, message });
  });
  // A crash whose trace replays (not one in the scope's own code) is saved like a violation.
  if (result.crash !== null && crashesLike(design, result.crash.steps, result.crash.crash)) {
    outcomes.push(saveEntry(flags.corpus, entryForCrash(design, result.crash, 0)));
  }
  return outcomes;
}

export function runExplore(
  flags: ExploreFlags,
  io: CliIo,
  registry: readonly AnyDesign[],
  configFile: string | null = null,
): number {
  if (flags.depth === undefined && flags.timeLimit === undefined) {
    throw new UsageError('explore needs --depth, --time-limit or both');
  }
  const depth = flags.depth ?? MAX_EXPLORE_DEPTH;
  const { explored: selected, skipped } = exploredDesigns(registry, flags.design);
  const workers = flags.workers ?? 1;
  if (workers > 1 && flags.partialOrder === true) throw new UsageError('--workers and --partial-order do not combine');
  if (workers > 1 && flags.shard !== undefined) throw new UsageError('--workers and --shard do not combine');
  for (const [directory, flag] of [
    [flags.save === true ? flags.corpus : undefined, '--corpus'],
    [flags.html, '--html'],
  ] as const) {
    if (directory === undefined) continue;
    try {
      checkOutputDirectory(directory, flag);
    } catch (error) {
      if (error instanceof OutputPathError) throw new UsageError(error.message);
      throw error;
    }
  }
  const human = flags.json !== true;
  if (human) {
    const shard = flags.shard === undefined ? '' : `, shard ${flags.shard.index}/${flags.shard.count}`;
    const threads = workers > 1 ? `, ${workers} workers` : '';
    io.out(`dmaprop explore: ${searchBounds(flags, depth)}${shard}${threads}\n\n`);
    for (const design of skipped)
      io.out(`${design.id} [${design.stack}] not explored: it declares no explore scope\n\n`);
  }
  const progress = terminalProgress(human ? io.progress : undefined);
  const stop = io.shouldStop ?? ((): boolean => false);
  const results: ExploreResult[] = [];
  const saved: SaveOutcome[] = [];
  let saveError: string | null = null;
  for (const design of selected) {
    if (stop()) break;
    const result = exploreDesign(design, {
      depth,
      maxStates: flags.maxStates,
      shouldStop: stop,
      ...(flags.timeLimit === undefined ? {} : { timeLimitMs: flags.timeLimit * 1000 }),
      partialOrder: flags.partialOrder === true,
      flat: flags.flat !== false,
      ...(workers > 1 ? { workers, designSource: { config: configFile } } : {}),
      ...(flags.shard === undefined ? {} : { shard: flags.shard }),
      onProgress: (at) =>
        progress.update(
          `${design.id}: depth ${at.level}/${at.depth}, ${at.expanded}/${at.frontier} expanded, ${at.states} states, ${at.transitions} transitions`,
        ),
    });
    progress.done();
    results.push(result);
    let outcomes: SaveOutcome[] = [];
    if (flags.save === true && saveError === null) {
      try {
        outcomes = saveFindings(flags, design, result);
      } catch (error) {
        saveError = `cannot save to the corpus ${flags.corpus}: ${(error as Error).message}`;
      }
    }
    saved.push(...outcomes);
    if (!human) continue;
    io.out(`${formatExploreResult(result, design)}\n`);
    for (const outcome of outcomes) {
      io.out(`${formatSaveOutcome(outcome)}\n`);
    }
    io.out('\n');
  }
  const interrupted = stop();
  if (flags.html !== undefined) {
    const shard = flags.shard === undefined ? '' : ` --shard ${flags.shard.index}/${flags.shard.count}`;
    const rows = results.flatMap((result) => {
      const design = selected.find((known) => known.id === result.design);
      return design === undefined ? [] : [exploreRow(result, design, shard)];
    });
    const title = `dmaprop explore: ${searchBounds(flags, depth)}`;
    const index = writeHtmlReport(flags.html, { title, rows })[0];
    if (human) io.out(`HTML report: ${index ?? flags.html}\n`);
  }
  const count = (outcome: Outcome): AnyDesign['id'][] =>
    results.filter((result) => result.outcome === outcome).map((result) => result.design);
  if (human) {
    const parts = [
      `${count('met').length} as expected`,
      `${count('unmet').length} not${count('unmet').length === 0 ? '' : ` (${count('unmet').join(', ')})`}`,
    ];
    if (count('crashed').length > 0) parts.push(`${count('crashed').length} crashed (${count('crashed').join(', ')})`);
    if (count('inconclusive').length > 0)
      parts.push(`${count('inconclusive').length} inconclusive (${count('inconclusive').join(', ')})`);
    const left =
      skipped.length === 0
        ? ''
        : `; ${skipped.length} without a scope not explored (${skipped.map((design) => design.id).join(', ')})`;
    io.out(`${results.length} design${results.length === 1 ? '' : 's'} explored: ${parts.join(', ')}${left}\n`);
    if (interrupted) io.out(`interrupted: ${results.length} of ${selected.length} designs explored\n`);
    if (flags.save === true) {
      io.out(`${formatSaveSummary(flags.corpus, saved)}\n`);
    }
  } else {
    const extra = flags.save === true ? savedJson(saved) : {};
    const document = {
      interrupted,
      results: results.map(exploreJson),
      skipped: skipped.map((design) => ({
        design: design.id,
        stack: design.stack,
        reason: 'declares no explore scope',
      })),
      ...extra,
      ...(saveError === null ? {} : { saveError }),
    };
    io.out(`${JSON.stringify(document, null, 2)}\n`);
  }
  if (saveError !== null) io.err(`dmaprop: ${saveError}\n`);
  if (interrupted) return EXIT_INTERRUPTED;
  const status = exitStatus(results.map((result) => result.outcome));
  return saveError !== null && status === 0 ? EXIT_USAGE : status;
}
