/**
 * GNTTABOP_copy (docs/reference/xen.md §2.18): every GNTST status it returns, in Xen's order; the
 * transient pins, status bits and page references a copy takes and gives back; the frames its
 * `memcpy` touches; the two phases with other work in between.
 */
import { describe, expect, it } from 'vitest';
import { destroyDomain } from '../../models/xen/destroy.js';
import type { GrantCopyPtr } from '../../models/xen/grant-copy.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';
import { stepGrantV2 } from '../../models/xen/grant-v2-commands.js';
import type { XenState } from '../../models/xen/types.js';
import {
  DOM0,
  HVM,
  HVM2,
  NO_DOMAIN,
  PV,
  REF,
  apply,
  expectOk,
  expectRefused,
  run,
  sound,
  v2World,
  violated,
} from './world.js';

// dom1 gfn 0 = mfn 14, dom3 gfn 0 = mfn 10, dom0 gfn 0 = mfn 15 (world.ts).
const GRANTED_MFN = 14;
const CALLER_MFN = 10;

const self = (gmfn: number, offset = 0): GrantCopyPtr => ({ domid: 'self', gref: false, frame: gmfn, offset });
const viaGrant = (ref: number, domid = HVM, offset = 0): GrantCopyPtr => ({ domid, gref: true, frame: ref, offset });

function copy(source: GrantCopyPtr, dest: GrantCopyPtr, len = 64, callerDomid = HVM2): GrantV2Command {
  return { kind: 'grantCopy', callerDomid, source, dest, len };
}

function startCopy(source: GrantCopyPtr, dest: GrantCopyPtr, len = 64): GrantV2Command {
  return { kind: 'startGrantCopy', callerDomid: HVM2, source, dest, len };
}

const grantTo = (ref: number, grantee = HVM2, readonly = false, gfn = 0): GrantV2Command => ({
  kind: 'grantAccess',
  domid: HVM,
  ref,
  granteeDomid: grantee,
  gfn,
  readonly,
});

function granted(commands: readonly GrantV2Command[] = [grantTo(REF)]): XenState {
  const ran = run(v2World(), sound, commands);
  for (const result of ran.results) expectOk(result);
  return ran.state;
}

