/** Running commands on the KVMGT stack from its standard world, for the mediator's unit tests. */
import { expect } from 'vitest';
import { stepKvmgt } from '../../../models/kvmgt/step.js';
import type { KvmgtCommand, KvmgtResult, KvmgtState } from '../../../models/kvmgt/types.js';
import type { KvmgtDesign } from '../../../properties/kvmgt/design.js';
import { gvtWriteProtect } from '../../../properties/kvmgt/designs.js';

/** Runs `commands` from the design's initial state; each must be accepted. */
export function run(commands: readonly KvmgtCommand[], design: KvmgtDesign = gvtWriteProtect): KvmgtState {
  let state = design.init();
  for (const command of commands) {
    const step = design.step(state, command);
    expect(step.result.ok, `${command.kind}: ${String(step.result.error)}`).toBe(true);
    state = step.state;
  }
  return state;
}

/**
 * Runs `commands` from the design's initial state through the model's step, recording each refusal
 * and each trapped write whose handler failed (`detail.handlerError`) as "kind: error" instead of
 * failing: for tests that expect some of them.
 */
export function runRecordingErrors(
  design: KvmgtDesign,
  commands: readonly KvmgtCommand[],
): { state: KvmgtState; errors: string[] } {
  let state = design.init();
  const errors: string[] = [];
  for (const command of commands) {
    const step = stepKvmgt(state, design.config, command);
    if (!step.result.ok) errors.push(`${command.kind}: ${String(step.result.error)}`);
    const handler = step.result.detail?.['handlerError'];
    if (handler !== undefined) errors.push(`${command.kind} handler: ${handler}`);
    state = step.state;
  }
  return { state, errors };
}

/** One step from `state`. */
export function step(
  state: KvmgtState,
  command: KvmgtCommand,
  design: KvmgtDesign = gvtWriteProtect,
): { state: KvmgtState; result: KvmgtResult } {
  return design.step(state, command) as { state: KvmgtState; result: KvmgtResult };
}

export function pte(gfn: number, index: number, targetGfn: number, present = true, sizeBytes = 8): KvmgtCommand {
  return { kind: 'guestWritePte', gfn, index, present, targetGfn, sizeBytes };
}

export function ggtt(index: number, gfn: number, present = true, sizeBytes = 8, offsetBytes = 0): KvmgtCommand {
  return { kind: 'ggttWrite', index, gfn, present, sizeBytes, offsetBytes };
}
