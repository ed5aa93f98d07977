/** How `check --save` and `explore --save` report what they wrote to the corpus. */
import { isAbsolute, relative } from 'node:path';
import type { SaveOutcome } from './corpus.js';

/** A path relative to the working directory when it lies inside it, absolute otherwise. */
export function displayPath(path: string): string {
  const inside = relative(process.cwd(), path);
  return inside.startsWith('..') || isAbsolute(inside) ? path : inside;
}

export function formatSaveOutcome(outcome: SaveOutcome): string {
  return `  ${outcome.status === 'added' ? 'saved' : 'already in corpus'}: ${displayPath(outcome.path)}`;
}

export function formatSaveSummary(corpus: string, saved: readonly SaveOutcome[]): string {
  const added = saved.filter((outcome) => outcome.status === 'added').length;
  return `corpus ${corpus}: ${added} added, ${saved.length - added} already present`;
}

export function savedJson(saved: readonly SaveOutcome[]): { saved: { path: string; status: SaveOutcome['status'] }[] } {
  return { saved: saved.map((outcome) => ({ path: displayPath(outcome.path), status: outcome.status })) };
}