describe('GNTTABOP_copy: refusals, in order', () => {
  it('len 0 is GNTST_okay with nothing done', () => {
    const state = granted();
    const step = stepGrantV2(state, sound, copy(viaGrant(99), self(0), 0));
    expectOk(step.result);
    expect(step.state).toEqual(state);
  });

  it('GNTST_permission_denied for a gmfn named through a domid, not DOMID_SELF (source, then destination)', () => {
    const state = granted();
    expectRefused(
      state,
      sound,
      copy({ domid: HVM2, gref: false, frame: 0, offset: 0 }, self(1)),
      'GNTST_permission_denied',
    );
    expectRefused(
      state,
      sound,
      copy(self(0), { domid: HVM2, gref: false, frame: 1, offset: 0 }),
      'GNTST_permission_denied',
    );
  });

  it('GNTST_bad_domain for a domain that does not exist (source, then destination)', () => {
    const state = granted();
    expectRefused(state, sound, copy(viaGrant(REF, NO_DOMAIN), self(0)), 'GNTST_bad_domain');
    expectRefused(state, sound, copy(self(0), viaGrant(REF, NO_DOMAIN)), 'GNTST_bad_domain');
  });

  it('GNTST_bad_gntref for a ref beyond the table', () => {
    expectRefused(granted(), sound, copy(viaGrant(10), self(0)), 'GNTST_bad_gntref');
  });

  it('GNTST_general_error for a grant not given to the caller, or not GTF_permit_access', () => {
    expectRefused(granted([grantTo(REF, DOM0)]), sound, copy(viaGrant(REF), self(0)), 'GNTST_general_error');
    expectRefused(granted([]), sound, copy(viaGrant(REF), self(0)), 'GNTST_general_error');
  });

  it('GNTST_general_error for a grant another domain has pinned', () => {
    const state = granted([
      grantTo(REF, DOM0),
      {
        kind: 'mapGrantRef',
        mapperDomid: DOM0,
        granterDomid: HVM,
        ref: REF,
        host: true,
        device: false,
        readonly: true,
        hostAddr: 5,
      },
    ]);
    expectRefused(state, sound, copy(viaGrant(REF), self(0), 64, HVM2), 'GNTST_general_error');
  });

  it('GNTST_general_error for a pin counter at its limit', () => {
    const state = granted([
      grantTo(REF),
      {
        kind: 'mapGrantRef',
        mapperDomid: HVM2,
        granterDomid: HVM,
        ref: REF,
        host: true,
        device: false,
        readonly: true,
        hostAddr: 5,
      },
    ]);
    state.domains[HVM]!.active[REF]!.hstr = 128;
    expectRefused(state, sound, copy(viaGrant(REF), self(1)), 'GNTST_general_error');
  });

  it('GNTST_bad_domain copying through a grant the caller has pinned once the granter is dying', () => {
    const state = granted([
      grantTo(REF),
      {
        kind: 'mapGrantRef',
        mapperDomid: HVM2,
        granterDomid: HVM,
        ref: REF,
        host: true,
        device: false,
        readonly: false,
        hostAddr: 5,
      },
    ]);
    expectOk(destroyDomain(state, sound, HVM));
    expect(state.domains[HVM]!.life).toBe('dying');
    expectRefused(state, sound, copy(viaGrant(REF), self(1)), 'GNTST_bad_domain');
  });

  it('GNTST_general_error writing through a GTF_readonly grant; the claimed source is released again', () => {
    const state = granted([grantTo(REF, HVM2, true)]);
    expectRefused(state, sound, copy(self(0), viaGrant(REF)), 'GNTST_general_error');
  });

  it('GNTST_bad_page for a granted gfn or a gmfn that is not RAM', () => {
    expectRefused(granted([grantTo(REF, HVM2, false, 5)]), sound, copy(viaGrant(REF), self(0)), 'GNTST_bad_page');
    expectRefused(granted(), sound, copy(self(4), viaGrant(REF)), 'GNTST_bad_page');
    expectRefused(granted(), sound, copy(viaGrant(REF), self(4)), 'GNTST_bad_page');
  });

  it('GNTST_bad_copy_arg for offset + len beyond the page (source or destination)', () => {
    const state = granted();
    const result = expectRefused(state, sound, copy(self(0, 4000), viaGrant(REF), 200), 'GNTST_bad_copy_arg');
    expect(result.detail?.status).toBe(-10);
    expectRefused(state, sound, copy(self(0), viaGrant(REF, HVM, 4095), 2), 'GNTST_bad_copy_arg');
  });

  it('GNTST_general_error for a destination frame that cannot take the writable type (a PV page table)', () => {
    const state = granted([{ kind: 'grantAccess', domid: PV, ref: REF, granteeDomid: HVM2, gfn: 0, readonly: false }]);
    const pvMfn = state.domains[PV]!.p2m[0]!.mfn;
    state.pageTypes = { [pvMfn]: { type: 'l1', count: 1, validated: true, pinned: false } };
    expectRefused(state, sound, copy(self(0), viaGrant(REF, PV)), 'GNTST_general_error');
  });

  it('ESRCH for a caller that does not exist', () => {
    expectRefused(granted(), sound, copy(self(0), viaGrant(REF), 64, NO_DOMAIN), 'ESRCH');
  });

  it('finishGrantCopy with no copy in flight is EINVAL', () => {
    expectRefused(granted(), sound, { kind: 'finishGrantCopy', callerDomid: HVM2, index: 0 }, 'EINVAL');
  });
});

