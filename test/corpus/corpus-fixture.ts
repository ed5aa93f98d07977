/** A temporary corpus with real entries found by `check`, for tests that save, edit and replay. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDesign } from '../../src/check.js';
import { entryFor, saveEntry } from '../../src/corpus.js';
import type { CorpusEntry } from '../../src/corpus-entry.js';
import { xenLookup } from '../../properties/xengt/designs.js';

export function temporaryCorpus(): string {
  return mkdtempSync(join(tmpdir(), 'dmaprop-corpus-'));
}

/** Saves xen/lookup's counterexample for `invariant` into `root`; returns its path and entry. */
const checks = new Map<string, ReturnType<typeof checkDesign>>();

export function savedLookupEntry(
  root: string,
  invariant = 'no-dma-to-foreign-frame',
): { path: string; entry: CorpusEntry } {
  const check = checks.get(invariant) ?? checkDesign(xenLookup, { seed: 3, runs: 1000, report: [invariant] });
  checks.set(invariant, check);
  const counterexample = check.violations[0];
  if (counterexample === undefined) throw new Error(`fixture: xen/lookup did not break ${invariant}`);
  const entry = entryFor(xenLookup, counterexample, check.seed);
  return { path: saveEntry(root, entry).path, entry };
}
