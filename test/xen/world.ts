/**
 * The small world of the grant v2 / copy tests, and a runner that applies commands through
 * `stepGrantV2` and checks the invariants of `properties/xen/grant-v2-invariants.ts` after each.
 *
 * World (lifo allocator, 16 frames, 10 grant entries: refs 0–7 reserved, 8–9 not): dom0 = HVM
 * privileged {gfn 0}, dom1 = HVM {gfn 0, 1, 2}, dom2 = PV {gfn 0}, dom3 = HVM {gfn 0, 1}; each
 * domain's table has its one shared frame as a host frame (`setUpGrantFrames`).
 */
import { expect } from 'vitest';
import type { OpResult } from '../../models/result.js';
import type { XenConfig } from '../../models/xen/config.js';
import { stepGrantV2 } from '../../models/xen/grant-v2-commands.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';
import { setUpGrantFrames } from '../../models/xen/grant-v2.js';
import { cloneXenState, createXenState } from '../../models/xen/state.js';
import type { XenState } from '../../models/xen/types.js';
import type { Violation } from '../../src/design.js';
import { frameRefcountMatchesXenHolders, grantV2Invariants } from '../../properties/xen/grant-v2-invariants.js';

export const sound: XenConfig = { bugs: [] };

export const DOM0 = 0;
export const HVM = 1;
export const PV = 2;
export const HVM2 = 3;
export const NO_DOMAIN = 9;
/** The first ref a version switch does not keep. */
export const REF = 8;

export function v2World(): XenState {
  const state = createXenState({
    memory: { frameCount: 16, policy: 'lifo', randomSeed: 'v2' },
    domains: [
      { translated: true, privileged: true, initialGfns: [0] },
      { translated: true, privileged: false, initialGfns: [0, 1, 2] },
      { translated: false, privileged: false, initialGfns: [0] },
      { translated: true, privileged: false, initialGfns: [0, 1] },
    ],
    grantEntries: 10,
    maptrackHandles: 4,
  });
  for (const domain of state.domains) setUpGrantFrames(state, domain.domid);
  return state;
}

export const invariants = [
  ...grantV2Invariants<XenState, GrantV2Command>((state) => state),
  frameRefcountMatchesXenHolders<XenState, GrantV2Command>((state) => state),
];

/** The first invariant violated by `after`, by name, or null. */
export function violated(after: XenState): { readonly name: string; readonly violation: Violation } | null {
  for (const invariant of invariants) {
    const violation = invariant.check({ before: null, command: null, result: null, after });
    if (violation !== null) return { name: invariant.name, violation };
  }
  return null;
}

/** Runs `commands` from `state`; stops at the first violation. Returns the final state, results and the violation. */
export function run(
  state: XenState,
  config: XenConfig,
  commands: readonly GrantV2Command[],
): { state: XenState; results: OpResult[]; violation: ReturnType<typeof violated> } {
  let current = state;
  const results: OpResult[] = [];
  for (const command of commands) {
    const before = cloneXenState(current);
    const step = stepGrantV2(current, config, command);
    // Purity: the state a step was given is unchanged.
    expect(current).toEqual(before);
    current = step.state;
    results.push(step.result);
    const violation = violated(current);
    if (violation !== null) return { state: current, results, violation };
  }
  return { state: current, results, violation: null };
}

/** One command on `state`, in place of it (the tests' shorthand); returns the result. */
export function apply(holder: { state: XenState }, config: XenConfig, command: GrantV2Command): OpResult {
  const step = stepGrantV2(holder.state, config, command);
  holder.state = step.state;
  return step.result;
}

/** Refused, and the state after equals the state before. */
export function expectRefused(state: XenState, config: XenConfig, command: GrantV2Command, error: string): OpResult {
  const step = stepGrantV2(state, config, command);
  expect(step.result.ok).toBe(false);
  expect(step.result.error).toBe(error);
  expect(step.state).toEqual(state);
  return step.result;
}

export function expectOk(result: OpResult): void {
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
}
