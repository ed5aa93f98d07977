/**
 * XENMEM_decrease_reservation and populate_physmap (docs/reference/xen.md §2.7, §2.10 inv. 7–8, §2.11),
 * one gfn per call as the model documents (nrDone 0 or 1; EBUSY over a populated gfn).
 */
import { describe, expect, it } from 'vitest';
import { addToPhysmapForeign, decreaseReservation, populatePhysmap } from '../../../models/xen/memory-op.js';
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
  frame,
  grantedWorld,
  map,
  mfnOf,
  unmap,
  world,
} from './world.js';

describe('decrease_reservation: refusals stop with nr_done 0', () => {
  it('an empty gfn stops with ENOENT', () => {
    const result = expectRefused(world(), (copy) => decreaseReservation(copy, config, { domid: HVM, gfn: 7 }));
    expectErrno(result, 'ENOENT');
    expect(result.detail?.nrDone).toBe(0);
  });

  it('a gfn holding a grant mapping (HVM mapper host map) stops with ENXIO', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    const result = expectRefused(state, (copy) => decreaseReservation(copy, config, { domid: DOM0, gfn: 3 }));
    expectErrno(result, 'ENXIO');
    expect(result.detail?.nrDone).toBe(0);
  });

  it('a foreign-mapped gfn stops with ENXIO', () => {
    const state = world();
    expectOk(addToPhysmapForeign(state, { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 }));
    const result = expectRefused(state, (copy) => decreaseReservation(copy, config, { domid: DOM0, gfn: 3 }));
    expectErrno(result, 'ENXIO');
    expect(result.detail?.nrDone).toBe(0);
  });

  it('an unknown domain is refused with ESRCH and nr_done 0', () => {
    const result = expectRefused(world(), (copy) => decreaseReservation(copy, config, { domid: NO_DOMAIN, gfn: 0 }));
    expectErrno(result, 'ESRCH');
    expect(result.detail?.nrDone).toBe(0);
  });
});

describe('decrease_reservation: success', () => {
  it('an unreferenced page is freed: gfn empty, frame free, tot_pages drops', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 1);
    const detail = expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 1 }));
    expect(detail).toEqual({ nrDone: 1, mfn });
    expect(dom(state, HVM).p2m[1]).toBeUndefined();
    expect(frame(state, mfn)).toEqual({ mfn, owner: null, refcount: 0 });
    expect(dom(state, HVM).totPages).toBe(1);
    expect(state.memory.freeList.at(-1)).toBe(mfn);
  });

  it('a page another domain grant-maps is kept: owned, counted in tot_pages, not free', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expect(dom(state, HVM).p2m[0]).toBeUndefined();
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
    expect(dom(state, HVM).totPages).toBe(2);
    expect(state.memory.freeList).not.toContain(mfn);
  });

  it('a kept page is freed when the last mapping goes', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    unmap(state);
    expect(frame(state, mfn).owner).toBeNull();
    expect(dom(state, HVM).totPages).toBe(1);
  });

  it('a page another domain foreign-maps is kept while the foreign entry exists', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 0);
    expectOk(addToPhysmapForeign(state, { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 }));
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
    expect(dom(state, HVM).totPages).toBe(2);
    expect(dom(state, DOM0).p2m[3]!.mfn).toBe(mfn);
  });

  it('a PV domain balloons out its own gfn', () => {
    const state = world();
    const mfn = mfnOf(state, PV, 0);
    expectOk(decreaseReservation(state, config, { domid: PV, gfn: 0 }));
    expect(frame(state, mfn).owner).toBeNull();
    expect(dom(state, PV).totPages).toBe(0);
  });
});

describe('populate_physmap', () => {
  it('allocates a free frame as RAM at the gfn, counted in tot_pages', () => {
    const state = world();
    const next = state.memory.freeList.at(-1)!;
    const detail = expectOk(populatePhysmap(state, { domid: HVM, gfn: 2 }));
    expect(detail).toEqual({ nrDone: 1, mfn: next });
    expect(dom(state, HVM).p2m[2]).toEqual({ type: 'ram_rw', mfn: next });
    expect(frame(state, next)).toEqual({ mfn: next, owner: HVM, refcount: 1 });
    expect(dom(state, HVM).totPages).toBe(3);
    expect(state.memory.freeList).not.toContain(next);
  });

  it('hands out the frame just ballooned out first (lifo)', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 1);
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 1 }));
    expect(expectOk(populatePhysmap(state, { domid: PV, gfn: 5 })).mfn).toBe(mfn);
    expect(frame(state, mfn).owner).toBe(PV);
  });

  it('a populated gfn is refused with EBUSY and nr_done 0', () => {
    const result = expectRefused(world(), (copy) => populatePhysmap(copy, { domid: HVM, gfn: 0 }));
    expectErrno(result, 'EBUSY');
    expect(result.detail?.nrDone).toBe(0);
  });

  it('a gfn holding a foreign mapping is refused with EBUSY', () => {
    const state = world();
    expectOk(addToPhysmapForeign(state, { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 }));
    expectErrno(
      expectRefused(state, (copy) => populatePhysmap(copy, { domid: DOM0, gfn: 3 })),
      'EBUSY',
    );
  });

  it('no free frame is refused with ENOMEM and nr_done 0', () => {
    const state = world();
    for (const gfn of [2, 3, 4, 5]) expectOk(populatePhysmap(state, { domid: HVM, gfn }));
    expect(state.memory.freeList).toEqual([]);
    const result = expectRefused(state, (copy) => populatePhysmap(copy, { domid: HVM, gfn: 6 }));
    expectErrno(result, 'ENOMEM');
    expect(result.detail?.nrDone).toBe(0);
  });

  it('an unknown domain is refused with ESRCH', () => {
    expectErrno(
      expectRefused(world(), (copy) => populatePhysmap(copy, { domid: NO_DOMAIN, gfn: 0 })),
      'ESRCH',
    );
  });
});
