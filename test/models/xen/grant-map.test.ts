/**
 * GNTTABOP_map_grant_ref refusals, one per row of docs/reference/xen.md §2.11 that the model covers, in
 * the order of checks of §2.3: when two inputs are wrong the earlier check's status wins.
 * Every refusal leaves the state deep-equal to before.
 */
import { describe, expect, it } from 'vitest';
import type { OpResult } from '../../../models/result.js';
import { endAccess, mapGrantRef } from '../../../models/xen/grant-table.js';
import type { MapGrantArgs } from '../../../models/xen/grant-table.js';
import { addToPhysmapForeign } from '../../../models/xen/memory-op.js';
import { destroyDomain } from '../../../models/xen/destroy.js';
import type { XenState } from '../../../models/xen/types.js';
import type { WritableFrame } from '../../../models/memory/frames.js';
import {
  DOM0,
  HVM,
  NO_DOMAIN,
  config,
  expectOk,
  expectRefused,
  expectStatus,
  frame,
  grant,
  grantedWorld,
  map,
  mapArgs,
  mfnOf,
  unmap,
  world,
} from './world.js';

function refuseMap(state: XenState, overrides: Partial<MapGrantArgs>): OpResult {
  return expectRefused(state, (copy) => mapGrantRef(copy, config, mapArgs(overrides)));
}

/** dom1 grants refs 0 and 1 to dom2, which maps both: dom2's two maptrack handles are in use. */
function fullMaptrackWorld(): XenState {
  const state = grantedWorld();
  grant(state, { ref: 1, gfn: 1 });
  map(state, { ref: 0 });
  map(state, { ref: 1, hostAddr: 11 });
  return state;
}

describe('map_grant_ref: step 1, neither host_map nor device_map', () => {
  it('is refused with GNTST_bad_gntref', () => {
    expectStatus(refuseMap(grantedWorld(), { host: false, device: false }), 'GNTST_bad_gntref');
  });

  it('wins over a nonexistent granter (bad_gntref, not bad_domain)', () => {
    const result = refuseMap(grantedWorld(), { host: false, device: false, granterDomid: NO_DOMAIN });
    expectStatus(result, 'GNTST_bad_gntref');
  });

  it('applies to a translated caller too (step 1 precedes step 2)', () => {
    expectStatus(refuseMap(grantedWorld(), { mapperDomid: DOM0, host: false, device: false }), 'GNTST_bad_gntref');
  });
});

describe('map_grant_ref: step 2, translated caller with device_map', () => {
  it('is refused with GNTST_general_error', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    expectStatus(refuseMap(state, { mapperDomid: DOM0, host: false, device: true }), 'GNTST_general_error');
  });

  it('is refused even together with host_map', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    const result = refuseMap(state, { mapperDomid: DOM0, host: true, device: true, hostAddr: 3 });
    expectStatus(result, 'GNTST_general_error');
  });

  it('wins over a nonexistent granter (general_error, not bad_domain)', () => {
    const result = refuseMap(grantedWorld(), { mapperDomid: DOM0, device: true, granterDomid: NO_DOMAIN });
    expectStatus(result, 'GNTST_general_error');
  });

  it('does not apply to a PV caller: device_map succeeds', () => {
    const state = grantedWorld();
    expectOk(mapGrantRef(state, config, mapArgs({ host: false, device: true })));
  });
});

describe('map_grant_ref: step 3, granter domain', () => {
  it('a nonexistent domain is refused with GNTST_bad_domain', () => {
    expectStatus(refuseMap(grantedWorld(), { granterDomid: NO_DOMAIN }), 'GNTST_bad_domain');
  });

  it('wins over an exhausted maptrack (bad_domain, not no_space)', () => {
    expectStatus(refuseMap(fullMaptrackWorld(), { granterDomid: NO_DOMAIN }), 'GNTST_bad_domain');
  });

  it('a dying (zombie) granter is treated as absent: GNTST_bad_domain', () => {
    const state = grantedWorld();
    grant(state, { ref: 1, gfn: 1, granteeDomid: DOM0 });
    map(state);
    // dom2 still maps dom1's gfn 0, so destroying dom1 leaves a zombie.
    expect(expectOk(destroyDomain(state, config, HVM)).zombie).toBe(true);
    expectStatus(refuseMap(state, { mapperDomid: DOM0, ref: 1, hostAddr: 3 }), 'GNTST_bad_domain');
  });
});

