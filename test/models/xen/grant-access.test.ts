/**
 * The granter's side (docs/reference/xen.md §2.2): writing a v1 entry, and end_foreign_access, which
 * succeeds iff the entry is not pinned (§2.10 inv. 4, revocability).
 */
import { describe, expect, it } from 'vitest';
import { endAccess, grantAccess, mapGrantRef } from '../../../models/xen/grant-table.js';
import { destroyDomain } from '../../../models/xen/destroy.js';
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
  grantArgs,
  grantedWorld,
  map,
  mapArgs,
  unmap,
  world,
} from './world.js';

describe('grantAccess', () => {
  it('writes domid, frame, readonly and GTF_permit_access', () => {
    const state = world();
    expectOk(grantAccess(state, grantArgs({ ref: 2, granteeDomid: DOM0, gfn: 1, readonly: true })));
    expect(dom(state, HVM).grantTable[2]).toEqual({
      permitAccess: true,
      readonly: true,
      reading: false,
      writing: false,
      domid: DOM0,
      frame: 1,
    });
  });

  it('refuses an entry still granted with EBUSY', () => {
    const state = grantedWorld();
    expectErrno(
      expectRefused(state, (copy) => grantAccess(copy, grantArgs({ gfn: 1 }))),
      'EBUSY',
    );
  });

  it('refuses a ref beyond the table with EINVAL', () => {
    expectErrno(
      expectRefused(world(), (copy) => grantAccess(copy, grantArgs({ ref: 4 }))),
      'EINVAL',
    );
  });

  it('refuses an unknown granter with ESRCH', () => {
    expectErrno(
      expectRefused(world(), (copy) => grantAccess(copy, grantArgs({ domid: NO_DOMAIN }))),
      'ESRCH',
    );
  });

  it('refuses a dying granter with ESRCH', () => {
    const state = grantedWorld();
    map(state);
    expectOk(destroyDomain(state, config, HVM));
    expectErrno(
      expectRefused(state, (copy) => grantAccess(copy, grantArgs({ ref: 1 }))),
      'ESRCH',
    );
  });
});

describe('endAccess (revocability)', () => {
  it('an unpinned grant is revoked at once and can no longer be mapped', () => {
    const state = grantedWorld();
    expectOk(endAccess(state, config, { domid: HVM, ref: 0 }));
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ permitAccess: false, reading: false, writing: false });
    expectStatus(
      expectRefused(state, (copy) => mapGrantRef(copy, config, mapArgs())),
      'GNTST_general_error',
    );
  });

  it('a writably pinned grant is refused with EBUSY', () => {
    const state = grantedWorld();
    map(state);
    expectErrno(
      expectRefused(state, (copy) => endAccess(copy, config, { domid: HVM, ref: 0 })),
      'EBUSY',
    );
  });

  it('a read-only pinned grant is refused with EBUSY', () => {
    const state = grantedWorld({ readonly: true });
    map(state, { readonly: true, host: false, device: true });
    expectErrno(
      expectRefused(state, (copy) => endAccess(copy, config, { domid: HVM, ref: 0 })),
      'EBUSY',
    );
  });

  it('succeeds once the mapper has unmapped', () => {
    const state = grantedWorld();
    map(state);
    unmap(state);
    expectOk(endAccess(state, config, { domid: HVM, ref: 0 }));
    expect(dom(state, HVM).grantTable[0]!.permitAccess).toBe(false);
  });

  it('is still refused while one of two handles remains', () => {
    const state = grantedWorld();
    map(state);
    map(state, { hostAddr: 11 });
    unmap(state, { handle: 0 });
    expectErrno(
      expectRefused(state, (copy) => endAccess(copy, config, { domid: HVM, ref: 0 })),
      'EBUSY',
    );
  });

  it('the ref can be granted again after it was revoked', () => {
    const state = grantedWorld();
    expectOk(endAccess(state, config, { domid: HVM, ref: 0 }));
    expectOk(grantAccess(state, grantArgs({ granteeDomid: DOM0, gfn: 1 })));
    expect(dom(state, HVM).grantTable[0]).toMatchObject({ permitAccess: true, domid: DOM0, frame: 1 });
  });

  it('refuses a ref beyond the table with EINVAL', () => {
    expectErrno(
      expectRefused(grantedWorld(), (copy) => endAccess(copy, config, { domid: HVM, ref: 4 })),
      'EINVAL',
    );
  });

  it('refuses an unknown granter with ESRCH', () => {
    expectErrno(
      expectRefused(grantedWorld(), (copy) => endAccess(copy, config, { domid: NO_DOMAIN, ref: 0 })),
      'ESRCH',
    );
  });

  it('succeeds after the mapper was destroyed (its pins were released)', () => {
    const state = grantedWorld();
    map(state);
    expectOk(destroyDomain(state, config, PV));
    expectOk(endAccess(state, config, { domid: HVM, ref: 0 }));
  });
});
