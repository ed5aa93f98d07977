/**
 * What an HTML report shows, as data: a run (the designs, their verdicts and counts) and its
 * traces (each counterexample or crash with its steps). Built from a check, an exploration or a
 * replayed corpus entry; rendered by `pages.ts`.
 */
import type { Counterexample, CrashReport, DesignCheck } from '../check.js';
import { entryFor, entryForCrash } from '../corpus.js';
import type { AnyDesign, InvariantClass } from '../design.js';
import { crashWhere } from '../execute.js';
import { outcomeMark } from '../report.js';
import { replayCommand } from '../replay-command.js';
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