describe('map_grant_ref: step 5, maptrack handles', () => {
  it('no free handle is refused with GNTST_no_space', () => {
    const state = fullMaptrackWorld();
    grant(state, { ref: 2, gfn: 1 });
    expectStatus(refuseMap(state, { ref: 2, hostAddr: 12 }), 'GNTST_no_space');
  });

  it('wins over a ref beyond the table (no_space, not bad_gntref)', () => {
    expectStatus(refuseMap(fullMaptrackWorld(), { ref: 99 }), 'GNTST_no_space');
  });

  it('a handle freed by unmap is handed out again', () => {
    const state = fullMaptrackWorld();
    unmap(state, { handle: 0, hostAddr: 10 });
    grant(state, { ref: 2, gfn: 1 });
    expect(map(state, { ref: 2, hostAddr: 12 })).toBe(0);
  });
});

describe('map_grant_ref: step 6, ref within the table', () => {
  it('ref equal to the table size is refused with GNTST_bad_gntref', () => {
    expectStatus(refuseMap(grantedWorld(), { ref: 4 }), 'GNTST_bad_gntref');
  });

  it('a much larger ref is refused with GNTST_bad_gntref', () => {
    expectStatus(refuseMap(grantedWorld(), { ref: 1000 }), 'GNTST_bad_gntref');
  });

  it('the last ref of the table is accepted', () => {
    const state = grantedWorld({ ref: 3 });
    expectOk(mapGrantRef(state, config, mapArgs({ ref: 3 })));
  });
});

describe('map_grant_ref: step 7, already pinned', () => {
  it('a ref pinned by another domain is refused with GNTST_general_error', () => {
    const state = grantedWorld();
    map(state);
    expectStatus(refuseMap(state, { mapperDomid: DOM0, hostAddr: 3 }), 'GNTST_general_error');
  });

  it('is refused for a read-only request too', () => {
    const state = grantedWorld();
    map(state);
    expectStatus(refuseMap(state, { mapperDomid: DOM0, hostAddr: 3, readonly: true }), 'GNTST_general_error');
  });

  it('the pinning domain itself may map the ref again', () => {
    const state = grantedWorld();
    map(state);
    const handle = map(state, { hostAddr: 11 });
    expect(handle).toBe(1);
    expect(state.domains[HVM]!.active[0]!.hstw).toBe(2);
  });
});

describe('map_grant_ref: step 7, pin counter overflow (8-bit counters stop at 128)', () => {
  function pinnedReadOnly128(): XenState {
    const state = grantedWorld({}, { maptrackHandles: 130 });
    for (let i = 0; i < 128; i++) map(state, { readonly: true });
    return state;
  }

  it('a counter at 128 refuses one more pin with GNTST_general_error', () => {
    const state = pinnedReadOnly128();
    expect(state.domains[HVM]!.active[0]!.hstr).toBe(128);
    expectStatus(refuseMap(state, { readonly: true }), 'GNTST_general_error');
  });

  it('a full counter blocks only its own kind: a writable host pin still succeeds', () => {
    const state = pinnedReadOnly128();
    map(state, { readonly: false });
    expect(state.domains[HVM]!.active[0]!.hstw).toBe(1);
  });

  it('a request that would overflow one of its two counters is refused', () => {
    const state = pinnedReadOnly128();
    expectStatus(refuseMap(state, { readonly: true, device: true }), 'GNTST_general_error');
  });
});

