/**
 * Xen's hypercalls in phases (models/xengt/inflight.ts): GNTTABOP_unmap_grant_ref between
 * unmap_common and unmap_common_complete, XENMEM_decrease_reservation between the p2m removal
 * and the page puts. What holds in the window, what waits, that the two phases end where the
 * atomic hypercall does, and the flawed orderings: harmless atomic, caught in the window.
 */
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { GRANT_TO_DOM2, MAP_HOST_AND_DEVICE, runSteps } from './run-steps.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';

/** dom1 grants its gfn 0 to dom2 (PV), which maps it host and device. */
const granted: XenGtCommand[] = [GRANT_TO_DOM2, MAP_HOST_AND_DEVICE];

const mutant = (bug: string): (typeof xenGtMutants)[number] => {
  const found = xenGtMutants.find((design) => design.id === `mutant/xen-map/${bug}`);
  if (found === undefined) throw new Error(bug);
  return found;
};

describe('grant unmap in two phases', () => {
  const unmap: XenGtCommand = { kind: 'unmapGrantRef', mapperDomid: 2, handle: 0, hostAddr: 0, devBusAddr: null };

  test('between unmap_common and its completion: the handle is free, the pins and the page reference stay', () => {
    const before = runSteps(granted).state;
    const mfn = before.xen.domains[1]!.p2m[0]!.mfn;
    const { state, results } = runSteps([...granted, { ...unmap, devBusAddr: mfn, phased: true }]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(state.xen.domains[2]!.maptrack[0]).toBeNull();
    expect(state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 1, devw: 1 });
    expect(state.xen.memory.frames[mfn]!.refcount).toBe(before.xen.memory.frames[mfn]!.refcount);
    expect(xenMap.inflight?.(state)).toEqual([{ actor: 'dom2', kind: 'unmapGrantRef', phase: 'complete' }]);
    // A new map of the ref reuses the free handle; the completion drops what the op recorded.
    const reused = runSteps([
      ...granted,
      { ...unmap, devBusAddr: mfn, phased: true },
      granted[1]!,
      { kind: 'advance', op: 0 },
    ]);
    expect(reused.results.slice(3)).toEqual(['ok', 'ok']);
    expect(reused.state.xen.domains[2]!.maptrack[0]).not.toBeNull();
    expect(reused.state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 1, devw: 1 });
  });

  test('started and advanced, it ends where the atomic unmap does; every invariant holds on the way', () => {
    const mfn = runSteps(granted).state.xen.domains[1]!.p2m[0]!.mfn;
    const whole = { ...unmap, devBusAddr: mfn };
    const atomic = runSteps([...granted, whole]).state;
    const phased = runSteps([...granted, { ...whole, phased: true }, { kind: 'advance', op: 0 }]).state;
    expect({ ...phased, inflight: [] }).toEqual({ ...atomic, inflight: [] });
    expect(phased.inflight).toEqual([]);
    expect(
      runTrace(xenMap, [...granted, { ...whole, phased: true }, { kind: 'advance', op: 0 }], {}).violations,
    ).toEqual([]);
  });

  test('grant-unmap-puts-before-flush: harmless atomic, caught between the phases', () => {
    const design = mutant('grant-unmap-puts-before-flush');
    expect(runTrace(design, [...granted, unmap], {}).violations).toEqual([]);
    const found = runTrace(design, [...granted, { ...unmap, phased: true }], { stopAtFirst: false }).violations;
    expect(found.map((violation) => [violation.invariant, violation.afterStep])).toEqual([
      ['frame-refcount-matches-holders', 3],
      ['grant-pins-match-handles', 3],
    ]);
  });
});

describe('balloon-out in two phases', () => {
  const balloon: XenGtCommand = { kind: 'decreaseReservation', domid: 1, gfn: 3 };

  test("between the p2m removal and the puts: the frame stays the guest's, its p2m lock held", () => {
    const mfn = xenMap.init().xen.domains[1]!.p2m[3]!.mfn;
    const { state, results } = runSteps([{ ...balloon, phased: true }]);
    expect(results).toEqual(['ok']);
    expect(state.xen.domains[1]!.p2m[3]).toBeUndefined();
    expect(state.xen.memory.frames[mfn]).toMatchObject({ owner: 1, refcount: 2 });
    // The guest's p2m is locked: its own populate waits, as does its destruction; another domain runs.
    const next = runSteps([
      { ...balloon, phased: true },
      { kind: 'populatePhysmap', domid: 1, gfn: 3 },
      { kind: 'destroyDomain', domid: 1 },
      { kind: 'populatePhysmap', domid: 2, gfn: 4 },
    ]);
    expect(next.results).toEqual(['ok', 'EBUSY', 'EBUSY', 'ok']);
    expect(next.state.xen.domains[2]!.p2m[4]!.mfn).not.toBe(mfn);
  });

  test('started and advanced, it ends where the atomic balloon does', () => {
    const atomic = runSteps([balloon]).state;
    const phased = runSteps([
      { ...balloon, phased: true },
      { kind: 'advance', op: 0 },
    ]).state;
    expect({ ...phased, inflight: [] }).toEqual({ ...atomic, inflight: [] });
    expect(
      runTrace(
        xenMap,
        [
          { ...balloon, phased: true },
          { kind: 'advance', op: 0 },
        ],
        {},
      ).violations,
    ).toEqual([]);
  });

  test('balloon-puts-before-p2m-remove: harmless atomic, caught between the phases', () => {
    const design = mutant('balloon-puts-before-p2m-remove');
    expect(runTrace(design, [balloon], {}).violations).toEqual([]);
    const found = runTrace(design, [{ ...balloon, phased: true }], {}).violations;
    expect(found.map((violation) => [violation.invariant, violation.afterStep])).toEqual([
      ['frame-refcount-matches-holders', 1],
    ]);
  });
});
