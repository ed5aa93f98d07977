/**
 * The regression corpus on disk: building entries from findings, walking the corpus, and
 * replaying every entry against the registered designs.
 *
 * Nothing on disk is trusted and nothing is skipped silently: every file is read with the safe
 * reader (regular files only, bounded, never blocking; `corpus-file.ts`), every fs error is a
 * problem of the file or directory it happened to and never stops the replay of the rest, a
 * dot-file that is not one of our own temporary files is reported, and a file whose name does not
 * match its content (`entryPath`) is reported. Stale temporary files of killed saves are removed
 * and listed. Parsing is strict and prototype-safe (`corpus-parse.ts`); saving is atomic with one
 * winner among concurrent savers (`corpus-save.ts`).
 */
import { lstatSync, readdirSync } from 'node:fs';
import type { Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { Counterexample, CrashReport } from './check.js';
import { CORPUS_FORMAT, CORPUS_FORMAT_VERSION, entryPath } from './corpus-entry.js';
import type { CorpusEntry, CrashEntry, OutcomeEntry, RecordedStep } from './corpus-entry.js';
import { describeFsError, notRegularFile, readEntryText } from './corpus-file.js';
import { CorpusError, parseEntry } from './corpus-parse.js';
import { removeStale, temporaryPid, temporaryState } from './corpus-temp.js';
import type { AnyDesign } from './design.js';
import { crashWhere, runTrace } from './execute.js';
import type { Crash, ExecutedStep } from './execute.js';
import { createStats } from './stats.js';
import { toolVersion } from './version.js';

export { CorpusError, parseEntry, parseEntryShape } from './corpus-parse.js';
export { saveEntry } from './corpus-save.js';
export type { SaveOutcome } from './corpus-save.js';
export { ENTRY_LIMIT_BYTES, readEntryText } from './corpus-file.js';

function recordedOf(step: ExecutedStep): RecordedStep {
  return step.result.ok ? { ok: true } : { ok: false, error: String(step.result.error) };
}

/** Builds the entry for a counterexample that `check` found. */
export function entryFor(
  design: AnyDesign,
  counterexample: Counterexample,
  seed: number,
  date = new Date(),
): OutcomeEntry {
  return {
    format: CORPUS_FORMAT,
    formatVersion: CORPUS_FORMAT_VERSION,
    stack: design.stack,
    design: design.id,
    invariant: counterexample.invariant,
    expect: 'violation',
    steps: counterexample.steps,
    results: counterexample.executed.map(recordedOf),
    message: counterexample.violation.message,
    found: { seed, date: date.toISOString(), toolVersion },
  };
}

/** Builds the entry for a crash that `check` found: the steps up to the throw, and the error without its stack. */
export function entryForCrash(design: AnyDesign, report: CrashReport, seed: number, date = new Date()): CrashEntry {
  const { crash } = report;
  return {
    format: CORPUS_FORMAT,
    formatVersion: CORPUS_FORMAT_VERSION,
    stack: design.stack,
    design: design.id,
    ...(crash.site === 'invariant' && crash.invariant !== null ? { invariant: crash.invariant } : {}),
    expect: 'crash',
    steps: report.steps,
    results: report.executed.map(recordedOf),
    crash: { site: crash.site, name: crash.name, message: crash.message },
    found: { seed, date: date.toISOString(), toolVersion },
  };
}

export interface ReplayProblem {
  readonly file: string;
  readonly field?: string;
  readonly message: string;
}

export interface CorpusScan {
  /** Candidate entries (every file that is not a dot-file or a README), sorted. */
  readonly files: string[];
  /** Dot-files that are not our temporary files, and directories that could not be walked. */
  readonly problems: ReplayProblem[];
  /** How many of `problems` are dot-files (files looked at, as opposed to directories). */
  foreign: number;
  /** Our temporary files, with their writers' pids. */
  readonly temporaries: { readonly path: string; readonly pid: number }[];
}

/** A path as problems name it: relative to the working directory. */
function named(path: string): string {
  return relative(process.cwd(), path);
}

/** Walks the corpus below `root` without following symlinks; a walk error is a problem, not an exception. */
export function scanCorpus(root: string): CorpusScan {
  const scan: CorpusScan = { files: [], problems: [], foreign: 0, temporaries: [] };
  const walk = (dir: string, isRoot: boolean): void => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch (error) {
      // No corpus yet is an empty corpus; anything else is a problem of that directory.
      if (isRoot && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      scan.problems.push({ file: named(dir), message: `cannot list directory: ${describeFsError(error)}` });
      return;
    }
    for (const name of names) {
      const path = join(dir, name);
      let stats: Stats | null;
      try {
        stats = lstatSync(path);
      } catch {
        stats = null; // Reported by the reader, with its reason.
      }
      if (name.startsWith('.')) {
        const pid = temporaryPid(name);
        if (pid !== null && stats?.isFile() === true) {
          scan.temporaries.push({ path, pid });
          continue;
        }
        const what = stats === null || stats.isFile() ? 'a dot-file' : notRegularFile(path, stats);
        scan.problems.push({
          file: named(path),
          message: `${what}: not a corpus entry (only dmaprop's own temporary files, .<pid>-<hex>.tmp, start with '.')`,
        });
        scan.foreign += 1;
        continue;
      }
      if (name === 'README.md') continue;
      if (stats?.isDirectory() === true) walk(path, false);
      else scan.files.push(path);
    }
  };
  walk(root, true);
  return scan;
}

/** Corpus files below `root`: every file except dot-files and READMEs. */
export function corpusFiles(root: string): string[] {
  return scanCorpus(root).files;
}

export interface CorpusReplay {
  /** Files looked at: the candidate entries and the foreign dot-files. */
  readonly files: number;
  /** Entries that parse, are named for their content and reproduce. */
  readonly passed: number;
  readonly problems: readonly ReplayProblem[];
  /** Stale temporary files of killed saves, removed. */
  readonly removed: readonly string[];
}

function describeRecorded(step: RecordedStep): string {
  return step.ok ? 'accepted' : `refused with ${String(step.error)}`;
}

function describeCrash(crash: Pick<Crash, 'name' | 'message'>): string {
  return `${crash.name}: ${crash.message}`;
}

function sameSite(crash: Crash, entry: CrashEntry): boolean {
  return crash.site === entry.crash.site && (crash.invariant ?? undefined) === entry.invariant;
}

/** Replays a crash entry: it must throw at its last step, from the same place, the same error. */
function replayCrash(entry: CrashEntry, crash: Crash | null): string | null {
  const where =
    entry.crash.site === 'invariant' ? `invariant ${entry.invariant ?? "(the design's parts)"}` : entry.crash.site;
  const recorded = `${where} at step ${entry.steps.length}`;
  if (crash === null)
    return `no longer crashes: ran all ${entry.steps.length} steps (recorded: ${entry.crash.name} in ${recorded})`;
  if (!sameSite(crash, entry) || crash.name !== entry.crash.name) {
    return `crashes differently: now at ${crashWhere(crash)}: ${describeCrash(crash)}; recorded ${entry.crash.name} in ${recorded}`;
  }
  if (crash.atStep !== entry.steps.length) {
    return `crashes at step ${crash.atStep}, recorded at step ${entry.steps.length}: the entry is no longer minimal`;
  }
  if (crash.message !== entry.crash.message) {
    return `crashes with a different message: now ${JSON.stringify(crash.message)}, recorded ${JSON.stringify(entry.crash.message)}`;
  }
  return null;
}

/** Replays one entry; returns what no longer holds, or null when the entry reproduces. Never throws. */
export function replayEntry(entry: CorpusEntry, design: AnyDesign): string | null {
  let run: ReturnType<typeof runTrace>;
  try {
    run =
      entry.expect === 'crash'
        ? runTrace(design, entry.steps, {
            invariants: entry.invariant === undefined ? [] : [entry.invariant],
            stopAtFirst: false,
            // A purity crash is only seen with the purity guard on.
            strict: entry.crash.name === 'PurityError',
            // `classify` runs only when counting; a crash there needs it to run.
            ...(entry.crash.site === 'classify' ? { stats: createStats() } : {}),
          })
        : runTrace(design, entry.steps, { invariants: [entry.invariant] });
  } catch (error) {
    return `cannot be replayed: ${describeCrash({ name: (error as Error).name, message: (error as Error).message })}`;
  }
  for (let index = 0; index < run.steps.length; index++) {
    const result = run.steps[index];
    const recorded = entry.results[index];
    if (result === undefined || recorded === undefined) break;
    const now = recordedOf(result);
    if (now.ok !== recorded.ok || now.error !== recorded.error) {
      return `no longer applies: step ${index + 1} was ${describeRecorded(recorded)}, now ${describeRecorded(now)}`;
    }
  }
  if (entry.expect === 'crash') return replayCrash(entry, run.crash);
  if (run.crash !== null) return `crashes at ${crashWhere(run.crash)}: ${describeCrash(run.crash)}`;
  const violation = run.violations[0];
  if (entry.expect === 'holds') {
    return violation === undefined
      ? null
      : `expected to hold, but ${entry.invariant} is violated after step ${violation.afterStep}: ${violation.violation.message}`;
  }
  if (violation === undefined)
    return `no longer reproduces: ${entry.invariant} holds after all ${entry.steps.length} steps`;
  if (violation.afterStep !== entry.steps.length) {
    return `violated after step ${violation.afterStep}, recorded after step ${entry.steps.length}: the entry is no longer minimal`;
  }
  return null;
}

/**
 * The problems of one corpus file below `root` (none when it is an entry named for its content
 * that reproduces against the registry's designs).
 */
export function replayCorpusFile(root: string, path: string, registry: readonly AnyDesign[]): ReplayProblem[] {
  const file = named(path);
  // Read first (bounded, safe): a symlink or FIFO is reported as what it is, whatever its name.
  const read = readEntryText(path);
  if ('problem' in read) return [{ file, message: read.problem }];
  if (!path.endsWith('.json')) return [{ file, message: 'not a corpus entry (entries are .json files)' }];
  let parsed: ReturnType<typeof parseEntry>;
  try {
    parsed = parseEntry(read.text, file, registry);
  } catch (error) {
    if (error instanceof CorpusError) return [{ file, field: error.field, message: error.problem }];
    return [{ file, message: `cannot be parsed: ${(error as Error).message}` }];
  }
  const problems: ReplayProblem[] = [];
  const expected = entryPath(parsed.entry);
  const actual = relative(root, path).split(sep).join('/');
  // The root may also be a stack's directory, or any directory above the corpus root.
  const whole = path.split(sep).join('/');
  if (actual !== expected && !whole.endsWith(`/${expected}`)) {
    problems.push({
      file,
      field: '(name)',
      message: `does not match the entry's content: it should be ${expected} (relative to the corpus root)`,
    });
  }
  const failure = replayEntry(parsed.entry, parsed.design);
  if (failure !== null) problems.push({ file, message: failure });
  return problems;
}

/** Loads and replays every file of the corpus; each problem names its file (relative to the working directory). */
export function replayCorpus(root: string, registry: readonly AnyDesign[]): CorpusReplay {
  const scan = scanCorpus(root);
  const problems: ReplayProblem[] = [...scan.problems];
  const removed: string[] = [];
  for (const { path, pid } of scan.temporaries) {
    if (temporaryState(path, pid) !== 'stale') continue;
    const outcome = removeStale(path);
    if (outcome === 'removed') removed.push(named(path));
    else if (outcome !== 'gone') problems.push({ file: named(path), message: outcome });
  }
  let passed = 0;
  for (const path of scan.files) {
    const found = replayCorpusFile(root, path, registry);
    if (found.length === 0) passed += 1;
    problems.push(...found);
  }
  // In file order, each file's own problems in the order found (the sort is stable).
  problems.sort((left, right) => (left.file < right.file ? -1 : left.file > right.file ? 1 : 0));
  return { files: scan.files.length + scan.foreign, passed, problems, removed };
}

/** One corpus file, loaded: its entry and design, or why it cannot be used. */
export type LoadedEntry =
  | { readonly path: string; readonly entry: CorpusEntry; readonly design: AnyDesign }
  | { readonly path: string; readonly problem: ReplayProblem };

/**
 * Every entry below `root`, read safely and parsed against the registry (not replayed): for tools
 * that select, rewrite or report entries. Files that are not entries come back as problems.
 */
export function loadCorpus(root: string, registry: readonly AnyDesign[]): LoadedEntry[] {
  const scan = scanCorpus(root);
  const loaded: LoadedEntry[] = scan.problems.map((problem) => ({ path: problem.file, problem }));
  for (const path of scan.files) {
    const file = named(path);
    const read = readEntryText(path);
    if ('problem' in read) {
      loaded.push({ path, problem: { file, message: read.problem } });
      continue;
    }
    try {
      loaded.push({ path, ...parseEntry(read.text, file, registry) });
    } catch (error) {
      if (!(error instanceof CorpusError)) throw error;
      loaded.push({ path, problem: { file, field: error.field, message: error.problem } });
    }
  }
  return loaded;
}

export function formatReplayProblem(problem: ReplayProblem): string {
  return problem.field === undefined
    ? `${problem.file}: ${problem.message}`
    : `${problem.file}: ${problem.field}: ${problem.message}`;
}
