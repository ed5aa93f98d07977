/**
 * GNTTABOP_map_grant_ref in two phases at the model level (docs/reference/xen.md §2.3, §2.12;
 * xen/common/grant_table.c `map_grant_ref`): `startMapGrantRef` refuses with the atomic map's
 * status, in the same order, changing nothing; `finishMapGrantRef` ends a successful first phase
 * where the atomic map ends, or unwinds with GNTST_general_error (`could_not_pin`, a failed host
 * mapping) leaving the counts the first phase found.
 */
import { describe, expect, it } from 'vitest';
import { finishMapGrantRef, mapGrantRef, startMapGrantRef, unmapGrantRef } from '../../../models/xen/grant-table.js';
import type { MapGrantArgs } from '../../../models/xen/grant-table.js';
import { decreaseReservation } from '../../../models/xen/memory-op.js';
import { cloneXenState } from '../../../models/xen/state.js';
import type { XenState } from '../../../models/xen/types.js';
import {
  HVM,
  NO_DOMAIN,
  PV,
  config,
  expectOk,
  expectStatus,
  frame,
  grantedWorld,
  map,
  mapArgs,
  mfnOf,
} from './world.js';

function refusedAtStart(state: XenState, overrides: Partial<MapGrantArgs>, reserved: number[] = []): string {
  const copy = cloneXenState(state);
  const started = startMapGrantRef(copy, config, mapArgs(overrides), reserved);
  expect(started.pending).toBeUndefined();
  expect(copy).toEqual(state);
  // The same status as the atomic map's.
  const atomic = mapGrantRef(cloneXenState(state), config, mapArgs(overrides), reserved);
  expect(started.result).toEqual(atomic);
  return String(started.result.error);
}

describe('startMapGrantRef: the refusals before the unlock', () => {
  it('are the atomic map’s statuses, in its order, with nothing changed', () => {
    const state = grantedWorld();
    expect(refusedAtStart(state, { host: false, device: false })).toBe('GNTST_bad_gntref');
    expect(refusedAtStart(state, { mapperDomid: HVM, device: true })).toBe('GNTST_general_error');
    expect(refusedAtStart(state, { granterDomid: NO_DOMAIN })).toBe('GNTST_bad_domain');
    expect(refusedAtStart(state, { ref: 9 })).toBe('GNTST_bad_gntref');
    expect(refusedAtStart(state, { ref: 1 })).toBe('GNTST_general_error');
    // Every handle free but both taken by maps in flight: GNTST_no_space.
    expect(refusedAtStart(state, {}, [0, 1])).toBe('GNTST_no_space');
  });

  it('an empty granted gfn is GNTST_bad_page (get_paged_frame)', () => {
    const state = grantedWorld();
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expectStatus(startMapGrantRef(state, config, mapArgs()).result, 'GNTST_bad_page');
  });
});

describe('finishMapGrantRef', () => {
  it('after a first pin: the same state and result as the atomic map', () => {
    const state = grantedWorld();
    const atomic = cloneXenState(state);
    const whole = mapGrantRef(atomic, config, mapArgs({ device: true }));
    const started = startMapGrantRef(state, config, mapArgs({ device: true }));
    expect(started.pending).toMatchObject({ pageRef: true, handle: 0, mfn: mfnOf(state, HVM, 0) });
    expect(finishMapGrantRef(state, config, started.pending!)).toEqual(whole);
    expect(state).toEqual(atomic);
  });

  it('an entry already pinned takes no reference at the pin; could_not_pin once its frame is freed', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    const started = startMapGrantRef(state, config, mapArgs({ hostAddr: 11 }));
    expect(started.pending?.pageRef).toBe(false);
    expect(frame(state, mfn).refcount).toBe(2);
    // The first mapping goes and the granter balloons the gfn out: the frame is freed.
    expectOk(unmapGrantRef(state, config, { mapperDomid: PV, handle: 0, hostAddr: 10, devBusAddr: null }));
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expect(frame(state, mfn)).toMatchObject({ owner: null, refcount: 0 });
    expectStatus(finishMapGrantRef(state, config, started.pending!), 'GNTST_general_error');
    expect(state.domains[HVM]!.active[0]).toMatchObject({ hstw: 0, hstr: 0, devw: 0, devr: 0, mfn: null });
    expect(state.domains[HVM]!.grantTable[0]).toMatchObject({ reading: false, writing: false });
    expect(state.domains[PV]!.maptrack.every((mapping) => mapping === null)).toBe(true);
  });
});
