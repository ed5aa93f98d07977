/**
 * A trace step by step with the state that matters after each step (`Design.explainStep`): what
 * `dmaprop replay` prints and what the vitest helper puts in a failing test's message.
 */
import type { OpResult } from '../models/result.js';
import type { AnyDesign, Transition } from './design.js';
import { runTrace } from './execute.js';
import { formatResult } from './report.js';

export interface ExplainedStep {
  readonly command: unknown;
  readonly result: OpResult;
  /** The state that matters after the step, a few lines in domain words. */
  readonly state: string[];
}

/** What `explainStep` says about a step, or what went wrong asking it (it is the design's code too). */
function explain(design: AnyDesign, transition: Transition<unknown, unknown>): string[] {
  try {
    return design.explainStep?.(transition) ?? [];
  } catch (error) {
    return [`(explainStep threw ${(error as Error).name}: ${(error as Error).message})`];
  }
}

/** Each step that returns, with its result and the state that matters; never throws. */
export function explainTrace(design: AnyDesign, commands: readonly unknown[]): ExplainedStep[] {
  const run = runTrace(design, commands, { invariants: [] });
  const steps: ExplainedStep[] = [];
  try {
    let state: unknown = design.init();
    for (const executed of run.steps) {
      const { state: after } = design.step(state, executed.command);
      const transition = { before: state, command: executed.command, result: executed.result, after };
      steps.push({ command: executed.command, result: executed.result, state: explain(design, transition) });
      state = after;
    }
  } catch {
    // runTrace ran the same steps without throwing; a design that throws the second time is not
    // deterministic, and its crash shows where the trace is replayed.
  }
  return steps;
}

/** The explained steps as report lines, numbered, indented by `indent`. */
export function formatExplainedSteps(design: AnyDesign, steps: readonly ExplainedStep[], indent = '  '): string[] {
  const lines: string[] = [];
  steps.forEach((step, index) => {
    const command = design.formatCommand?.(step.command) ?? JSON.stringify(step.command);
    lines.push(`${indent}${String(index + 1).padStart(3)}. ${command}  → ${formatResult(step.result)}`);
    for (const line of step.state) lines.push(`${indent}       ${line}`);
  });
  return lines;
}
