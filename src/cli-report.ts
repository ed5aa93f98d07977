/**
 * `dmaprop report FILE… --html DIR`: an HTML report of earlier runs, from corpus entries and from
 * the output of `check --json` and `explore --json`. Each trace is run again through its design.
 */
import { readFileSync } from 'node:fs';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import type { AnyDesign } from './design.js';
import { ReportInputError, rowsOfFile } from './html/from-files.js';
import { writeHtmlReport } from './html/write-report.js';
import { checkOutputDirectory, OutputPathError } from './output-path.js';

export interface ReportFlags {
  readonly html: string;
}

export function runReport(
  files: readonly string[],
  flags: ReportFlags,
  io: CliIo,
  registry: readonly AnyDesign[],
  configFile: string | null = null,
): number {
  try {
    checkOutputDirectory(flags.html, '--html');
  } catch (error) {
    if (error instanceof OutputPathError) throw new UsageError(error.message);
    throw error;
  }
  const rows = files.flatMap((file) => {
    let content: string;
    try {
      content = readFileSync(file, 'utf8');
    } catch (error) {
      throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
    }
    try {
      return rowsOfFile(content, file, registry, configFile ?? undefined);
    } catch (error) {
      if (error instanceof ReportInputError) throw new UsageError(error.message);
      throw error;
    }
  });
  const written = writeHtmlReport(flags.html, { title: `dmaprop report: ${files.join(', ')}`, rows });
  io.out(
    `HTML report: ${written[0] ?? flags.html} (${written.length - 1} trace page${written.length === 2 ? '' : 's'})\n`,
  );
  return 0;
}
