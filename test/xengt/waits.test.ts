/**
 * Waits on the XenGT stack (issue 18, `src/waits.ts`): a command refused because an operation in
 * flight holds what it needs says what it waits for (`blocked`), each operation in flight what it
 * holds (`xenGtHoldings`), and `no-operation-waits-forever` tells the waits of the sound design,
 * which end, from the self-deadlock of `cache-release-takes-vgpu-lock`, which does not.
 */
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtState } from '../../models/xengt/types.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';

function run(commands: readonly XenGtCommand[], design: XenGtDesign = xenMap): { state: XenGtState; last: unknown } {
  let state = design.init();
  let last: unknown = null;
  for (const command of commands) {
    const step = design.step(state, command);
    state = step.state;
    last = step.result;
  }
  return { state, last };
}

const write = (vcpu: number, entry: number, gfn: number): XenGtCommand => ({
  kind: 'gttWrite',
  entry,
  gfn,
  present: true,
  vcpu,
  phased: true,
});

describe('XenGT waits', () => {
  test("a trapped write holds its vCPU and the vGPU's lock: another vCPU's write waits for the lock, and the wait ends", () => {
    const { state, last } = run([write(0, 0, 0), write(1, 1, 1)]);
    expect(last).toMatchObject({ ok: false, error: 'EBUSY', blocked: { waitsFor: "the vGPU's lock", holds: [] } });
    expect(xenMap.holdings?.(state)).toEqual([
      { actor: 'backend (dom0)', kind: 'gttWrite', holds: ['guest vCPU0', "the vGPU's lock"], needs: null },
    ]);
    expect(runTrace(xenMap, [write(0, 0, 0), write(1, 1, 1), write(0, 2, 2)], {}).violations).toEqual([]);
  });

  test("a balloon-out holds its domain's p2m lock; a grant map's host mapping waits for it, holding its hypercall", () => {
    const commands: XenGtCommand[] = [
      { kind: 'grantAccess', domid: 1, ref: 0, granteeDomid: 2, gfn: 0, readonly: false },
      {
        kind: 'mapGrantRef',
        mapperDomid: 2,
        granterDomid: 1,
        ref: 0,
        host: true,
        device: false,
        readonly: false,
        hostAddr: 5,
        phased: true,
      },
      { kind: 'decreaseReservation', domid: 2, gfn: 1, phased: true },
      { kind: 'advance', op: 0 },
    ];
    const { state, last } = run(commands);
    expect(last).toMatchObject({
      ok: false,
      error: 'EBUSY',
      blocked: { waitsFor: "dom2's p2m lock", holds: ["dom2's vCPUs in hypercalls"] },
    });
    expect(xenMap.holdings?.(state).map((holding) => [holding.kind, holding.holds, holding.needs])).toEqual([
      ['mapGrantRef', ["dom2's vCPUs in hypercalls"], "dom2's p2m lock"],
      ['decreaseReservation', ["dom2's p2m lock", "dom2's vCPUs in hypercalls"], null],
    ]);
    // The balloon needs nothing held: the map's wait ends.
    expect(runTrace(xenMap, commands, {}).violations).toEqual([]);
  });

  test('cache-release-takes-vgpu-lock: a write over a mapped entry waits for itself', () => {
    const design = xenGtMutants.find((found) => found.id === 'mutant/xen-map/cache-release-takes-vgpu-lock');
    if (design === undefined) throw new Error('mutant missing');
    const commands: XenGtCommand[] = [
      { kind: 'gttWrite', entry: 0, gfn: 0, present: true },
      { kind: 'gttWrite', entry: 0, gfn: 1, present: true },
    ];
    expect(runTrace(xenMap, commands, {}).violations).toEqual([]);
    const [found] = runTrace(design, commands, {}).violations;
    expect(found).toMatchObject({ invariant: 'no-operation-waits-forever', afterStep: 2 });
  });
});
