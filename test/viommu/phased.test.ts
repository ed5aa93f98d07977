/**
 * A trapped guest invalidation, phase by phase (`models/viommu/phased.ts`): the VMM's UNMAP_DMA runs
 * as the host's phases with the device running between them, and the guest's wait returns only
 * after; a VMM that completes the wait first leaves an invalidated GIOVA page reachable; another
 * trap waits for the one in flight; a phased invalidation run back to back is the atomic one.
 */
import fc from 'fast-check';
import { describe, expect, test } from 'vitest';
import { stepViommu } from '../../models/viommu/step.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { viommuReach } from '../../models/viommu/views.js';
import { viommuShadow, viommuNested, viommuShadowWaitBeforeUnmap } from '../../properties/viommu/designs.js';
import { runViommu } from './run-steps.js';
import { invalidatedGiovaUnreachable } from '../../properties/viommu/invariants.js';
import { generation } from '../../src/check.js';
import { stableJson } from '../../src/explore.js';
import { traceArbitrary } from '../../src/generate.js';

const invalidate = (phased = false): ViommuCommand => ({
  kind: 'guestInvalidate',
  granularity: 'page',
  did: GUEST_DID,
  giovaPage: 0,
  mask: 0,
  ...(phased ? { phased } : {}),
});
const advance: ViommuCommand = { kind: 'advance', op: 0 };
const dma: ViommuCommand = { kind: 'deviceDma', giovaPage: 0, write: false };
/** The guest maps GIOVA page 0 (shadowed by the VMM), the device reads it, the guest clears it. */
const mappedThenCleared: ViommuCommand[] = [
  { kind: 'guestMap', giovaPage: 0, gpaPage: 0, write: false },
  invalidate(),
  dma,
  { kind: 'guestUnmap', giovaPage: 0 },
];

function contractHolds(state: ViommuState): boolean {
  return invalidatedGiovaUnreachable.check({ before: null, command: null, result: null, after: state }) === null;
}

describe('a shadow VMM handling a trapped invalidation', () => {
  test("UNMAP_DMA's clear, sync and unpin run as phases with the device in between; the wait returns last", () => {
    const { results, states } = runViommu(viommuShadow, [
      ...mappedThenCleared,
      invalidate(true),
      advance,
      dma,
      advance,
      advance,
      advance,
    ]);
    const started = 4;
    expect(results[started]!.detail).toMatchObject({ started: true, requests: 2 });
    expect(states[started]!.host.vfio.inflight).toEqual([]);
    // The clear: the host's UNMAP_DMA is in flight, the page still pinned; the IOTLB still holds the
    // entry the device's read filled, so a DMA in the window lands in the guest's own frame.
    expect(states[started + 1]!.host.vfio.inflight.map((op) => op.kind)).toEqual(['unmapDma']);
    expect(results[started + 2]!.accesses.map((access) => access.outcome)).toEqual(['landed']);
    expect(states[started + 2]!.guest.invalidated).toEqual([]);
    // Sync, unpin, then the wait descriptor.
    expect(results.slice(started + 3).map((result) => result.detail?.['phase'])).toEqual([
      'host',
      'host',
      'completeWait',
    ]);
    const last = states[states.length - 1]!;
    expect(last.inflight).toEqual([]);
    expect(last.guest.invalidated).toEqual([0]);
    expect(viommuReach(last)).toEqual([]);
    for (const state of states) expect(contractHolds(state)).toBe(true);
  });

  test('completing the wait before UNMAP_DMA leaves the cleared page reachable once the guest goes on', () => {
    const { states } = runViommu(viommuShadowWaitBeforeUnmap, [...mappedThenCleared, invalidate(true), advance]);
    const waited = states[states.length - 1]!;
    expect(waited.guest.invalidated).toEqual([0]);
    expect(viommuReach(waited).map((reach) => reach.iovaPage)).toContain(0);
    expect(contractHolds(waited)).toBe(false);
    // Atomic, the same VMM holds: its requests all run within the step.
    const atomic = runViommu(viommuShadowWaitBeforeUnmap, [...mappedThenCleared, invalidate()]);
    expect(contractHolds(atomic.state)).toBe(true);
  });

  test("a page the guest maps again while its invalidation is in flight is not the invalidation's", () => {
    const { state } = runViommu(viommuShadow, [
      ...mappedThenCleared,
      invalidate(true),
      { kind: 'guestMap', giovaPage: 0, gpaPage: 0, write: false },
      advance,
      advance,
      advance,
      advance,
    ]);
    expect(state.inflight).toEqual([]);
    expect(state.guest.invalidated).toEqual([]);
  });

  test('another trap waits for the one in flight: the VMM finishes it first', () => {
    const { results, state } = runViommu(viommuShadow, [
      ...mappedThenCleared,
      invalidate(true),
      { kind: 'guestBalloonOut', gpaPage: 1 },
    ]);
    expect(results[results.length - 1]!.ok).toBe(true);
    expect(state.inflight).toEqual([]);
    expect(state.guest.invalidated).toEqual([0]);
  });

  test('an advance with nothing in flight is refused ENOENT and changes nothing', () => {
    const initial = viommuShadow.init();
    const step = stepViommu(initial, viommuShadow.config, advance);
    expect(step.result).toMatchObject({ ok: false, error: 'ENOENT' });
    expect(step.state).toBe(initial);
  });
});

describe('a phased invalidation run back to back is the atomic one', () => {
  test.for([viommuShadow, viommuNested])('$id', (design) => {
    const sequences = fc.sample(traceArbitrary(design.commands, { ...generation(design), preemptions: 0 }), {
      seed: 5,
      numRuns: 30,
    });
    for (const templates of sequences) {
      let atomic = design.init();
      let phased = design.init();
      for (const template of templates) {
        const command = design.resolve(atomic, template);
        const one = stepViommu(atomic, design.config, command);
        let step = stepViommu(
          phased,
          design.config,
          command.kind === 'guestInvalidate' ? { ...command, phased: true } : command,
        );
        const ok = step.result.ok;
        while (step.state.inflight.length > 0) step = stepViommu(step.state, design.config, advance);
        expect(stableJson(step.state), `${command.kind} leaves the same state`).toBe(stableJson(one.state));
        expect(ok).toBe(one.result.ok);
        atomic = one.state;
        phased = step.state;
      }
    }
  });
});
