/**
 * What an HTML report shows, as data: a run (the designs, their verdicts and counts) and its
 * traces (each counterexample or crash with its steps). Built from a check, an exploration or a
 * replayed corpus entry; rendered by `pages.ts`.
 */
import type { Counterexample, CrashReport, DesignCheck } from '../check.js';
import { entryFor, entryForCrash, replayEntry } from '../corpus.js';
import type { CorpusEntry } from '../corpus-entry.js';
import type { ExploreResult } from '../explore.js';
import type { AnyDesign, InvariantClass } from '../design.js';
import { crashWhere, runTrace } from '../execute.js';
import { outcomeMark } from '../report.js';
import { replayCommand, shellWord } from '../replay-command.js';
import { graphAround } from './state-graph-build.js';
import { replaySnippet } from '../snippet.js';
import { traceSteps } from './trace-states.js';
import type { TraceStep } from './trace-states.js';

/** A state graph around a counterexample (explore, small scopes): states and the commands between them. */
export interface StateGraph {
  readonly nodes: readonly {
    readonly id: string;
    /** Steps from the initial state (its column). */
    readonly depth: number;
    readonly label: string;
    readonly onTrace: boolean;
    readonly violating: boolean;
  }[];
  readonly edges: readonly {
    readonly from: string;
    readonly to: string;
    readonly label: string;
    readonly onTrace: boolean;
  }[];
  /** Nodes left out to keep the graph readable. */
  readonly omitted: number;
}

export interface TraceReport {
  /** File name of its page, without directory (`xengt-no-flush--no-stale-gtt.html`). */
  readonly file: string;
  readonly design: string;
  readonly stack: string;
  readonly description: string;
  /** What broke: an invariant's name, or `crash at step 3 (step)`. */
  readonly title: string;
  readonly invariantClass: InvariantClass | null;
  readonly steps: readonly TraceStep[];
  /** The step the violation or crash is at (1-based; 0: the initial state). */
  readonly violatingStep: number;
  readonly violation: { readonly message: string; readonly actual: string; readonly expected: string } | null;
  readonly crash: { readonly where: string; readonly name: string; readonly message: string } | null;
  /** The command line that finds it again; null when there is none (a replayed file names itself). */
  readonly replay: string | null;
  readonly replayNote: string | null;
  /** A program that replays the trace through the public API (`dmaprop replay --ts`). */
  readonly snippet: string;
  readonly graph: StateGraph | null;
  /** Where it came from, in words (`check, seed 42`). */
  readonly origin: string;
}

export interface RunRow {
  readonly design: string;
  readonly stack: string;
  readonly expected: string;
  readonly verdict: string;
  /** The outcome mark as the text report prints it (`✓`, `✗ UNEXPECTED` …). */
  readonly mark: string;
  readonly met: boolean;
  /** Runs, states … in words. */
  readonly size: string;
  readonly seed: number | null;
  readonly elapsedMs: number;
  readonly reason: string | null;
  readonly traces: readonly TraceReport[];
}

export interface RunReport {
  /** `dmaprop check: seed 42, 1000 runs`. */
  readonly title: string;
  readonly rows: readonly RunRow[];
}

/** A design id and what broke as a file name: letters, digits, `-` and `.` only. */
export function pageFile(design: string, what: string, seed?: number): string {
  const clean = (text: string): string => text.replace(/[^A-Za-z0-9.-]+/g, '-').replace(/^-+|-+$/g, '');
  return `${clean(design)}--${clean(what)}${seed === undefined ? '' : `--seed-${seed}`}.html`;
}

export interface TraceSource {
  readonly replay: string | null;
  readonly replayNote?: string | null;
  readonly origin: string;
  readonly config?: string;
  readonly graph?: StateGraph | null;
}

export function counterexampleTrace(
  design: AnyDesign,
  counterexample: Counterexample,
  seed: number,
  source: TraceSource,
): TraceReport {
  const entry = entryFor(design, counterexample, seed);
  return {
    file: pageFile(design.id, counterexample.invariant, seed),
    design: design.id,
    stack: design.stack,
    description: design.description,
    title: counterexample.invariant,
    invariantClass: counterexample.class,
    steps: traceSteps(design, counterexample.steps),
    violatingStep: counterexample.length,
    violation: counterexample.violation,
    crash: null,
    replay: source.replay,
    replayNote: source.replayNote ?? null,
    snippet: replaySnippet(entry, `${design.id}'s counterexample of ${counterexample.invariant}`, source.config),
    graph: source.graph ?? null,
    origin: source.origin,
  };
}

export function crashTrace(design: AnyDesign, report: CrashReport, seed: number, source: TraceSource): TraceReport {
  const entry = entryForCrash(design, report, seed);
  const where = crashWhere(report.crash);
  return {
    file: pageFile(design.id, `crash-${report.crash.site}`, seed),
    design: design.id,
    stack: design.stack,
    description: design.description,
    title: `crash at ${where}`,
    invariantClass: null,
    steps: traceSteps(design, report.steps),
    violatingStep: report.crash.atStep,
    violation: null,
    crash: { where, name: report.crash.name, message: report.crash.message },
    replay: source.replay,
    replayNote: source.replayNote ?? null,
    snippet: replaySnippet(entry, `${design.id}'s crash`, source.config),
    graph: null,
    origin: source.origin,
  };
}

