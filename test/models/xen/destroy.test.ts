/**
 * Domain destruction (docs/reference/xen.md §2.8, §2.10 inv. 11–12): a dying mapper gives back every
 * handle, pin and reference; a granter whose pages others still map stays a zombie until the
 * last mapping goes.
 */
import { describe, expect, it } from 'vitest';
import { destroyDomain } from '../../../models/xen/destroy.js';
import { mapGrantRef, unmapGrantRef } from '../../../models/xen/grant-table.js';
import { addToPhysmapForeign, decreaseReservation, removeForeignMapping } from '../../../models/xen/memory-op.js';
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
  grant,
  grantedWorld,
  map,
  mapArgs,
  mfnOf,
  unmap,
  unmapArgs,
  world,
} from './world.js';

describe('destroy: refusals', () => {
  it('the privileged domain is refused with EPERM', () => {
    expectErrno(
      expectRefused(world(), (copy) => destroyDomain(copy, config, DOM0)),
      'EPERM',
    );
  });

  it('an unknown domain is refused with ESRCH', () => {
    expectErrno(
      expectRefused(world(), (copy) => destroyDomain(copy, config, NO_DOMAIN)),
      'ESRCH',
    );
  });

  it('a domain already dead is refused with ESRCH', () => {
    const state = world();
    expectOk(destroyDomain(state, config, PV));
    expectErrno(
      expectRefused(state, (copy) => destroyDomain(copy, config, PV)),
      'ESRCH',
    );
  });

  it('a dying (zombie) domain is refused with ESRCH', () => {
    const state = grantedWorld();
    map(state);
    expectOk(destroyDomain(state, config, HVM));
    expectErrno(
      expectRefused(state, (copy) => destroyDomain(copy, config, HVM)),
      'ESRCH',
    );
  });
});

describe('destroy: a domain nobody references', () => {
  it('frees all its frames and is dead at once', () => {
    const state = world();
    const mfns = [mfnOf(state, HVM, 0), mfnOf(state, HVM, 1)];
    expect(expectOk(destroyDomain(state, config, HVM)).zombie).toBe(false);
    expect(dom(state, HVM).life).toBe('dead');
    expect(dom(state, HVM).totPages).toBe(0);
    expect(dom(state, HVM).p2m).toEqual({});
    for (const mfn of mfns) expect(frame(state, mfn).owner).toBeNull();
  });
});

describe('destroy: the mapper dies (gnttab_release_mappings)', () => {
  it('a PV mapper releases its handles, pins and page references', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state, { device: true });
    expectOk(destroyDomain(state, config, PV));
    expect(dom(state, PV).maptrack).toEqual([null, null]);
    expect(dom(state, HVM).active[0]).toMatchObject({ hstw: 0, hstr: 0, devw: 0, devr: 0 });
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ reading: false, writing: false });
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
    expect(dom(state, PV).life).toBe('dead');
  });

  it('an HVM mapper releases its handle and its grant_map p2m entry', () => {
    const state = grantedWorld({ domid: PV, granteeDomid: HVM });
    const mfn = mfnOf(state, PV, 0);
    map(state, { mapperDomid: HVM, granterDomid: PV, hostAddr: 3 });
    expectOk(destroyDomain(state, config, HVM));
    expect(dom(state, HVM).maptrack).toEqual([null, null]);
    expect(dom(state, HVM).p2m[3]).toBeUndefined();
    expect(dom(state, PV).active[0]).toMatchObject({ hstw: 0, mfn: null });
    expect(frame(state, mfn).refcount).toBe(1);
  });

  it('frees a granted frame the granter had already ballooned out', () => {
    const state = grantedWorld();
    const mfn = mfnOf(state, HVM, 0);
    map(state);
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expectOk(destroyDomain(state, config, PV));
    expect(frame(state, mfn)).toEqual({ mfn, owner: null, refcount: 0 });
    expect(dom(state, HVM).totPages).toBe(1);
    expect(dom(state, HVM).life).toBe('running');
  });

  it('a later map by another domain of the released ref succeeds', () => {
    const state = grantedWorld();
    map(state);
    expectOk(destroyDomain(state, config, PV));
    grant(state, { ref: 1, granteeDomid: DOM0 });
    expectOk(mapGrantRef(state, config, mapArgs({ mapperDomid: DOM0, ref: 1, hostAddr: 3 })));
  });
});

describe('destroy: the granter dies while others map its pages (zombie)', () => {
  it('stays dying and keeps owning the mapped frame; its other frames are freed', () => {
    const state = grantedWorld();
    const mapped = mfnOf(state, HVM, 0);
    const other = mfnOf(state, HVM, 1);
    map(state);
    expect(expectOk(destroyDomain(state, config, HVM)).zombie).toBe(true);
    expect(dom(state, HVM).life).toBe('dying');
    expect(dom(state, HVM).totPages).toBe(1);
    expect(dom(state, HVM).p2m).toEqual({});
    expect(frame(state, mapped)).toEqual({ mfn: mapped, owner: HVM, refcount: 1 });
    expect(frame(state, other).owner).toBeNull();
  });

  it('the mapper can still unmap, and the last unmap makes the granter dead', () => {
    const state = grantedWorld();
    const mapped = mfnOf(state, HVM, 0);
    map(state);
    expectOk(destroyDomain(state, config, HVM));
    unmap(state);
    expect(dom(state, HVM).life).toBe('dead');
    expect(dom(state, HVM).totPages).toBe(0);
    expect(frame(state, mapped)).toEqual({ mfn: mapped, owner: null, refcount: 0 });
  });

  it('stays dying until the last of two mapping parts goes', () => {
    const state = grantedWorld();
    const mapped = mfnOf(state, HVM, 0);
    map(state, { device: true });
    expectOk(destroyDomain(state, config, HVM));
    expectOk(unmapGrantRef(state, config, unmapArgs({ hostAddr: 10, devBusAddr: null })));
    expect(dom(state, HVM).life).toBe('dying');
    expectOk(unmapGrantRef(state, config, unmapArgs({ hostAddr: null, devBusAddr: mapped })));
    expect(dom(state, HVM).life).toBe('dead');
  });

  it('a foreign mapping keeps the granter a zombie until it is removed', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 0);
    expectOk(addToPhysmapForeign(state, { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 }));
    expect(expectOk(destroyDomain(state, config, HVM)).zombie).toBe(true);
    expect(frame(state, mfn).owner).toBe(HVM);
    expectOk(removeForeignMapping(state, config, { domid: DOM0, gfn: 3 }));
    expect(dom(state, HVM).life).toBe('dead');
    expect(frame(state, mfn).owner).toBeNull();
  });

  it('the dying granter own mappings of others are released', () => {
    const state = grantedWorld();
    grant(state, { domid: PV, granteeDomid: HVM, gfn: 0 });
    const pvMfn = mfnOf(state, PV, 0);
    map(state);
    map(state, { mapperDomid: HVM, granterDomid: PV, hostAddr: 3 });
    expectOk(destroyDomain(state, config, HVM));
    expect(dom(state, HVM).maptrack).toEqual([null, null]);
    expect(dom(state, PV).active[0]).toMatchObject({ hstw: 0 });
    expect(frame(state, pvMfn).refcount).toBe(1);
  });
});
