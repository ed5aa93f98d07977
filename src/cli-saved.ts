/**
 * How `check --save` and `explore --save` report what they wrote to the corpus: each entry added,
 * already present, or repaired (something else was at its path: why), and the stale temporary
 * files of killed saves that were removed on the way.
 */
import { isAbsolute, relative } from 'node:path';
import type { SaveOutcome } from './corpus.js';

/** A path relative to the working directory when it lies inside it, absolute otherwise. */
export function displayPath(path: string): string {
  const inside = relative(process.cwd(), path);
  return inside.startsWith('..') || isAbsolute(inside) ? path : inside;
}

function statusWords(outcome: SaveOutcome): string {
  switch (outcome.status) {
    case 'added':
      return 'saved';
    case 'exists':
      return 'already in corpus';
    case 'repaired':
      return `repaired (the file there was damaged: ${outcome.reason ?? 'unknown'})`;
  }
}

/** One line per outcome, then one per stale temporary file it removed. */
export function formatSaveOutcome(outcome: SaveOutcome): string {
  return [
    `  ${statusWords(outcome)}: ${displayPath(outcome.path)}`,
    ...outcome.removed.map((path) => `  removed a stale temporary file of a killed save: ${displayPath(path)}`),
  ].join('\n');
}

export function formatSaveSummary(corpus: string, saved: readonly SaveOutcome[]): string {
  const count = (status: SaveOutcome['status']): number => saved.filter((outcome) => outcome.status === status).length;
  const repaired = count('repaired');
  return `corpus ${corpus}: ${count('added')} added, ${count('exists')} already present${repaired > 0 ? `, ${repaired} repaired` : ''}`;
}

export interface SavedJson {
  readonly path: string;
  readonly status: SaveOutcome['status'];
  readonly reason?: string;
  readonly removed?: string[];
}

export function savedJson(saved: readonly SaveOutcome[]): { saved: SavedJson[] } {
  return {
    saved: saved.map((outcome) => ({
      path: displayPath(outcome.path),
      status: outcome.status,
      ...(outcome.reason === undefined ? {} : { reason: outcome.reason }),
      ...(outcome.removed.length === 0 ? {} : { removed: outcome.removed.map(displayPath) }),
    })),
  };
}
