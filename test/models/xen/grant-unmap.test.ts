/**
 * GNTTABOP_unmap_grant_ref (docs/reference/xen.md §2.4, §2.6, §2.11): refusals in the order of checks,
 * partial releases, and what the completion gives back (pins, status bits, page references).
 */
import { describe, expect, it } from 'vitest';
import type { OpResult } from '../../../models/result.js';
import { unmapGrantRef } from '../../../models/xen/grant-table.js';
import type { UnmapGrantArgs } from '../../../models/xen/grant-table.js';
import { decreaseReservation } from '../../../models/xen/memory-op.js';
import { cloneXenState } from '../../../models/xen/state.js';
import { gntst } from '../../../models/xen/status.js';
import type { XenState } from '../../../models/xen/types.js';
import {
  DOM0,
  HVM,
  NO_DOMAIN,
  PV,
  config,
  dom,
  expectErrno,
  expectOk,
  expectRefused,
  expectStatus,
  frame,
  grantedWorld,
  map,
  mfnOf,
  unmap,
  unmapArgs,
} from './world.js';

function refuseUnmap(state: XenState, overrides: Partial<UnmapGrantArgs>): OpResult {
  return expectRefused(state, (copy) => unmapGrantRef(copy, config, unmapArgs(overrides)));
}

/** dom2 maps dom1's ref 0 writable for host (vpn 10) and device; returns the granted mfn. */
function hostAndDeviceWorld(): { state: XenState; mfn: number } {
  const state = grantedWorld();
  map(state, { device: true });
  return { state, mfn: mfnOf(state, HVM, 0) };
}

describe('unmap_grant_ref: step 1, the handle', () => {
  it('a handle at the maptrack limit is refused with GNTST_bad_handle', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { handle: 2 }), 'GNTST_bad_handle');
  });

  it('a negative handle is refused with GNTST_bad_handle', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { handle: -1 }), 'GNTST_bad_handle');
  });

  it('a handle that was never used is refused with GNTST_bad_handle', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { handle: 1 }), 'GNTST_bad_handle');
  });

  it('a handle already freed is refused with GNTST_bad_handle', () => {
    const state = grantedWorld();
    map(state);
    unmap(state);
    expectStatus(refuseUnmap(state, {}), 'GNTST_bad_handle');
  });

  it('a bad handle wins over wrong addresses', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { handle: 1, hostAddr: 99, devBusAddr: 99 }), 'GNTST_bad_handle');
  });

  it('a handle is per mapper: another domain cannot unmap it', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { mapperDomid: DOM0 }), 'GNTST_bad_handle');
  });

  it('an unknown mapper is refused with ESRCH', () => {
    const { state } = hostAndDeviceWorld();
    expectErrno(refuseUnmap(state, { mapperDomid: NO_DOMAIN }), 'ESRCH');
  });
});

describe('unmap_grant_ref: step 5, dev_bus_addr', () => {
  it('a dev_bus_addr other than the pinned frame is refused with GNTST_bad_dev_addr', () => {
    const { state, mfn } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { hostAddr: null, devBusAddr: mfn + 1 }), 'GNTST_bad_dev_addr');
  });

  it('wins over a wrong host_addr (bad_dev_addr, not general_error)', () => {
    const { state, mfn } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { hostAddr: 99, devBusAddr: mfn + 1 }), 'GNTST_bad_dev_addr');
  });

  it('is not checked for a handle without device_map', () => {
    const state = grantedWorld();
    map(state);
    expectOk(unmapGrantRef(state, config, unmapArgs({ devBusAddr: 99 })));
    expect(dom(state, PV).maptrack[0]).toBeNull();
  });
});

describe('unmap_grant_ref: step 6, host_addr', () => {
  it('a PV host_addr other than the mapped one is refused with GNTST_general_error', () => {
    const { state } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { hostAddr: 11 }), 'GNTST_general_error');
  });

  it('a wrong host_addr is refused even when dev_bus_addr is right', () => {
    const { state, mfn } = hostAndDeviceWorld();
    expectStatus(refuseUnmap(state, { hostAddr: 11, devBusAddr: mfn }), 'GNTST_general_error');
  });

  it('an HVM host_addr at another gfn is refused with GNTST_general_error', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    expectStatus(refuseUnmap(state, { mapperDomid: DOM0, hostAddr: 4 }), 'GNTST_general_error');
  });

  it('an HVM host_addr at the mapper own RAM gfn is refused with GNTST_general_error', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    expectStatus(refuseUnmap(state, { mapperDomid: DOM0, hostAddr: 0 }), 'GNTST_general_error');
  });

  it('is not checked for a device-only handle', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state, { host: false, device: true });
    expectOk(unmapGrantRef(state, config, unmapArgs({ hostAddr: 99, devBusAddr: mfn })));
    expect(dom(state, PV).maptrack[0]).toBeNull();
  });
});

