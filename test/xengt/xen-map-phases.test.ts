/**
 * GNTTABOP_map_grant_ref in two phases (models/xen/grant-table.ts, xen/common/grant_table.c
 * `map_grant_ref`): phase 1 under the granter's grant-table read lock and active-entry lock (the
 * checks, the status bits, a first pin's `get_paged_frame` reference, the pin), the locks dropped;
 * phase 2 the owner check and references, the host mapping, the maptrack entry, or `undo_out`.
 * What holds in the window, what may run in it, that the phases end where the atomic map does,
 * and the flawed orderings: harmless whole, caught in the window.
 */
import { describe, expect, test } from 'vitest';
import { runTrace } from '../../src/execute.js';
import { GRANT_TO_DOM2, MAP_HOST_AND_DEVICE, runSteps } from './run-steps.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';
import { xenGrantMapMutants } from '../../properties/xengt/mutants.js';

/** dom1 (HVM guest) grants its gfn 0 to dom2 (PV). */
const grant = GRANT_TO_DOM2;
/** dom2 maps it host and device, writable. */
const map = MAP_HOST_AND_DEVICE;
const started: XenGtCommand = { ...map, phased: true };
const advance: XenGtCommand = { kind: 'advance', op: 0 };
const balloon: XenGtCommand = { kind: 'decreaseReservation', domid: 1, gfn: 0 };

function lastDetail(commands: readonly XenGtCommand[], design: XenGtDesign = xenMap): unknown {
  let state = design.init();
  let detail: unknown;
  for (const command of commands) {
    const step = design.step(state, command);
    detail = step.result.detail;
    state = step.state;
  }
  return detail;
}

const violations = (design: XenGtDesign, commands: readonly XenGtCommand[]): [string, number][] =>
  runTrace(design, commands, { stopAtFirst: false }).violations.map((found) => [found.invariant, found.afterStep]);

const mfn0 = xenMap.init().xen.domains[1]!.p2m[0]!.mfn;

describe('generation', () => {
  test('xen/map and the designs with their own ordering preempt the grant map; the others draw what they were measured with', () => {
    expect(xenMap.commands.interleaving?.phases('mapGrantRef')).toBe(2);
    expect(xenMap.commands.interleaving?.phases('destroyDomain')).toBe(2);
    expect(mutant('grant-map-unreferenced-pin').commands.interleaving?.phases('mapGrantRef')).toBe(2);
    expect(xenLookup.commands.interleaving?.phases('mapGrantRef')).toBe(1);
    expect(xenLookup.commands.interleaving?.phases('unmapGrantRef')).toBe(2);
  });
});

describe('map_grant_ref phase 1: checks and pin under the locks', () => {
  test('a first pin: status bits set, pins raised, the frame referenced by get_paged_frame, no handle written', () => {
    const before = xenMap.init();
    const { state, results } = runSteps([grant, started]);
    expect(results).toEqual(['ok', 'ok']);
    expect(state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 1, devw: 1, domid: 2, mfn: mfn0 });
    expect(state.xen.domains[1]!.grantTable[0]).toMatchObject({ reading: true, writing: true });
    expect(state.xen.memory.frames[mfn0]!.refcount).toBe(before.xen.memory.frames[mfn0]!.refcount + 1);
    expect(state.xen.domains[2]!.maptrack.every((mapping) => mapping === null)).toBe(true);
    expect(xenMap.inflight?.(state)).toEqual([{ actor: 'dom2', kind: 'mapGrantRef', phase: 'map' }]);
    expect(violations(xenMap, [grant, started])).toEqual([]);
  });

  test('refusals before the unlock are the atomic map’s, with nothing in flight', () => {
    const refused = runSteps([grant, { ...started, granterDomid: 9 }, { ...started, ref: 1 }]);
    expect(refused.results).toEqual(['ok', 'GNTST_bad_domain', 'GNTST_general_error']);
    expect(refused.state.inflight).toEqual([]);
  });

  test('advanced at once, it ends where the atomic map does', () => {
    const atomic = runSteps([grant, map]).state;
    const phased = runSteps([grant, started, advance]);
    expect(phased.results).toEqual(['ok', 'ok', 'ok']);
    expect(phased.state).toEqual(atomic);
    expect(lastDetail([grant, started, advance])).toEqual({ status: 0, handle: 0, devBusAddr: mfn0 });
  });
});

