/**
 * Writes a run's HTML report into a directory: `index.html` and a page per trace, each a
 * self-contained file (inline style and script, no network) that links to the others relatively.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexPage, tracePage } from './pages.js';
import type { RunReport } from './report-model.js';

export const INDEX_FILE = 'index.html';

/** The files written, index first. */
export function writeHtmlReport(directory: string, run: RunReport): string[] {
  mkdirSync(directory, { recursive: true });
  const written = [join(directory, INDEX_FILE)];
  writeFileSync(written[0] ?? INDEX_FILE, indexPage(run));
  for (const row of run.rows) {
    for (const trace of row.traces) {
      const file = join(directory, trace.file);
      writeFileSync(file, tracePage(trace, INDEX_FILE));
      written.push(file);
    }
  }
  return written;
}
