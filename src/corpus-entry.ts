/**
 * A regression corpus entry: one shrunk finding as data — the explicit command list (never a
 * seed or a replay path alone), the design, the expected outcome step by step, and where it was
 * found. Versioned; `canonicalKey` identifies the finding's trace so that the same trace found
 * twice is stored once, and names the entry's file.
 *
 * Format 2 adds crash entries (`expect: "crash"`): the design's own code threw. Format 1 (no
 * crash entries) is a subset and is still read; 2 is written.
 */
import { createHash } from 'node:crypto';
import type { CrashSite } from './execute.js';

export const CORPUS_FORMAT = 'dmaprop-regression';
/** The version written. */
export const CORPUS_FORMAT_VERSION = 2;
/** The oldest version still read. */
export const CORPUS_OLDEST_VERSION = 1;

export const crashSites: readonly CrashSite[] = ['init', 'resolve', 'step', 'invariant', 'classify'];

/** What each step answered when the entry was recorded: accepted, or refused with this error. */
export interface RecordedStep {
  readonly ok: boolean;
  readonly error?: string;
}

/**
 * The exception a crash entry records. No stack: it names the machine's paths and the build, so
 * it would make the same crash a different file on every machine.
 */
export interface RecordedCrash {
  readonly site: CrashSite;
  /** The error's constructor name (`TypeError`), or `thrown` for a thrown non-Error value. */
  readonly name: string;
  readonly message: string;
}

interface EntryCommon {
  readonly format: typeof CORPUS_FORMAT;
  readonly formatVersion: number;
  readonly stack: string;
  readonly design: string;
  readonly steps: readonly unknown[];
  /** One per step that returned. */
  readonly results: readonly RecordedStep[];
  readonly found: {
    readonly seed: number;
    readonly date: string;
    readonly toolVersion: string;
  };
}

/** A trace replayed against one invariant. */
export interface OutcomeEntry extends EntryCommon {
  readonly invariant: string;
  /** `violation`: replaying breaks `invariant` after exactly the last step. `holds`: it must not. */
  readonly expect: 'violation' | 'holds';
  /** The violation's message when recorded (informative; not compared on replay). */
  readonly message?: string;
}

/**
 * A trace on which the design's code throws, at the last step. `results` has one result per
 * step that returned: `steps.length - 1` when it threw in `resolve` or `step`.
 */
export interface CrashEntry extends EntryCommon {
  /** The invariant that threw: present only when `crash.site` is `invariant` (absent: the design's `parts`). */
  readonly invariant?: string;
  readonly expect: 'crash';
  readonly crash: RecordedCrash;
}

export type CorpusEntry = OutcomeEntry | CrashEntry;

/** JSON with object keys sorted, so equal data always serializes to the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, item: unknown) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return item;
    const record = item as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((key) => [key, record[key]]),
    );
  });
}

export type EntryIdentity =
  | Pick<OutcomeEntry, 'design' | 'invariant' | 'expect' | 'steps'>
  | (Pick<CrashEntry, 'design' | 'invariant' | 'expect' | 'steps'> & {
      readonly crash: Pick<RecordedCrash, 'site' | 'name'>;
    });

/**
 * What makes two entries the same finding: design, invariant, expectation and steps, and for a
 * crash where it threw and what (site and error name; the message may name values that differ
 * between runs of the same bug) — not where or when it was found.
 */
export function canonicalIdentity(entry: EntryIdentity): string {
  if (entry.expect !== 'crash') {
    // Format 1's identity, unchanged: the committed entries keep their names.
    return canonicalJson({
      design: entry.design,
      invariant: entry.invariant,
      expect: entry.expect,
      steps: entry.steps,
    });
  }
  return canonicalJson({
    design: entry.design,
    ...(entry.invariant === undefined ? {} : { invariant: entry.invariant }),
    expect: entry.expect,
    crash: { site: entry.crash.site, name: entry.crash.name },
    steps: entry.steps,
  });
}

export function canonicalKey(entry: EntryIdentity): string {
  return createHash('sha256').update(canonicalIdentity(entry)).digest('hex').slice(0, 16);
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/**
 * Where an entry lives below the corpus root: `<stack>/<design>--<invariant>--<key>.json`, or
 * `<stack>/<design>--crash-<site>--<key>.json` for a crash. Replay checks every file's name
 * against this, so a file edited by hand (or copied) without renaming is reported.
 */
export function entryPath(entry: CorpusEntry): string {
  const what = entry.expect === 'crash' ? `crash-${slug(entry.crash.site)}` : slug(entry.invariant);
  return `${slug(entry.stack)}/${slug(entry.design)}--${what}--${canonicalKey(entry)}.json`;
}
