/**
 * Frame stability (docs/reference/xen.md §2.3 step 9, §2.6, §2.7, §2.10 inv. 5): while a ref is pinned,
 * new maps reuse act.mfn even after the granter ballooned the gfn out (or repopulated it);
 * once the pins drop to 0 a new map re-reads the gfn.
 */
import { describe, expect, it } from 'vitest';
import { mapGrantRef } from '../../../models/xen/grant-table.js';
import { decreaseReservation, populatePhysmap } from '../../../models/xen/memory-op.js';
import type { XenState } from '../../../models/xen/types.js';
import {
  HVM,
  PV,
  config,
  dom,
  expectOk,
  expectRefused,
  expectStatus,
  frame,
  grantedWorld,
  map,
  mapArgs,
  mfnOf,
  unmap,
} from './world.js';

/** dom2 maps dom1's ref 0 (gfn 0), then dom1 balloons gfn 0 out. Returns the pinned mfn. */
function pinnedThenBallooned(state: XenState): number {
  const mfn = mfnOf(state, HVM, 0);
  map(state);
  expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
  return mfn;
}

describe('frame stability while pinned', () => {
  it('a ballooned-out granted frame survives: owned by the granter, counted, not free', () => {
    const state = grantedWorld();
    const mfn = pinnedThenBallooned(state);
    expect(dom(state, HVM).p2m[0]).toBeUndefined();
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
    expect(dom(state, HVM).totPages).toBe(2);
    expect(state.memory.freeList).not.toContain(mfn);
  });

  it('a new map of the still-pinned ref reuses act.mfn although the gfn is empty', () => {
    const state = grantedWorld();
    const mfn = pinnedThenBallooned(state);
    const detail = expectOk(mapGrantRef(state, config, mapArgs({ hostAddr: 11, device: true })));
    expect(detail.devBusAddr).toBe(mfn);
    expect(dom(state, PV).maptrack[detail.handle as number]!.mfn).toBe(mfn);
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 2, devw: 1, mfn });
    expect(frame(state, mfn).refcount).toBe(3);
  });

  it('a new map of the still-pinned ref ignores a repopulated gfn', () => {
    const state = grantedWorld({}, { maptrackHandles: 3 });
    const mfn = pinnedThenBallooned(state);
    const fresh = expectOk(populatePhysmap(state, { domid: HVM, gfn: 0 })).mfn as number;
    expect(fresh).not.toBe(mfn);
    const detail = expectOk(mapGrantRef(state, config, mapArgs({ host: false, device: true })));
    expect(detail.devBusAddr).toBe(mfn);
  });
});

describe('frame stability after the pins drop to 0', () => {
  it('the last unmap frees the ballooned-out frame and clears act.mfn', () => {
    const state = grantedWorld();
    const mfn = pinnedThenBallooned(state);
    unmap(state);
    expect(frame(state, mfn)).toEqual({ mfn, owner: null, refcount: 0 });
    expect(dom(state, HVM).active[0]!.mfn).toBeNull();
  });

  it('a new map re-reads the gfn: empty → GNTST_bad_page', () => {
    const state = grantedWorld();
    pinnedThenBallooned(state);
    unmap(state);
    const result = expectRefused(state, (copy) => mapGrantRef(copy, config, mapArgs()));
    expectStatus(result, 'GNTST_bad_page');
  });

  it('a new map re-reads the gfn: repopulated → the new frame', () => {
    const state = grantedWorld();
    const old = pinnedThenBallooned(state);
    unmap(state);
    const fresh = expectOk(populatePhysmap(state, { domid: HVM, gfn: 0 })).mfn as number;
    const detail = expectOk(mapGrantRef(state, config, mapArgs({ host: false, device: true })));
    expect(detail.devBusAddr).toBe(fresh);
    expect(dom(state, HVM).active[0]!.mfn).toBe(fresh);
    // lifo hands the just-freed frame out again: the reuse the pin protected against.
    expect(fresh).toBe(old);
  });
});
