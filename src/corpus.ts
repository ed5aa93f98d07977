/**
 * The regression corpus on disk: strict loading (every problem names the file and the field;
 * nothing is skipped silently), atomic saving (a temporary file in the same directory, synced,
 * then renamed: no half-written entry after a crash, and concurrent savers of the same entry
 * write identical bytes to the same name), and replay against the registered designs.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeSync,
  existsSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join, relative } from 'node:path';
import type { Counterexample } from './check.js';
import { CORPUS_FORMAT, CORPUS_FORMAT_VERSION, entryPath } from './corpus-entry.js';
import type { CorpusEntry, RecordedStep } from './corpus-entry.js';
import type { AnyDesign } from './design.js';
import { runTrace } from './execute.js';
import { toolVersion } from './version.js';

/** A problem with one corpus file: which file, which field, what is wrong. */
export class CorpusError extends Error {
  readonly file: string;
  readonly field: string;
  readonly problem: string;

  constructor(file: string, field: string, problem: string) {
    super(`${file}: ${field}: ${problem}`);
    this.name = 'CorpusError';
    this.file = file;
    this.field = field;
    this.problem = problem;
  }
}

const entryFields = [
  'format',
  'formatVersion',
  'stack',
  'design',
  'invariant',
  'expect',
  'steps',
  'results',
  'message',
  'found',
];

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Parses and validates one entry; `file` is only used in messages. */
export function parseEntry(
  text: string,
  file: string,
  registry: readonly AnyDesign[],
): { entry: CorpusEntry; design: AnyDesign } {
  const problem = (field: string, message: string): CorpusError => new CorpusError(file, field, message);
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw problem('(json)', `malformed JSON: ${(error as Error).message}`);
  }
  if (!isRecord(data)) throw problem('(root)', 'expected a JSON object');
  const text_ = (field: string): string => {
    const value = data[field];
    if (value === undefined) throw problem(field, 'missing');
    if (typeof value !== 'string' || value === '')
      throw problem(field, `expected a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  };
  if (data['format'] !== CORPUS_FORMAT) {
    throw problem(
      'format',
      data['format'] === undefined ? 'missing' : `expected "${CORPUS_FORMAT}", got ${JSON.stringify(data['format'])}`,
    );
  }
  const version = data['formatVersion'];
  if (version === undefined) throw problem('formatVersion', 'missing');
  if (typeof version !== 'number' || !Number.isInteger(version))
    throw problem('formatVersion', `expected a whole number, got ${JSON.stringify(version)}`);
  if (version > CORPUS_FORMAT_VERSION) {
    throw problem(
      'formatVersion',
      `version ${version} is newer than this dmaprop (${toolVersion}) reads (${CORPUS_FORMAT_VERSION}); upgrade dmaprop`,
    );
  }
  if (version < CORPUS_FORMAT_VERSION) {
    throw problem(
      'formatVersion',
      `version ${version} is no longer read (current: ${CORPUS_FORMAT_VERSION}); replay it with the dmaprop that wrote it and save it again`,
    );
  }
  for (const key of Object.keys(data)) if (!entryFields.includes(key)) throw problem(key, 'unknown field');

  const designId = text_('design');
  const design = registry.find((known) => known.id === designId);
  if (design === undefined) throw problem('design', `unknown design '${designId}'`);
  const stack = text_('stack');
  if (stack !== design.stack)
    throw problem('stack', `'${stack}' does not match design ${design.id}'s stack '${design.stack}'`);
  const invariant = text_('invariant');
  if (!design.invariants.some((known) => known.name === invariant))
    throw problem('invariant', `design ${design.id} has no invariant '${invariant}'`);
  const expect = text_('expect');
  if (expect !== 'violation' && expect !== 'holds')
    throw problem('expect', `expected "violation" or "holds", got "${expect}"`);

  const steps = data['steps'];
  if (steps === undefined) throw problem('steps', 'missing');
  // An empty list is a real case: the design's initial configuration already breaks the invariant.
  if (!Array.isArray(steps)) throw problem('steps', 'expected an array of commands');
  steps.forEach((command: unknown, index) => {
    if (!isRecord(command) || typeof command['kind'] !== 'string') throw problem(`steps[${index}].kind`, 'missing');
    if (!design.commands.kinds.includes(command['kind'])) {
      throw problem(`steps[${index}].kind`, `unknown command kind '${command['kind']}' for stack ${design.stack}`);
    }
    const invalid = design.validateCommand?.(command);
    if (invalid !== undefined && invalid !== null) throw problem(`steps[${index}].${invalid.field}`, invalid.problem);
  });

  const results = data['results'];
  if (results === undefined) throw problem('results', 'missing');
  if (!Array.isArray(results) || results.length !== steps.length)
    throw problem('results', `expected an array of ${steps.length} step results`);
  const recorded: RecordedStep[] = results.map((result: unknown, index) => {
    if (!isRecord(result) || typeof result['ok'] !== 'boolean')
      throw problem(`results[${index}].ok`, 'expected true or false');
    if (result['ok']) return { ok: true };
    if (typeof result['error'] !== 'string')
      throw problem(`results[${index}].error`, 'a refused step needs its error name');
    return { ok: false, error: result['error'] };
  });

  const found = data['found'];
  if (found === undefined) throw problem('found', 'missing');
  if (!isRecord(found)) throw problem('found', 'expected an object { seed, date, toolVersion }');
  if (typeof found['seed'] !== 'number' || !Number.isInteger(found['seed']))
    throw problem('found.seed', 'expected a whole number');
  if (typeof found['date'] !== 'string') throw problem('found.date', 'expected an ISO date string');
  if (typeof found['toolVersion'] !== 'string') throw problem('found.toolVersion', 'expected a version string');
  const message = data['message'];
  if (message !== undefined && typeof message !== 'string') throw problem('message', 'expected a string');

  const entry: CorpusEntry = {
    format: CORPUS_FORMAT,
    formatVersion: version,
    stack,
    design: designId,
    invariant,
    expect,
    steps,
    results: recorded,
    ...(message === undefined ? {} : { message }),
    found: { seed: found['seed'], date: found['date'], toolVersion: found['toolVersion'] },
  };
  return { entry, design };
}

/** Builds the entry for a counterexample that `check` found. */
export function entryFor(
  design: AnyDesign,
  counterexample: Counterexample,
  seed: number,
  date = new Date(),
): CorpusEntry {
  return {
    format: CORPUS_FORMAT,
    formatVersion: CORPUS_FORMAT_VERSION,
    stack: design.stack,
    design: design.id,
    invariant: counterexample.invariant,
    expect: 'violation',
    steps: counterexample.steps,
    results: counterexample.executed.map((step) =>
      step.result.ok ? { ok: true } : { ok: false, error: String(step.result.error) },
    ),
    message: counterexample.violation.message,
    found: { seed, date: date.toISOString(), toolVersion },
  };
}

export interface SaveOutcome {
  readonly path: string;
  /** `added`: a new file; `exists`: the same trace is already in the corpus. */
  readonly status: 'added' | 'exists';
}

/** Writes an entry under `root` atomically; an entry already present (same canonical trace) is left alone. */
export function saveEntry(root: string, entry: CorpusEntry): SaveOutcome {
  const path = join(root, entryPath(entry));
  if (existsSync(path)) return { path, status: 'exists' };
  mkdirSync(dirname(path), { recursive: true });
  const temporary = join(dirname(path), `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
  const descriptor = openSync(temporary, 'wx');
  try {
    writeSync(descriptor, `${JSON.stringify(entry, null, 2)}\n`);
    fsyncSync(descriptor);
  } finally {
    closeSync(descriptor);
  }
  renameSync(temporary, path);
  return { path, status: 'added' };
}

/** Corpus files below `root`: every file except dot-files (in-progress saves) and READMEs. */
export function corpusFiles(root: string): string[] {
  if (!existsSync(root)) return [];
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      if (name.startsWith('.') || name === 'README.md') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else files.push(path);
    }
  };
  walk(root);
  return files;
}

export interface ReplayProblem {
  readonly file: string;
  readonly field?: string;
  readonly message: string;
}

export interface CorpusReplay {
  readonly files: number;
  readonly passed: number;
  readonly problems: readonly ReplayProblem[];
}

function describeRecorded(step: RecordedStep): string {
  return step.ok ? 'accepted' : `refused with ${String(step.error)}`;
}

/** Replays one entry; returns what no longer holds, or null when the entry reproduces. */
export function replayEntry(entry: CorpusEntry, design: AnyDesign): string | null {
  const run = runTrace(design, entry.steps, { invariants: [entry.invariant] });
  for (let index = 0; index < run.steps.length; index++) {
    const result = run.steps[index]?.result;
    const recorded = entry.results[index];
    if (result === undefined || recorded === undefined) break;
    const now: RecordedStep = result.ok ? { ok: true } : { ok: false, error: String(result.error) };
    if (now.ok !== recorded.ok || now.error !== recorded.error) {
      return `no longer applies: step ${index + 1} was ${describeRecorded(recorded)}, now ${describeRecorded(now)}`;
    }
  }
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

/** Loads and replays every file of the corpus; each problem names its file (relative to `root`). */
export function replayCorpus(root: string, registry: readonly AnyDesign[]): CorpusReplay {
  const files = corpusFiles(root);
  const problems: ReplayProblem[] = [];
  for (const path of files) {
    const file = relative(process.cwd(), path);
    if (!path.endsWith('.json')) {
      problems.push({ file, message: 'not a corpus entry (entries are .json files)' });
      continue;
    }
    try {
      const { entry, design } = parseEntry(readFileSync(path, 'utf8'), file, registry);
      const failure = replayEntry(entry, design);
      if (failure !== null) problems.push({ file, message: failure });
    } catch (error) {
      if (!(error instanceof CorpusError)) throw error;
      problems.push({ file, field: error.field, message: error.problem });
    }
  }
  return { files: files.length, passed: files.length - problems.length, problems };
}

export function formatReplayProblem(problem: ReplayProblem): string {
  return problem.field === undefined
    ? `${problem.file}: ${problem.message}`
    : `${problem.file}: ${problem.field}: ${problem.message}`;
}
