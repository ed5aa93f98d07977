/**
 * XENMEM_add_to_physmap with XENMAPSPACE_gmfn_foreign and remove_from_physmap of a foreign entry
 * (docs/reference/xen.md §2.9, §2.11). The model refuses an occupied destination with EBUSY and removes
 * only foreign entries (documented simplifications).
 */
import { describe, expect, it } from 'vitest';
import type { OpResult } from '../../../models/result.js';
import { addToPhysmapForeign, decreaseReservation, removeForeignMapping } from '../../../models/xen/memory-op.js';
import type { ForeignMapArgs } from '../../../models/xen/memory-op.js';
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
  frame,
  grantedWorld,
  map,
  mfnOf,
  world,
} from './world.js';

function foreignArgs(overrides: Partial<ForeignMapArgs> = {}): ForeignMapArgs {
  return { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0, ...overrides };
}

function refuseAdd(state: XenState, overrides: Partial<ForeignMapArgs>): OpResult {
  return expectRefused(state, (copy) => addToPhysmapForeign(copy, foreignArgs(overrides)));
}

describe('add_to_physmap gmfn_foreign: refusals', () => {
  it('an unprivileged HVM caller is refused with EPERM', () => {
    expectErrno(refuseAdd(world(), { domid: HVM, foreignDomid: PV }), 'EPERM');
  });

  it('an unprivileged PV caller is refused with EPERM', () => {
    expectErrno(refuseAdd(world(), { domid: PV }), 'EPERM');
  });

  it('EPERM wins over an unknown foreign domain', () => {
    expectErrno(refuseAdd(world(), { domid: HVM, foreignDomid: NO_DOMAIN }), 'EPERM');
  });

  it('an unknown foreign domain is refused with ESRCH', () => {
    expectErrno(refuseAdd(world(), { foreignDomid: NO_DOMAIN }), 'ESRCH');
  });

  it('an unknown caller is refused with ESRCH', () => {
    expectErrno(refuseAdd(world(), { domid: NO_DOMAIN }), 'ESRCH');
  });

  it('mapping from itself is refused with EINVAL', () => {
    expectErrno(refuseAdd(world(), { foreignDomid: DOM0 }), 'EINVAL');
  });

  it('an empty foreign gfn is refused with EINVAL', () => {
    expectErrno(refuseAdd(world(), { foreignGfn: 7 }), 'EINVAL');
  });

  it('a foreign gfn that is a grant mapping (not RAM) is refused with EINVAL', () => {
    const state = grantedWorld({ domid: PV, granteeDomid: HVM });
    map(state, { mapperDomid: HVM, granterDomid: PV, hostAddr: 3 });
    expectErrno(refuseAdd(state, { foreignDomid: HVM, foreignGfn: 3 }), 'EINVAL');
  });

  it('an occupied destination gfn is refused with EBUSY', () => {
    expectErrno(refuseAdd(world(), { gfn: 0 }), 'EBUSY');
  });

  it('a non-RAM foreign gfn wins over an occupied destination (EINVAL)', () => {
    expectErrno(refuseAdd(world(), { gfn: 0, foreignGfn: 7 }), 'EINVAL');
  });
});

describe('add_to_physmap gmfn_foreign: success', () => {
  it('inserts a map_foreign entry that takes its own page reference', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 0);
    const detail = expectOk(addToPhysmapForeign(state, foreignArgs()));
    expect(detail.mfn).toBe(mfn);
    expect(dom(state, DOM0).p2m[3]).toEqual({
      type: 'map_foreign',
      mfn,
      foreignDomid: HVM,
      foreignGfn: 0,
      foreignIncarnation: 0,
    });
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 2 });
  });

  it('changes neither domain tot_pages', () => {
    const state = world();
    expectOk(addToPhysmapForeign(state, foreignArgs()));
    expect(dom(state, DOM0).totPages).toBe(1);
    expect(dom(state, HVM).totPages).toBe(2);
  });

  it('can map a PV domain page', () => {
    const state = world();
    expectOk(addToPhysmapForeign(state, foreignArgs({ foreignDomid: PV })));
    expect(dom(state, DOM0).p2m[3]!.mfn).toBe(mfnOf(state, PV, 0));
  });
});

describe('remove_from_physmap of a foreign entry', () => {
  it('an empty gfn is refused with ENOENT', () => {
    expectErrno(
      expectRefused(world(), (copy) => removeForeignMapping(copy, config, { domid: DOM0, gfn: 3 })),
      'ENOENT',
    );
  });

  it('a RAM gfn is refused with EINVAL', () => {
    expectErrno(
      expectRefused(world(), (copy) => removeForeignMapping(copy, config, { domid: DOM0, gfn: 0 })),
      'EINVAL',
    );
  });

  it('a grant-mapped gfn is refused with EINVAL', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    expectErrno(
      expectRefused(state, (copy) => removeForeignMapping(copy, config, { domid: DOM0, gfn: 3 })),
      'EINVAL',
    );
  });

  it('an unknown domain is refused with ESRCH', () => {
    expectErrno(
      expectRefused(world(), (copy) => removeForeignMapping(copy, config, { domid: NO_DOMAIN, gfn: 3 })),
      'ESRCH',
    );
  });

  it('removes the entry and drops its reference', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 0);
    expectOk(addToPhysmapForeign(state, foreignArgs()));
    expect(expectOk(removeForeignMapping(state, config, { domid: DOM0, gfn: 3 })).mfn).toBe(mfn);
    expect(dom(state, DOM0).p2m[3]).toBeUndefined();
    expect(frame(state, mfn)).toEqual({ mfn, owner: HVM, refcount: 1 });
  });

  it('frees a page its owner already ballooned out, and the owner tot_pages drops', () => {
    const state = world();
    const mfn = mfnOf(state, HVM, 0);
    expectOk(addToPhysmapForeign(state, foreignArgs()));
    expectOk(decreaseReservation(state, config, { domid: HVM, gfn: 0 }));
    expectOk(removeForeignMapping(state, config, { domid: DOM0, gfn: 3 }));
    expect(frame(state, mfn)).toEqual({ mfn, owner: null, refcount: 0 });
    expect(dom(state, HVM).totPages).toBe(1);
    expect(state.memory.freeList.at(-1)).toBe(mfn);
  });
});
