/**
 * Strict, prototype-safe parsing of one corpus entry: every problem names the file and the field.
 *
 * Two stages: the entry's shape (format, version, fields and their types; no registry needed, so
 * `saveEntry` can check what is already at an entry's path), then the entry against the design it
 * names (stack, invariant, command kinds, each command's fields).
 *
 * Prototype safety: JSON.parse defines keys as own data properties, so a `__proto__` key never
 * changes an object's prototype; and every field is read with own-property logic. On top of
 * that, a key that is a property of every JavaScript object (`__proto__`, `constructor`,
 * `toString`, ...) or `prototype` is rejected anywhere in an entry, so no later `field in object`
 * check (a design's `validateCommand`) can mistake an inherited property for a known field.
 */
import { CORPUS_FORMAT, CORPUS_FORMAT_VERSION, CORPUS_OLDEST_VERSION, crashSites } from './corpus-entry.js';
import type { CorpusEntry, RecordedCrash, RecordedStep } from './corpus-entry.js';
import type { AnyDesign } from './design.js';
import type { CrashSite } from './execute.js';
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

/** The format version that added crash entries (and their `crash` field). */
const CRASH_SINCE = 2;
const fieldsV1 = [
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
const fieldsV2 = [...fieldsV1, 'crash'];
const resultFields = ['ok', 'error'];
const foundFields = ['seed', 'date', 'toolVersion'];
const crashFields = ['site', 'name', 'message'];

/** Key names no entry may use at any depth. */
const reservedNames = new Set([
  '__proto__',
  'constructor',
  'prototype',
  ...Object.getOwnPropertyNames(Object.prototype),
]);

/** Entries are flat command lists; anything nested deeper is not one (and could overflow a recursive walk). */
const MAX_DEPTH = 32;

type Data = Readonly<Record<string, unknown>>;

function isRecord(value: unknown): value is Data {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The value of an own property, never an inherited one. */
function own(record: Data, key: string): unknown {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/** The first reserved key name or too-deep nesting in `value`, as [field path, problem]. */
function unsafeKey(value: unknown): [string, string] | null {
  const pending: [unknown, string, number][] = [[value, '', 0]];
  for (let item = pending.pop(); item !== undefined; item = pending.pop()) {
    const [current, path, depth] = item;
    if (typeof current !== 'object' || current === null) continue;
    if (depth > MAX_DEPTH) return [path, `nested deeper than ${MAX_DEPTH} levels`];
    const children: [unknown, string, number][] = [];
    if (Array.isArray(current)) {
      current.forEach((child: unknown, index) => children.push([child, `${path}[${index}]`, depth + 1]));
    } else {
      for (const key of Object.keys(current)) {
        const field = path === '' ? key : `${path}.${key}`;
        if (reservedNames.has(key)) return [field, 'reserved name (a property of every JavaScript object)'];
        children.push([(current as Data)[key], field, depth + 1]);
      }
    }
    // Depth first, in document order: the problem reported is the first one in the file.
    pending.push(...children.reverse());
  }
  return null;
}

/** Parses and validates an entry's shape and types, without looking up its design. */
export function parseEntryShape(text: string, file: string): CorpusEntry {
  const problem = (field: string, message: string): CorpusError => new CorpusError(file, field, message);
  if (text.trim() === '') throw problem('(json)', 'empty file');
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (error) {
    throw problem('(json)', `malformed JSON: ${(error as Error).message}`);
  }
  if (!isRecord(data)) throw problem('(root)', 'expected a JSON object');
  const unsafe = unsafeKey(data);
  if (unsafe !== null) throw problem(...unsafe);
  const text_ = (field: string): string => {
    const value = own(data, field);
    if (value === undefined) throw problem(field, 'missing');
    if (typeof value !== 'string' || value === '')
      throw problem(field, `expected a non-empty string, got ${JSON.stringify(value)}`);
    return value;
  };
  const onlyFields = (record: Data, known: readonly string[], prefix: string): void => {
    for (const key of Object.keys(record)) if (!known.includes(key)) throw problem(`${prefix}${key}`, 'unknown field');
  };

  const format = own(data, 'format');
  if (format !== CORPUS_FORMAT) {
    throw problem(
      'format',
      format === undefined ? 'missing' : `expected "${CORPUS_FORMAT}", got ${JSON.stringify(format)}`,
    );
  }
  const version = own(data, 'formatVersion');
  if (version === undefined) throw problem('formatVersion', 'missing');
  if (typeof version !== 'number' || !Number.isInteger(version))
    throw problem('formatVersion', `expected a whole number, got ${JSON.stringify(version)}`);
  if (version > CORPUS_FORMAT_VERSION) {
    throw problem(
      'formatVersion',
      `version ${version} is newer than this dmaprop (${toolVersion}) reads (${CORPUS_FORMAT_VERSION}); upgrade dmaprop`,
    );
  }
  if (version < CORPUS_OLDEST_VERSION) {
    throw problem(
      'formatVersion',
      `version ${version} is no longer read (current: ${CORPUS_FORMAT_VERSION}); replay it with the dmaprop that wrote it and save it again`,
    );
  }
  if (version < CRASH_SINCE && own(data, 'expect') === 'crash')
    throw problem('expect', `crash entries need formatVersion ${CRASH_SINCE}`);
  onlyFields(data, version < CRASH_SINCE ? fieldsV1 : fieldsV2, '');

  const design = text_('design');
  const stack = text_('stack');
  const expect = text_('expect');
  if (expect !== 'violation' && expect !== 'holds' && expect !== 'crash')
    throw problem('expect', `expected "violation", "holds" or "crash", got "${expect}"`);
  const crash = expect === 'crash' ? parseCrash(own(data, 'crash'), problem) : null;
  if (crash === null && own(data, 'crash') !== undefined)
    throw problem('crash', 'only a crash entry (expect "crash") has this field');
  if (crash !== null && own(data, 'message') !== undefined)
    throw problem('message', "not a field of a crash entry (the error's message is crash.message)");
  // Every violation or holds entry names its invariant; a crash entry only when it threw in one
  // (a crash in the design's `parts`, before any invariant was asked, names none).
  const namesInvariant = own(data, 'invariant') !== undefined;
  if (crash !== null && crash.site !== 'invariant' && namesInvariant)
    throw problem('invariant', `only a crash in an invariant names one (this one crashed in ${crash.site})`);
  const invariant = crash === null || namesInvariant ? text_('invariant') : undefined;

  const steps = own(data, 'steps');
  if (steps === undefined) throw problem('steps', 'missing');
  // An empty list is a real case: the design's initial configuration already breaks the invariant.
  if (!Array.isArray(steps)) throw problem('steps', 'expected an array of commands');
  steps.forEach((command: unknown, index) => {
    if (!isRecord(command) || typeof own(command, 'kind') !== 'string')
      throw problem(`steps[${index}].kind`, 'missing');
  });
  // The step that throws in `resolve` or `step` never returns: it has no result.
  const threwInStep = crash !== null && (crash.site === 'resolve' || crash.site === 'step');
  if (crash !== null && (threwInStep || crash.site === 'classify') && steps.length === 0)
    throw problem('steps', `a crash in ${crash.site} needs the step it threw at`);
  const resultCount = threwInStep ? steps.length - 1 : steps.length;

  const results = own(data, 'results');
  if (results === undefined) throw problem('results', 'missing');
  if (!Array.isArray(results) || results.length !== resultCount)
    throw problem(
      'results',
      `expected an array of ${resultCount} step results${threwInStep ? ` (the last step threw in ${crash.site})` : ''}`,
    );
  const recorded: RecordedStep[] = results.map((result: unknown, index) => {
    const ok = isRecord(result) ? own(result, 'ok') : undefined;
    if (!isRecord(result) || typeof ok !== 'boolean') throw problem(`results[${index}].ok`, 'expected true or false');
    onlyFields(result, resultFields, `results[${index}].`);
    const error = own(result, 'error');
    if (ok) {
      if (error !== undefined) throw problem(`results[${index}].error`, 'an accepted step has no error');
      return { ok: true };
    }
    if (typeof error !== 'string') throw problem(`results[${index}].error`, 'a refused step needs its error name');
    return { ok: false, error };
  });

  const found = own(data, 'found');
  if (found === undefined) throw problem('found', 'missing');
  if (!isRecord(found)) throw problem('found', 'expected an object { seed, date, toolVersion }');
  onlyFields(found, foundFields, 'found.');
  const seed = own(found, 'seed');
  const date = own(found, 'date');
  const foundBy = own(found, 'toolVersion');
  if (typeof seed !== 'number' || !Number.isInteger(seed)) throw problem('found.seed', 'expected a whole number');
  if (typeof date !== 'string') throw problem('found.date', 'expected an ISO date string');
  if (typeof foundBy !== 'string') throw problem('found.toolVersion', 'expected a version string');
  const message = own(data, 'message');
  if (message !== undefined && typeof message !== 'string') throw problem('message', 'expected a string');

  const common = {
    format: CORPUS_FORMAT,
    formatVersion: version,
    stack,
    design,
    steps,
    results: recorded,
    found: { seed, date, toolVersion: foundBy },
  } as const;
  if (crash !== null) {
    return { ...common, ...(invariant === undefined ? {} : { invariant }), expect: 'crash', crash };
  }
  return {
    ...common,
    invariant: invariant ?? text_('invariant'),
    expect: expect as 'violation' | 'holds',
    ...(message === undefined ? {} : { message }),
  };
}

function parseCrash(value: unknown, problem: (field: string, message: string) => CorpusError): RecordedCrash {
  if (value === undefined) throw problem('crash', 'missing');
  if (!isRecord(value)) throw problem('crash', 'expected an object { site, name, message }');
  for (const key of Object.keys(value)) {
    if (key === 'stack') throw problem('crash.stack', 'not recorded (it names one machine and build)');
    if (!crashFields.includes(key)) throw problem(`crash.${key}`, 'unknown field');
  }
  const site = own(value, 'site');
  if (site === undefined) throw problem('crash.site', 'missing');
  if (!crashSites.includes(site as CrashSite))
    throw problem('crash.site', `expected one of ${crashSites.join(', ')}, got ${JSON.stringify(site)}`);
  const name = own(value, 'name');
  if (typeof name !== 'string' || name === '')
    throw problem('crash.name', `expected the error's name, got ${JSON.stringify(name)}`);
  const message = own(value, 'message');
  if (typeof message !== 'string') throw problem('crash.message', `expected a string, got ${JSON.stringify(message)}`);
  return { site: site as CrashSite, name, message };
}

/** Parses and validates one entry, then checks it against its design; `file` is only used in messages. */
export function parseEntry(
  text: string,
  file: string,
  registry: readonly AnyDesign[],
): { entry: CorpusEntry; design: AnyDesign } {
  const problem = (field: string, message: string): CorpusError => new CorpusError(file, field, message);
  const entry = parseEntryShape(text, file);
  const design = registry.find((known) => known.id === entry.design);
  if (design === undefined) throw problem('design', `unknown design '${entry.design}'`);
  if (entry.stack !== design.stack)
    throw problem('stack', `'${entry.stack}' does not match design ${design.id}'s stack '${design.stack}'`);
  if (entry.invariant !== undefined && !design.invariants.some((known) => known.name === entry.invariant))
    throw problem('invariant', `design ${design.id} has no invariant '${entry.invariant}'`);
  // A stack with phased operations also takes its `advance` command (`InterleavingSpace`).
  const advanceKind = design.commands.interleaving?.advance(0).kind;
  entry.steps.forEach((step, index) => {
    const command = step as Data;
    const kind = String(own(command, 'kind'));
    if (!design.commands.kinds.includes(kind) && kind !== advanceKind) {
      throw problem(`steps[${index}].kind`, `unknown command kind '${kind}' for stack ${design.stack}`);
    }
    const invalid = design.validateCommand?.(command);
    if (invalid !== undefined && invalid !== null) throw problem(`steps[${index}].${invalid.field}`, invalid.problem);
  });
  return { entry, design };
}
