/**
 * `dmaprop replay FILE`: a corpus entry step by step, with the state that matters at each step.
 * The file is read as the corpus reads it (a regular file of bounded size: a FIFO or a link to
 * `/dev/zero` is refused, never waited on), and the steps run through `runTrace`, so an exception
 * of the design's code is shown as the crash it is, never thrown at the user.
 */
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { CorpusError, parseEntry, readEntryText, replayEntry } from './corpus.js';
import type { AnyDesign } from './design.js';
import { explainTrace, formatExplainedSteps } from './explain-trace.js';
import { crashWhere, runTrace } from './execute.js';
import type { Crash } from './execute.js';
import { replaySnippet } from './snippet.js';
import { createStats } from './stats.js';
import { entryRow } from './html/report-model.js';
import { writeHtmlReport } from './html/write-report.js';
import { checkOutputDirectory, OutputPathError } from './output-path.js';

export interface ReplayFlags {
  readonly json?: boolean;
  readonly ts?: boolean;
  /** `--html DIR`: write the replay as an HTML report there (index.html and the trace's page). */
  readonly html?: string;
}

function readEntryFile(file: string, registry: readonly AnyDesign[]): ReturnType<typeof parseEntry> {
  const read = readEntryText(file);
  if ('problem' in read) throw new UsageError(`cannot read ${file}: ${read.problem}`);
  try {
    return parseEntry(read.text, file, registry);
  } catch (error) {
    if (error instanceof CorpusError) throw new UsageError(error.message);
    throw error;
  }
}

export function runReplay(
  file: string,
  flags: ReplayFlags,
  io: CliIo,
  registry: readonly AnyDesign[],
  configFile: string | null = null,
): number {
  const { entry, design } = readEntryFile(file, registry);
  if (flags.html !== undefined) {
    try {
      checkOutputDirectory(flags.html, '--html');
    } catch (error) {
      if (error instanceof OutputPathError) throw new UsageError(error.message);
      throw error;
    }
    const row = entryRow(entry, design, file, configFile ?? undefined);
    const index = writeHtmlReport(flags.html, { title: `dmaprop replay ${file}`, rows: [row] })[0];
    if (flags.json !== true && flags.ts !== true) io.out(`HTML report: ${index ?? flags.html}\n`);
  }
  if (flags.ts === true) {
    io.out(replaySnippet(entry, file, configFile ?? undefined));
    return 0;
  }
  const invariants = entry.invariant === undefined ? [] : [entry.invariant];
  const run = runTrace(design, entry.steps, {
    invariants,
    ...(entry.expect === 'crash' ? { stopAtFirst: false, strict: entry.crash.name === 'PurityError' } : {}),
    ...(entry.expect === 'crash' && entry.crash.site === 'classify' ? { stats: createStats() } : {}),
  });
  const found = run.violations[0];
  const violation =
    found === undefined
      ? null
      : {
          afterStep: found.afterStep,
          message: found.violation.message,
          actual: found.violation.actual,
          expected: found.violation.expected,
        };
  const crash: Crash | null = run.crash;
  const steps = explainTrace(
    design,
    run.steps.map((step) => step.command),
  );
  const problem = replayEntry(entry, design);
  const what = entry.expect === 'crash' ? `crash in ${entry.crash.site}` : entry.invariant;
  if (flags.json === true) {
    const crashJson =
      crash === null
        ? null
        : {
            atStep: crash.atStep,
            site: crash.site,
            invariant: crash.invariant,
            name: crash.name,
            message: crash.message,
          };
    io.out(
      `${JSON.stringify({ file, design: entry.design, invariant: entry.invariant ?? null, expect: entry.expect, found: entry.found, reproduces: problem === null, problem, steps, violation, crash: crashJson }, null, 2)}\n`,
    );
    return problem === null ? 0 : 1;
  }
  io.out(
    `${file}\n  ${entry.design} [${entry.stack}], ${what}: expect ${entry.expect}; found with seed ${entry.found.seed} on ${entry.found.date} by dmaprop ${entry.found.toolVersion}\n\n`,
  );
  for (const line of formatExplainedSteps(design, steps)) io.out(`${line}\n`);
  if (crash !== null) {
    if (crash.site === 'resolve' || crash.site === 'step') {
      const command = entry.steps[crash.atStep - 1];
      io.out(
        `  ${String(crash.atStep).padStart(3)}. ${design.formatCommand?.(command) ?? JSON.stringify(command)}  → threw ${crash.name}\n`,
      );
    }
    io.out(`\n  crashed at ${crashWhere(crash)}: ${crash.name}: ${crash.message}\n`);
  } else if (violation === null) {
    io.out(`\n  no violation${entry.invariant === undefined ? '' : ` of ${entry.invariant}`}\n`);
  } else {
    io.out(
      `\n  violated after step ${violation.afterStep}: ${violation.message}\n    actual:   ${violation.actual}\n    expected: ${violation.expected}\n`,
    );
  }
  io.out(problem === null ? '  ✓ reproduces the recorded outcome\n' : `  ✗ ${problem}\n`);
  return problem === null ? 0 : 1;
}