describe('GNTTABOP_copy: what it takes, touches and gives back', () => {
  it('copies from its gmfn into a writable grant: one read, one write, pins and references back as they were', () => {
    const state = granted();
    const step = stepGrantV2(state, sound, copy(self(0, 16), viaGrant(REF, HVM, 32)));
    expectOk(step.result);
    expect(step.accesses).toEqual([
      { mfn: CALLER_MFN, write: false, owner: HVM2 },
      { mfn: GRANTED_MFN, write: true, owner: HVM },
    ]);
    expect(step.state.memory).toEqual(state.memory);
    expect(step.state.domains[HVM]!.active[REF]).toEqual(state.domains[HVM]!.active[REF]);
    expect(step.state.domains[HVM]!.grantTable[REF]).toEqual(state.domains[HVM]!.grantTable[REF]);
    expect(violated(step.state)).toBeNull();
  });

  it('in flight, holds an hstw pin, the status bits and a reference on each frame; the granter cannot take the page', () => {
    const holder = { state: granted() };
    expectOk(apply(holder, sound, startCopy(self(0), viaGrant(REF))));
    const act = holder.state.domains[HVM]!.active[REF]!;
    expect(act).toMatchObject({ hstw: 1, hstr: 0, domid: HVM2, mfn: GRANTED_MFN });
    expect(holder.state.domains[HVM]!.grantTable[REF]).toMatchObject({ reading: true, writing: true });
    expect(holder.state.memory.frames[GRANTED_MFN]!.refcount).toBe(2);
    expect(holder.state.memory.frames[CALLER_MFN]!.refcount).toBe(2);
    expect(violated(holder.state)).toBeNull();
    expect(apply(holder, sound, { kind: 'endAccess', domid: HVM, ref: REF }).error).toBe('EBUSY');
    // Ballooning the page out leaves it referenced by the copy: still dom1's until the copy is done.
    expectOk(apply(holder, sound, { kind: 'decreaseReservation', domid: HVM, gfn: 0 }));
    expect(holder.state.memory.frames[GRANTED_MFN]).toMatchObject({ owner: HVM, refcount: 1 });
    expect(violated(holder.state)).toBeNull();
    const finish: GrantV2Command = { kind: 'finishGrantCopy', callerDomid: HVM2, index: 0 };
    const step = stepGrantV2(holder.state, sound, finish);
    expect(step.accesses?.[1]).toEqual({ mfn: GRANTED_MFN, write: true, owner: HVM });
    expect(step.state.memory.frames[GRANTED_MFN]).toMatchObject({ owner: null, refcount: 0 });
    expect(step.state.domains[HVM2]!.grantCopies).toEqual([]);
    expect(violated(step.state)).toBeNull();
  });

  it('a v2 granter: the status word is set while the copy holds the grant, the shared entry never', () => {
    const holder = { state: granted([{ kind: 'setGrantVersion', domid: HVM, version: 2 }, grantTo(REF)]) };
    expectOk(apply(holder, sound, startCopy(viaGrant(REF), self(1))));
    expect(holder.state.domains[HVM]!.grantStatus?.[REF]).toEqual({ reading: true, writing: false });
    expect(holder.state.domains[HVM]!.grantTable[REF]).toMatchObject({ reading: false, writing: false });
    expect(holder.state.domains[HVM]!.active[REF]!.hstr).toBe(1);
    expectOk(apply(holder, sound, { kind: 'finishGrantCopy', callerDomid: HVM2, index: 0 }));
    expect(holder.state.domains[HVM]!.grantStatus?.[REF]).toEqual({ reading: false, writing: false });
    expect(violated(holder.state)).toBeNull();
  });

  it('copies through a grant the caller has mapped: the pinned frame, referenced once more', () => {
    const state = granted([
      grantTo(REF),
      {
        kind: 'mapGrantRef',
        mapperDomid: HVM2,
        granterDomid: HVM,
        ref: REF,
        host: true,
        device: false,
        readonly: false,
        hostAddr: 5,
      },
    ]);
    const step = stepGrantV2(state, sound, startCopy(viaGrant(REF), self(1)));
    expectOk(step.result);
    expect(step.state.domains[HVM]!.active[REF]).toMatchObject({ hstw: 1, hstr: 1 });
    expect(step.state.memory.frames[GRANTED_MFN]!.refcount).toBe(3);
    expect(violated(step.state)).toBeNull();
  });
});
