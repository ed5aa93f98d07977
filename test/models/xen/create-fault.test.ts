/**
 * XEN_DOMCTL_createdomain at a domid (EEXIST while the domid is in use: a running, dying or zombie
 * domain) and the fault points of Xen's hypercalls, each unwound to the state it started from
 * (docs/reference/xen.md §2.13, §2.14).
 */
import { describe, expect, it } from 'vitest';
import { soundLifecycle } from '../../../models/xen/config.js';
import type { XenConfig } from '../../../models/xen/config.js';
import { createDomain } from '../../../models/xen/create.js';
import { destroyDomain } from '../../../models/xen/destroy.js';
import type { XenFaultPoint, XenFaults } from '../../../models/xen/fault.js';
import { mapGrantRef, soundGrantMap } from '../../../models/xen/grant-table.js';
import { addToPhysmapForeign, decreaseReservation, populatePhysmap } from '../../../models/xen/memory-op.js';
import {
  DOM0,
  HVM,
  PV,
  config,
  dom,
  expectErrno,
  expectOk,
  expectRefused,
  expectStatus,
  grantedWorld,
  map,
  mapArgs,
  unmap,
  world,
  worldSpec,
} from './world.js';

/** The `nth` attempt at `point` fails. */
function failing(point: XenFaultPoint, nth = 1): XenFaults {
  let count = 0;
  return {
    strikes: (at) => at === point && ++count === nth,
  };
}

/** dom1 (HVM) destroyed while dom2 still maps its gfn 0: a zombie. */
function zombieWorld() {
  const state = grantedWorld();
  map(state);
  expectOk(destroyDomain(state, config, HVM));
  expect(dom(state, HVM).life).toBe('dying');
  return state;
}

describe('createdomain', () => {
  it('refuses the domid of a running domain: EEXIST, nothing changed', () => {
    expectErrno(
      expectRefused(world(), (copy) => createDomain(copy, config, worldSpec(), { domid: HVM })),
      'EEXIST',
    );
  });

  it("refuses a zombie's domid while another domain references its frames: EEXIST", () => {
    const state = zombieWorld();
    expectErrno(
      expectRefused(state, (copy) => createDomain(copy, config, worldSpec(), { domid: HVM })),
      'EEXIST',
    );
  });

  it('reuses the domid once the last reference is gone: a fresh grant table and maptrack, its RAM populated', () => {
    const state = zombieWorld();
    unmap(state);
    expect(dom(state, HVM).life).toBe('dead');
    const detail = expectOk(createDomain(state, config, worldSpec(), { domid: HVM }));
    expect(detail).toMatchObject({ incarnation: 1, nrDone: 2, extents: 2 });
    const created = dom(state, HVM);
    expect(created.life).toBe('running');
    expect(created.totPages).toBe(2);
    expect(created.grantTable.every((entry) => !entry.permitAccess && !entry.reading)).toBe(true);
    expect(created.maptrack.every((mapping) => mapping === null)).toBe(true);
  });

  it('a lifecycle that frees the domid at domain_kill hands a zombie its domid (the flawed hook)', () => {
    const state = zombieWorld();
    const early: XenConfig = {
      bugs: [],
      lifecycle: { ...soundLifecycle, name: 'early', domidFree: ({ teardownFinished }) => teardownFinished },
    };
    expectOk(createDomain(state, early, worldSpec(), { domid: HVM }));
    expect(dom(state, HVM).incarnation).toBe(1);
  });

  it('refuses a domid the world has no domain for (ESRCH), and unwinds a failed domain_create (ENOMEM)', () => {
    expectErrno(
      expectRefused(world(), (copy) => createDomain(copy, config, worldSpec(), { domid: 7 })),
      'ESRCH',
    );
    const state = zombieWorld();
    unmap(state);
    expectErrno(
      expectRefused(state, (copy) => createDomain(copy, config, worldSpec(), { domid: HVM }, failing('domainCreate'))),
      'ENOMEM',
    );
  });

  it('populate_physmap stopping part-way returns the extents done, which stay', () => {
    const state = zombieWorld();
    unmap(state);
    const detail = expectOk(createDomain(state, config, worldSpec(), { domid: HVM }, failing('alloc', 2)));
    expect(detail).toMatchObject({ nrDone: 1, extents: 2 });
    expect(Object.keys(dom(state, HVM).p2m)).toEqual(['0']);
    expect(dom(state, HVM).totPages).toBe(1);
  });
});

describe('fault points, each unwound to the state before', () => {
  const mapWith = (faults: XenFaults, overrides = {}) =>
    expectRefused(grantedWorld(), (copy) => mapGrantRef(copy, config, mapArgs(overrides), [], faults));

  it('get_maptrack_handle: GNTST_no_space', () => {
    expectStatus(mapWith(failing('maptrack')), 'GNTST_no_space');
  });

  it("a first pin's get_paged_frame: GNTST_bad_page, the status bits reduced again", () => {
    expectStatus(mapWith(failing('pageRef')), 'GNTST_bad_page');
  });

  it("host+device's second get_page, create_grant_host_mapping, the PV IOMMU map: undo_out", () => {
    expectStatus(mapWith(failing('pageRef', 2), { device: true }), 'GNTST_general_error');
    expectStatus(mapWith(failing('hostMapping'), { device: true }), 'GNTST_general_error');
    expectStatus(mapWith(failing('iommuMap'), { host: false, device: true, hostAddr: null }), 'GNTST_general_error');
  });

  it('an unwind that forgets a reference leaves the frame referenced by no one', () => {
    const state = grantedWorld();
    const leaky: XenConfig = { bugs: [], grantMap: { ...soundGrantMap, unwindRefs: () => 0 } };
    const before = state.memory.frames.map((frame) => frame.refcount);
    expectStatus(
      mapGrantRef(state, leaky, mapArgs({ device: true }), [], failing('hostMapping')),
      'GNTST_general_error',
    );
    expect(state.memory.frames.map((frame) => frame.refcount)).not.toEqual(before);
  });

  it('populate_physmap, guest_remove_page, p2m_add_foreign: ENOMEM, nothing changed', () => {
    expectErrno(
      expectRefused(world(), (copy) => populatePhysmap(copy, { domid: PV, gfn: 5 }, failing('alloc'))),
      'ENOMEM',
    );
    expectErrno(
      expectRefused(world(), (copy) => decreaseReservation(copy, config, { domid: HVM, gfn: 0 }, failing('p2mRemove'))),
      'ENOMEM',
    );
    const foreign = { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 };
    expectErrno(
      expectRefused(world(), (copy) => addToPhysmapForeign(copy, foreign, failing('foreignMap'))),
      'ENOMEM',
    );
  });
});