describe('map_grant_ref: step 8, the shared entry', () => {
  it('an entry never granted (not GTF_permit_access) is refused with GNTST_general_error', () => {
    expectStatus(refuseMap(grantedWorld(), { ref: 1 }), 'GNTST_general_error');
  });

  it('an entry whose access was ended is refused with GNTST_general_error', () => {
    const state = grantedWorld();
    expectOk(endAccess(state, config, { domid: HVM, ref: 0 }));
    expectStatus(refuseMap(state, {}), 'GNTST_general_error');
  });

  it('an entry granted to another domain is refused with GNTST_general_error', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    expectStatus(refuseMap(state, {}), 'GNTST_general_error');
  });

  it('a writable map of a GTF_readonly grant is refused with GNTST_general_error', () => {
    const state = grantedWorld({ readonly: true });
    expectStatus(refuseMap(state, { readonly: false }), 'GNTST_general_error');
  });

  it('a read-only map of a GTF_readonly grant succeeds', () => {
    const state = grantedWorld({ readonly: true });
    expectOk(mapGrantRef(state, config, mapArgs({ readonly: true })));
  });

  it('a writable map of a readonly grant already pinned read-only is still refused', () => {
    const state = grantedWorld({ readonly: true });
    map(state, { readonly: true });
    expectStatus(refuseMap(state, { readonly: false, hostAddr: 11 }), 'GNTST_general_error');
  });

  it('wins over an empty granted gfn (general_error, not bad_page)', () => {
    const state = grantedWorld({ granteeDomid: DOM0, gfn: 7 });
    expectStatus(refuseMap(state, {}), 'GNTST_general_error');
  });

  it('the readonly violation wins over an empty granted gfn', () => {
    const state = grantedWorld({ readonly: true, gfn: 7 });
    expectStatus(refuseMap(state, { readonly: false }), 'GNTST_general_error');
  });
});

describe('map_grant_ref: step 9, translating the granted gfn', () => {
  it('an empty gfn is refused with GNTST_bad_page', () => {
    expectStatus(refuseMap(grantedWorld({ gfn: 7 }), {}), 'GNTST_bad_page');
  });

  it('a foreign-mapped gfn is refused with GNTST_bad_page', () => {
    const state = world();
    expectOk(addToPhysmapForeign(state, { domid: DOM0, gfn: 3, foreignDomid: HVM, foreignGfn: 0 }));
    grant(state, { domid: DOM0, gfn: 3 });
    expectStatus(refuseMap(state, { granterDomid: DOM0 }), 'GNTST_bad_page');
  });

  it('a grant-mapped gfn is refused with GNTST_bad_page', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    map(state, { mapperDomid: DOM0, hostAddr: 3 });
    grant(state, { domid: DOM0, gfn: 3 });
    expectStatus(refuseMap(state, { granterDomid: DOM0 }), 'GNTST_bad_page');
  });
});

describe('map_grant_ref: step 11, page ownership and host mapping', () => {
  it('a page not owned by the granter is refused with GNTST_general_error', () => {
    // Not reachable through the model's operations (ram_rw frames are always the domain's own);
    // the check is exercised by editing the owner directly.
    const state = grantedWorld();
    (frame(state, mfnOf(state, HVM, 0)) as WritableFrame).owner = DOM0;
    expectStatus(refuseMap(state, {}), 'GNTST_general_error');
  });

  it('a translated host map at an occupied gfn is refused with GNTST_general_error', () => {
    const state = grantedWorld({ granteeDomid: DOM0 });
    expectStatus(refuseMap(state, { mapperDomid: DOM0, hostAddr: 0 }), 'GNTST_general_error');
  });

  it('a host map without a host address is refused with GNTST_general_error', () => {
    expectStatus(refuseMap(grantedWorld(), { hostAddr: null }), 'GNTST_general_error');
  });
});
