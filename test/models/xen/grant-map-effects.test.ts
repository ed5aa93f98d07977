/**
 * GNTTABOP_map_grant_ref on success (docs/reference/xen.md §2.3 steps 8–13, §2.6): outputs, pin counters,
 * GTF_reading/GTF_writing, page references (+1 per kind) and the HVM p2m grant entry.
 */
import { describe, expect, it } from 'vitest';
import { mapGrantRef } from '../../../models/xen/grant-table.js';
import { gntst } from '../../../models/xen/status.js';
import { DOM0, HVM, PV, config, dom, expectOk, frame, grantedWorld, map, mapArgs, mfnOf } from './world.js';

describe('map_grant_ref: outputs', () => {
  it('a host map returns GNTST_okay, the first free handle and no device address', () => {
    const state = grantedWorld();
    const detail = expectOk(mapGrantRef(state, config, mapArgs()));
    expect(detail).toEqual({ status: gntst.okay, handle: 0, devBusAddr: null });
  });

  it('a device map returns dev_bus_addr = the granted frame', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    const detail = expectOk(mapGrantRef(state, config, mapArgs({ host: false, device: true, hostAddr: null })));
    expect(detail.devBusAddr).toBe(mfn);
    expect(detail.status).toBe(0);
  });

  it('records the maptrack entry of the mapper', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state, { device: true });
    expect(dom(state, PV).maptrack[0]).toEqual({
      granterDomid: HVM,
      granterIncarnation: 0,
      ref: 0,
      host: true,
      device: true,
      readonly: false,
      mfn,
      hostAddr: 10,
    });
  });

  it('a device-only map records no host address', () => {
    const state = grantedWorld();
    map(state, { host: false, device: true, hostAddr: 10 });
    expect(dom(state, PV).maptrack[0]!.hostAddr).toBeNull();
  });

  it('successive maps get distinct handles', () => {
    const state = grantedWorld();
    expect(map(state)).toBe(0);
    expect(map(state, { hostAddr: 11 })).toBe(1);
  });
});

describe('map_grant_ref: pin counters and status bits', () => {
  it('a writable host map pins hstw and sets GTF_reading and GTF_writing', () => {
    const state = grantedWorld();
    map(state);
    expect(dom(state, HVM).active[0]).toEqual({
      hstw: 1,
      hstr: 0,
      devw: 0,
      devr: 0,
      domid: PV,
      mfn: mfnOf(state, HVM, 0),
    });
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: true, writing: true });
  });

  it('a read-only host+device map pins hstr and devr and sets only GTF_reading', () => {
    const state = grantedWorld({ readonly: true });
    map(state, { readonly: true, device: true });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 0, hstr: 1, devw: 0, devr: 1 });
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: true, writing: false });
  });

  it('a writable host+device map increments hstw and devw', () => {
    const state = grantedWorld();
    map(state, { device: true });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 1, hstr: 0, devw: 1, devr: 0 });
  });

  it('a writable map after a read-only one sets GTF_writing', () => {
    const state = grantedWorld();
    map(state, { readonly: true });
    expect(dom(state, HVM).grantTable[0]!.writing).toBe(false);
    map(state, { hostAddr: 11 });
    expect(dom(state, HVM).grantTable[0]!.writing).toBe(true);
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 1, hstr: 1 });
  });

  it('leaves the granted entry fields written by the granter untouched', () => {
    const state = grantedWorld();
    map(state);
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ permitAccess: true, readonly: false, domid: PV, frame: 0 });
  });
});

describe('map_grant_ref: page references', () => {
  it('a host map takes one reference', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 2 });
  });

  it('a device map takes one reference', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state, { host: false, device: true });
    expect(frame(state, mfn).refcount).toBe(2);
  });

  it('a host+device map takes one reference per kind', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state, { device: true });
    expect(frame(state, mfn).refcount).toBe(3);
  });

  it('does not change ownership, tot_pages or the free list', () => {
    const state = grantedWorld();
    const freeList = [...state.memory.freeList];
    map(state, { device: true });
    expect(state.memory.freeList).toEqual(freeList);
    expect(dom(state, HVM).totPages).toBe(2);
    expect(dom(state, PV).totPages).toBe(1);
  });
});

describe('map_grant_ref: translated (HVM) host map', () => {
  it('inserts a grant_map_rw p2m entry at host_addr naming the frame and handle', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    const mfn = mfnOf(state, HVM, 0);
    const handle = map(state, { mapperDomid: DOM0, hostAddr: 3 });
    expect(dom(state, DOM0).p2m[3]).toEqual({ type: 'grant_map_rw', mfn, handle });
  });

  it('a read-only map inserts grant_map_ro', () => {
    const state = grantedWorld({ granteeDomid: DOM0, readonly: true });
    map(state, { mapperDomid: DOM0, hostAddr: 3, readonly: true });
    expect(dom(state, DOM0).p2m[3]!.type).toBe('grant_map_ro');
  });

  it('does not count the grant mapping in the mapper tot_pages', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    expect(dom(state, DOM0).totPages).toBe(1);
  });

  it('a PV host map leaves the mapper p2m unchanged', () => {
    const state = grantedWorld();
    const p2m = { ...dom(state, PV).p2m };
    map(state);
    expect(dom(state, PV).p2m).toEqual(p2m);
  });
});