/** One check as a row of the index, with a trace per counterexample and the crash. */
export function checkRow(check: DesignCheck, design: AnyDesign, config?: string): RunRow {
  const replay = replayCommand(check, config);
  const source: TraceSource = {
    replay: replay.command,
    replayNote: replay.note,
    origin: `dmaprop check, seed ${check.seed}`,
    ...(config === undefined ? {} : { config }),
  };
  const traces = check.violations.map((counterexample) =>
    counterexampleTrace(design, counterexample, check.seed, source),
  );
  if (check.crash !== null) traces.push(crashTrace(design, check.crash, check.seed, source));
  return {
    design: check.design,
    stack: check.stack,
    expected: check.expected,
    verdict: check.verdict,
    mark: outcomeMark(check.outcome),
    met: check.met,
    size: `${check.runs} runs`,
    seed: check.seed,
    elapsedMs: check.elapsedMs,
    reason: check.reason,
    traces,
  };
}

/** One exploration as a row of the index: a trace per shortest counterexample, with the state graph around it. */
export function exploreRow(result: ExploreResult, design: AnyDesign, shard: string): RunRow {
  // A search the time limit cut found its counterexamples by the level it was cut in: that depth
  // finds them again, where the depth asked for (64 with --time-limit alone) may never end.
  const depth = result.timeLimited === true ? Math.min(result.depth, result.depthReached + 1) : result.depth;
  const replay = `dmaprop explore --design ${shellWord(design.id)} --depth ${depth}${shard}`;
  const source = (counterexample: Counterexample): TraceSource => ({
    replay,
    origin: `dmaprop explore, depth ${depth} (shortest)`,
    graph: graphAround(design, counterexample.steps),
  });
  // An exploration has no seed: its pages are named by design and invariant alone.
  const traces = result.violations.map((counterexample) => ({
    ...counterexampleTrace(design, counterexample, 0, source(counterexample)),
    file: pageFile(design.id, counterexample.invariant),
  }));
  if (result.crash !== null) traces.push(crashTrace(design, result.crash, 0, { replay, origin: 'dmaprop explore' }));
  return {
    design: result.design,
    stack: result.stack,
    expected: result.expected,
    verdict: result.verdict,
    mark: outcomeMark(result.outcome),
    met: result.met,
    size: `${result.states.toLocaleString('en-US')} states to depth ${result.depthReached}`,
    seed: null,
    elapsedMs: result.elapsedMs,
    reason: result.message,
    traces,
  };
}

/** How a replayed trace is named and found again (`replayedTrace`). */
export interface ReplayedSource {
  /** The file it was read from, for the page's name, origin and snippet. */
  readonly file: string;
  /** The command line that finds it again. */
  readonly replay: string;
  readonly origin: string;
  readonly config?: string;
}

/**
 * A corpus entry's steps run again through its design: the trace of the violation (or crash) they
 * reproduce today, and what the entry recorded about it in words when they no longer do.
 */
export function replayedTrace(entry: CorpusEntry, design: AnyDesign, source: ReplayedSource): TraceReport {
  const run = runTrace(design, entry.steps, {
    invariants: entry.invariant === undefined ? [] : [entry.invariant],
    ...(entry.expect === 'crash' ? { stopAtFirst: false } : {}),
  });
  const found = run.violations[0];
  const invariant = design.invariants.find((known: { name: string }) => known.name === entry.invariant) as
    { class: InvariantClass } | undefined;
  const commands = run.steps.map((step) => step.command);
  const what = entry.expect === 'crash' ? `crash-${entry.crash.site}` : (entry.invariant ?? 'trace');
  return {
    file: pageFile(design.id, what),
    design: design.id,
    stack: design.stack,
    description: design.description,
    title: run.crash !== null ? `crash at ${crashWhere(run.crash)}` : (entry.invariant ?? 'trace'),
    invariantClass: invariant?.class ?? null,
    steps: traceSteps(design, commands),
    violatingStep: found?.afterStep ?? run.crash?.atStep ?? 0,
    violation: found?.violation ?? null,
    crash:
      run.crash === null ? null : { where: crashWhere(run.crash), name: run.crash.name, message: run.crash.message },
    replay: source.replay,
    replayNote: null,
    snippet: replaySnippet(entry, source.file, source.config),
    graph: graphAround(design, commands),
    origin: source.origin,
  };
}

/** A corpus entry replayed (`dmaprop replay FILE --html`, `dmaprop report FILE`): one row, one trace. */
export function entryRow(entry: CorpusEntry, design: AnyDesign, file: string, config?: string): RunRow {
  const trace = replayedTrace(entry, design, {
    file,
    replay: `dmaprop replay ${shellWord(file)}`,
    origin: `${file}, found with seed ${entry.found.seed} on ${entry.found.date}`,
    ...(config === undefined ? {} : { config }),
  });
  const problem = replayEntry(entry, design);
  return {
    design: design.id,
    stack: design.stack,
    expected: design.expected,
    verdict: trace.violation !== null ? 'violated' : trace.crash !== null ? 'crashed' : 'no violation',
    mark: problem === null ? '✓ reproduces' : '✗',
    met: problem === null,
    size: `${trace.steps.length} steps replayed`,
    seed: entry.found.seed,
    elapsedMs: 0,
    reason: problem,
    traces: [trace],
  };
}
