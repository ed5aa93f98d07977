/**
 * A regression corpus entry: one shrunk counterexample as data — the explicit command list
 * (never a seed or a replay path alone), the design, the invariant, the expected outcome step by
 * step, and where it was found. Versioned; `canonicalKey` identifies the bug's trace so that the
 * same trace found twice is stored once.
 */
import { createHash } from 'node:crypto';

export const CORPUS_FORMAT = 'dmaprop-regression';
export const CORPUS_FORMAT_VERSION = 1;

/** What each step answered when the entry was recorded: accepted, or refused with this error. */
export interface RecordedStep {
  readonly ok: boolean;
  readonly error?: string;
}

export interface CorpusEntry {
  readonly format: typeof CORPUS_FORMAT;
  readonly formatVersion: number;
  readonly stack: string;
  readonly design: string;
  readonly invariant: string;
  /** `violation`: replaying breaks `invariant` after exactly the last step. `holds`: it must not. */
  readonly expect: 'violation' | 'holds';
  readonly steps: readonly unknown[];
  readonly results: readonly RecordedStep[];
  /** The violation's message when recorded (informative; not compared on replay). */
  readonly message?: string;
  readonly found: {
    readonly seed: number;
    readonly date: string;
    readonly toolVersion: string;
  };
}

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

/** Identity of an entry: design, invariant, expectation and steps — not where or when it was found. */
export function canonicalKey(entry: Pick<CorpusEntry, 'design' | 'invariant' | 'expect' | 'steps'>): string {
  const identity = canonicalJson({
    design: entry.design,
    invariant: entry.invariant,
    expect: entry.expect,
    steps: entry.steps,
  });
  return createHash('sha256').update(identity).digest('hex').slice(0, 16);
}

function slug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '');
}

/** Where an entry lives below the corpus root: `<stack>/<design>--<invariant>--<key>.json`. */
export function entryPath(entry: CorpusEntry): string {
  return `${slug(entry.stack)}/${slug(entry.design)}--${slug(entry.invariant)}--${canonicalKey(entry)}.json`;
}
