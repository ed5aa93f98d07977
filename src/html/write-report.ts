/**
 * Writes a run's HTML report into a directory: `index.html` and a page per trace, each a
 * self-contained file (inline style and script, no network) that links to the others relatively.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { indexPage, tracePage } from './pages.js';
import type { RunReport } from './report-model.js';

export const INDEX_FILE = 'index.html';

/** The run with each page's name unique (`-2`, `-3` … after a repeated one), and never the index's. */
function uniqueFiles(run: RunReport): RunReport {
  const used = new Set<string>([INDEX_FILE]);
  const unique = (file: string): string => {
    let name = file;
    for (let count = 2; used.has(name); count++) name = file.replace(/\.html$/, `-${count}.html`);
    used.add(name);
    return name;
  };
  return {
    ...run,
    rows: run.rows.map((row) => ({
      ...row,
      traces: row.traces.map((trace) => ({ ...trace, file: unique(trace.file) })),
    })),
  };
}

/** The files written, index first. */
export function writeHtmlReport(directory: string, report: RunReport): string[] {
  const run = uniqueFiles(report);
  mkdirSync(directory, { recursive: true });
  const index = join(directory, INDEX_FILE);
  writeFileSync(index, indexPage(run));
  const written = [index];
  for (const row of run.rows) {
    for (const trace of row.traces) {
      const file = join(directory, trace.file);
      writeFileSync(file, tracePage(trace, INDEX_FILE));
      written.push(file);
    }
  }
  return written;
}
