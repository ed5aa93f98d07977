/** Runs XenGT commands through a design's step, keeping each result's status: the Xen phase tests' runner. */
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';

/** The state after `commands`, and each step's result: 'ok' or the error name. */
export function runSteps(
  commands: readonly XenGtCommand[],
  design: XenGtDesign = xenMap,
): { state: XenGtState; results: string[] } {
  let state = design.init();
  const results: string[] = [];
  for (const command of commands) {
    const step = design.step(state, command);
    results.push(step.result.ok ? 'ok' : String(step.result.error));
    state = step.state;
  }
  return { state, results };
}