describe('unmap_grant_ref: partial and empty releases', () => {
  it('both addresses null is GNTST_okay and changes nothing', () => {
    const { state } = hostAndDeviceWorld();
    const before = cloneXenState(state);
    const detail = expectOk(unmapGrantRef(state, config, unmapArgs({ hostAddr: null, devBusAddr: null })));
    expect(detail.status).toBe(gntst.okay);
    expect(state).toEqual(before);
    expect(dom(state, PV).maptrack[0]).not.toBeNull();
  });

  it('releasing the device part keeps the handle live with the host part', () => {
    const { state, mfn } = hostAndDeviceWorld();
    unmap(state, { hostAddr: null, devBusAddr: mfn });
    expect(dom(state, PV).maptrack[0]).toMatchObject({ host: true, device: false });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 1, devw: 0 });
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: true, writing: true });
    expect(frame(state, mfn).refcount).toBe(2);
  });

  it('releasing the host part keeps the handle live with the device part', () => {
    const { state, mfn } = hostAndDeviceWorld();
    unmap(state, { hostAddr: 10, devBusAddr: null });
    expect(dom(state, PV).maptrack[0]).toMatchObject({ host: false, device: true });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 0, devw: 1 });
    expect(frame(state, mfn).refcount).toBe(2);
  });

  it('releasing the second part frees the handle and every reference it held', () => {
    const { state, mfn } = hostAndDeviceWorld();
    unmap(state, { hostAddr: null, devBusAddr: mfn });
    unmap(state, { hostAddr: 10, devBusAddr: null });
    expect(dom(state, PV).maptrack[0]).toBeNull();
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 0, hstr: 0, devw: 0, devr: 0, mfn: null });
    expect(frame(state, mfn).refcount).toBe(1);
  });

  it('releasing both parts at once frees the handle', () => {
    const { state, mfn } = hostAndDeviceWorld();
    unmap(state, { hostAddr: 10, devBusAddr: mfn });
    expect(dom(state, PV).maptrack[0]).toBeNull();
    expect(frame(state, mfn).refcount).toBe(1);
  });
});

describe('unmap_grant_ref: completion', () => {
  it('an HVM host unmap removes the grant_map p2m entry', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    unmap(state, { mapperDomid: DOM0, hostAddr: 3 });
    expect(dom(state, DOM0).p2m[3]).toBeUndefined();
    expect(dom(state, DOM0).maptrack[0]).toBeNull();
  });

  it('GTF_reading and GTF_writing are cleared when the pins reach zero', () => {
    const state = grantedWorld();
    map(state);
    unmap(state);
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: false, writing: false, permitAccess: true });
  });

  it('GTF_writing is cleared with the last writable pin while GTF_reading stays', () => {
    const state = grantedWorld();
    map(state);
    map(state, { readonly: true, hostAddr: 11 });
    unmap(state, { handle: 0, hostAddr: 10 });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 0, hstr: 1 });
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: true, writing: false });
  });

  it('unmapping one of two handles of a ref keeps the other pin and act.mfn', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    map(state, { hostAddr: 11 });
    unmap(state, { handle: 1, hostAddr: 11 });
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 1, mfn });
    expect(dom(state, PV).maptrack[0]).not.toBeNull();
    expect(frame(state, mfn).refcount).toBe(2);
  });

  it('the last unmap frees a ballooned-out granted frame and the granter tot_pages drops', () => {
    const { state, mfn } = hostAndDeviceWorld();
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    unmap(state, { hostAddr: null, devBusAddr: mfn });
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
    expect(dom(state, HVM).totPages).toBe(2);
    unmap(state, { hostAddr: 10, devBusAddr: null });
    expect(frame(state, mfn)).toEqual({ mfn, owner: null, refcount: 0 });
    expect(dom(state, HVM).totPages).toBe(1);
    expect(state.memory.freeList.at(-1)).toBe(mfn);
  });
});