describe('the window: what runs between the pin and the mapping', () => {
  test('the granter cannot end access (GTF_reading is set), and the mapper cannot be destroyed', () => {
    const { results } = runSteps([
      grant,
      started,
      { kind: 'endAccess', domid: 1, ref: 0 },
      { kind: 'destroyDomain', domid: 2 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'EBUSY', 'EBUSY']);
  });

  test("the mapper's other vCPU maps: the in-flight map's handle is taken, not live", () => {
    const { state, results } = runSteps([
      grant,
      started,
      map,
      { kind: 'unmapGrantRef', mapperDomid: 2, handle: 0, hostAddr: 0, devBusAddr: null },
    ]);
    // The second map takes handle 1 (host_addr 0 is a virtual page of the PV mapper: both map there).
    expect(results).toEqual(['ok', 'ok', 'ok', 'GNTST_bad_handle']);
    expect(state.xen.domains[2]!.maptrack[0]).toBeNull();
    expect(state.xen.domains[2]!.maptrack[1]).not.toBeNull();
    const done = runSteps([grant, started, map, advance]);
    expect(done.state.xen.domains[2]!.maptrack.slice(0, 2).every((mapping) => mapping !== null)).toBe(true);
    expect(done.state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 2, devw: 2 });
    expect(violations(xenMap, [grant, started, map, advance])).toEqual([]);
  });

  test('a first pin ballooned out in the window: its reference keeps the frame, the map succeeds', () => {
    const { state, results } = runSteps([grant, started, balloon, advance]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(state.xen.domains[1]!.p2m[0]).toBeUndefined();
    expect(state.xen.memory.frames[mfn0]).toMatchObject({ owner: 1, refcount: 2 });
    expect(violations(xenMap, [grant, started, balloon, advance])).toEqual([]);
  });

  test('an already pinned entry whose frame is freed in the window: could_not_pin, the unwind drops the pins', () => {
    const deviceOnly: XenGtCommand = { ...map, host: false, hostAddr: null, phased: true };
    const commands: XenGtCommand[] = [
      grant,
      map,
      deviceOnly,
      { kind: 'unmapGrantRef', mapperDomid: 2, handle: 0, hostAddr: 0, devBusAddr: mfn0 },
      balloon,
      { kind: 'advance', op: 0 },
    ];
    const { state, results } = runSteps(commands);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'ok']);
    expect(lastDetail(commands)).toMatchObject({ status: -1, unwound: 'GNTST_general_error' });
    expect(state.xen.memory.frames[mfn0]).toMatchObject({ owner: null, refcount: 0 });
    expect(state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 0, hstr: 0, devw: 0, devr: 0, mfn: null });
    expect(state.xen.domains[1]!.grantTable[0]).toMatchObject({ reading: false, writing: false });
    expect(state.xen.domains[2]!.maptrack.every((mapping) => mapping === null)).toBe(true);
    expect(violations(xenMap, commands)).toEqual([]);
  });

  test('the granter destroyed in the window: the zombie keeps the referenced frame, the map completes', () => {
    const commands: XenGtCommand[] = [grant, started, { kind: 'destroyDomain', domid: 1 }, advance];
    const { state, results } = runSteps(commands);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(state.xen.domains[1]!.life).toBe('dying');
    expect(state.xen.memory.frames[mfn0]).toMatchObject({ owner: 1, refcount: 2 });
    // A new map of the dying granter's grant is refused (the model's rule; §2.8).
    expect(runSteps([...commands, map]).results[4]).toBe('GNTST_bad_domain');
    expect(violations(xenMap, commands)).toEqual([]);
  });

  test("a host mapping fails after the unlock: undo_out drops the first pin's reference and pins", () => {
    const noAddress: XenGtCommand = { ...started, device: false, hostAddr: null };
    const before = runSteps([grant]).state;
    const { state, results } = runSteps([grant, noAddress, advance]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(lastDetail([grant, noAddress, advance])).toMatchObject({ unwound: 'GNTST_general_error' });
    expect({ ...state.xen, domains: state.xen.domains.map((d) => ({ ...d, active: [] })) }).toEqual({
      ...before.xen,
      domains: before.xen.domains.map((d) => ({ ...d, active: [] })),
    });
    expect(state.xen.domains[1]!.active[0]).toMatchObject({ hstw: 0, hstr: 0, devw: 0, devr: 0, mfn: null });
  });
});

const mutant = (name: string): XenGtDesign => {
  const found = xenGrantMapMutants.find((design) => design.id === `mutant/xen-map/${name}`);
  if (found === undefined) throw new Error(name);
  return found;
};

describe('flawed orderings of the map window: harmless whole, caught in the window', () => {
  test('grant-map-unreferenced-pin: the granter balloons the gfn out, the map references a free frame', () => {
    const design = mutant('grant-map-unreferenced-pin');
    expect(violations(design, [grant, map, balloon])).toEqual([]);
    expect(violations(design, [grant, started, advance, balloon])).toEqual([]);
    expect(violations(design, [grant, started, balloon, advance])).toEqual([['free-iff-unreferenced', 4]]);
  });

  test('grant-map-skips-owner-check: an already pinned entry, unmapped and ballooned out in the window', () => {
    const design = mutant('grant-map-skips-owner-check');
    const deviceOnly: XenGtCommand = { ...map, host: false, hostAddr: null };
    const unmap: XenGtCommand = { kind: 'unmapGrantRef', mapperDomid: 2, handle: 0, hostAddr: 0, devBusAddr: mfn0 };
    expect(violations(design, [grant, map, deviceOnly, unmap, balloon])).toEqual([]);
    expect(violations(design, [grant, started, balloon, advance])).toEqual([]);
    expect(
      violations(design, [grant, map, { ...deviceOnly, phased: true }, unmap, balloon, { kind: 'advance', op: 0 }]),
    ).toEqual([['free-iff-unreferenced', 6]]);
  });

  test('grant-map-unwind-restores-snapshot: a map of the same ref in the window loses its pin', () => {
    const design = mutant('grant-map-unwind-restores-snapshot');
    const failing: XenGtCommand = { ...started, device: false, hostAddr: null };
    const deviceOnly: XenGtCommand = { ...map, host: false, hostAddr: null };
    expect(violations(design, [grant, { ...failing, phased: false }, deviceOnly])).toEqual([]);
    expect(violations(design, [grant, failing, advance, deviceOnly])).toEqual([]);
    expect(violations(design, [grant, failing, deviceOnly, advance])).toEqual([['grant-pins-match-handles', 4]]);
  });
});
