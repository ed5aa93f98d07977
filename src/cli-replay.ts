/** `dmaprop replay FILE`: a corpus entry step by step, with the state that matters at each step. */
import { readFileSync } from 'node:fs';
import type { OpResult } from '../models/result.js';
import { UsageError } from './cli-io.js';
import type { CliIo } from './cli-io.js';
import { CorpusError, parseEntry, replayEntry } from './corpus.js';
import type { AnyDesign, Transition } from './design.js';
import { formatResult } from './report.js';
import { replaySnippet } from './snippet.js';

export interface ReplayFlags {
  readonly json?: boolean;
  readonly ts?: boolean;
}

interface ReplayedStep {
  readonly command: unknown;
  readonly result: OpResult;
  readonly state: string[];
}

function readEntryFile(file: string, registry: readonly AnyDesign[]): ReturnType<typeof parseEntry> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    return parseEntry(text, file, registry);
  } catch (error) {
    if (error instanceof CorpusError) throw new UsageError(error.message);
    throw error;
  }
}

export function runReplay(file: string, flags: ReplayFlags, io: CliIo, registry: readonly AnyDesign[]): number {
  const { entry, design } = readEntryFile(file, registry);
  if (flags.ts === true) {
    io.out(replaySnippet(entry, file));
    return 0;
  }
  const invariant = design.invariants.find((known) => known.name === entry.invariant);
  const steps: ReplayedStep[] = [];
  let violation: { afterStep: number; message: string; actual: string; expected: string } | null = null;
  let state: unknown = design.init();
  // The initial configuration itself may already break the invariant (a zero-step entry).
  const atStart = invariant?.check({ before: null, command: null, result: null, after: state }) ?? null;
  if (atStart !== null) violation = { afterStep: 0, ...atStart };
  for (const command of violation === null ? entry.steps : []) {
    const { state: after, result } = design.step(state, design.resolve(state, command));
    const transition: Transition<unknown, unknown> = { before: state, command, result, after };
    steps.push({ command, result, state: design.explainStep?.(transition) ?? [] });
    const found = invariant?.check(transition) ?? null;
    state = after;
    if (found !== null) {
      violation = { afterStep: steps.length, ...found };
      break;
    }
  }
  const problem = replayEntry(entry, design);
  if (flags.json === true) {
    io.out(
      `${JSON.stringify({ file, design: entry.design, invariant: entry.invariant, expect: entry.expect, found: entry.found, reproduces: problem === null, problem, steps, violation }, null, 2)}\n`,
    );
    return problem === null ? 0 : 1;
  }
  io.out(
    `${file}\n  ${entry.design} [${entry.stack}], ${entry.invariant}: expect ${entry.expect}; found with seed ${entry.found.seed} on ${entry.found.date} by dmaprop ${entry.found.toolVersion}\n\n`,
  );
  steps.forEach((step, index) => {
    io.out(
      `  ${String(index + 1).padStart(3)}. ${design.formatCommand?.(step.command) ?? JSON.stringify(step.command)}  → ${formatResult(step.result)}\n`,
    );
    for (const line of step.state) io.out(`         ${line}\n`);
  });
  io.out(
    violation === null
      ? `\n  no violation of ${entry.invariant}\n`
      : `\n  violated after step ${violation.afterStep}: ${violation.message}\n    actual:   ${violation.actual}\n    expected: ${violation.expected}\n`,
  );
  io.out(problem === null ? '  ✓ reproduces the recorded outcome\n' : `  ✗ ${problem}\n`);
  return problem === null ? 0 : 1;
}
