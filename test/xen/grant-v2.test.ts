/**
 * Grant table v2 (docs/reference/xen.md §2.15–2.17): GNTTABOP_set_version, the status frames,
 * GNTTABOP_get_status_frames, XENMAPSPACE_grant_table, and map / unmap / end access by version.
 * Every refusal: its error, and the state unchanged.
 */
import { describe, expect, it } from 'vitest';
import { grantStatusBits } from '../../models/xen/grant-status.js';
import { GNTTAB_NR_RESERVED_ENTRIES } from '../../models/xen/grant-v2.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';
import { destroyDomain } from '../../models/xen/destroy.js';
import { cloneXenState, createXenState } from '../../models/xen/state.js';
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

const toV2 = (domid = HVM): GrantV2Command => ({ kind: 'setGrantVersion', domid, version: 2 });
const toV1 = (domid = HVM): GrantV2Command => ({ kind: 'setGrantVersion', domid, version: 1 });
const grantTo = (ref: number, grantee = HVM2, readonly = false): GrantV2Command => ({
  kind: 'grantAccess',
  domid: HVM,
  ref,
  granteeDomid: grantee,
  gfn: 0,
  readonly,
});
const mapBy = (ref: number, hostAddr = 5, readonly = false): GrantV2Command => ({
  kind: 'mapGrantRef',
  mapperDomid: HVM2,
  granterDomid: HVM,
  ref,
  host: true,
  device: false,
  readonly,
  hostAddr,
});

function after(commands: readonly GrantV2Command[], state: XenState = v2World()): XenState {
  const ran = run(state, sound, commands);
  for (const result of ran.results) expectOk(result);
  expect(ran.violation).toBeNull();
  return ran.state;
}

describe('GNTTABOP_set_version', () => {
  it('refuses a version other than 1 or 2 with EINVAL, reporting the current version', () => {
    const result = expectRefused(v2World(), sound, { kind: 'setGrantVersion', domid: HVM, version: 3 }, 'EINVAL');
    expect(result.detail?.version).toBe(1);
    expectRefused(v2World(), sound, { kind: 'setGrantVersion', domid: HVM, version: 0 }, 'EINVAL');
  });

  it('refuses v2 on a table limited to v1 with ENOSYS', () => {
    const state = v2World();
    state.domains[HVM]!.maxGrantVersion = 1;
    expectRefused(state, sound, toV2(), 'ENOSYS');
  });

  it('refuses a caller that does not exist with ESRCH', () => {
    expectRefused(v2World(), sound, toV2(NO_DOMAIN), 'ESRCH');
  });

  it('is a no-op to the version in use', () => {
    const state = v2World();
    const step = run(state, sound, [toV1()]);
    expectOk(step.results[0]!);
    expect(step.state).toEqual(state);
  });

  it('refuses with EBUSY while an entry beyond the reserved ones is pinned', () => {
    const state = after([grantTo(REF), mapBy(REF)]);
    expectRefused(state, sound, toV2(), 'EBUSY');
  });

  it('switches while a reserved entry is pinned, its status bits moving to the status array and back', () => {
    const v2 = after([grantTo(1), mapBy(1), toV2()]);
    const granter = v2.domains[HVM]!;
    expect(granter.grantVersion).toBe(2);
    expect(granter.grantTable[1]).toMatchObject({ permitAccess: true, reading: false, writing: false, domid: HVM2 });
    expect(granter.grantStatus?.[1]).toEqual({ reading: true, writing: true });
    const v1 = after([{ kind: 'unmapGrantRef', mapperDomid: HVM2, handle: 0, hostAddr: 5, devBusAddr: null }], v2);
    expect(grantStatusBits(v1.domains[HVM]!, 1)).toEqual({ reading: false, writing: false });
    const back = after([grantTo(REF), mapBy(REF, 6, true)], after([toV1()], after([mapBy(1)], v1)));
    expect(back.domains[HVM]!.grantTable[1]).toMatchObject({ permitAccess: true, reading: true, writing: true });
    expect(back.domains[HVM]!.grantStatus).toBeUndefined();
  });

  it('clears every entry beyond the reserved ones, keeps the reserved ones', () => {
    const state = after([grantTo(0), grantTo(REF), toV2()]);
    expect(state.domains[HVM]!.grantTable[0]!.permitAccess).toBe(true);
    expect(state.domains[HVM]!.grantTable[REF]!.permitAccess).toBe(false);
    expect(GNTTAB_NR_RESERVED_ENTRIES).toBe(8);
  });

  it('v2 → v1 makes a reserved entry that is not GTF_permit_access invalid', () => {
    const state = after([toV2(), grantTo(2)]);
    const v1 = after([toV1()], state);
    expect(v1.domains[HVM]!.grantTable[2]!.permitAccess).toBe(true);
    expect(v1.domains[HVM]!.grantTable[3]!.permitAccess).toBe(false);
  });

  it('populates the status frames as Xen-heap pages of the domain and frees them on the way back', () => {
    const state = after([toV2()]);
    const granter = state.domains[HVM]!;
    expect(granter.statusFrames).toHaveLength(1);
    const mfn = granter.statusFrames![0]!;
    expect(state.memory.frames[mfn]).toMatchObject({ owner: HVM, refcount: 1 });
    expect(granter.xenheapPages).toBe(2);
    expect(granter.totPages).toBe(3);
    const back = after([toV1()], state);
    expect(back.domains[HVM]!.statusFrames).toEqual([]);
    expect(back.memory.frames[mfn]).toMatchObject({ owner: null, refcount: 0 });
    expect(back.domains[HVM]!.xenheapPages).toBe(1);
  });

  it('refuses v2 with ENOMEM when no frame is free for the status frames', () => {
    const state = createXenState({
      memory: { frameCount: 1, policy: 'lifo', randomSeed: 'x' },
      domains: [{ translated: true, privileged: false, initialGfns: [0] }],
      grantEntries: 10,
      maptrackHandles: 1,
    });
    expectRefused(state, sound, toV2(0), 'ENOMEM');
  });
});

describe('GNTTABOP_get_status_frames', () => {
  const get = (callerDomid: number, domid: number, nrFrames: number): GrantV2Command => ({
    kind: 'getStatusFrames',
    callerDomid,
    domid,
    nrFrames,
  });

  it('GNTST_bad_domain for a domain that does not exist', () => {
    const result = expectRefused(v2World(), sound, get(HVM, NO_DOMAIN, 1), 'GNTST_bad_domain');
    expect(result.detail?.status).toBe(-2);
  });

  it("GNTST_permission_denied for another domain's table unless the caller is privileged", () => {
    const state = after([toV2()]);
    expectRefused(state, sound, get(HVM2, HVM, 1), 'GNTST_permission_denied');
    const holder = { state };
    expectOk(apply(holder, sound, get(DOM0, HVM, 1)));
  });

  it('GNTST_general_error for more frames than the table has (a v1 table has none)', () => {
    expectRefused(v2World(), sound, get(HVM, HVM, 1), 'GNTST_general_error');
    expectRefused(after([toV2()]), sound, get(HVM, HVM, 2), 'GNTST_general_error');
  });

  it('gives the gfn of each status frame: INVALID until mapped, then its gfn; a PV domain its mfn', () => {
    const holder = { state: after([toV2(), toV2(PV)]) };
    expect(apply(holder, sound, get(HVM, HVM, 1)).detail?.gfns).toBe('invalid');
    expectOk(apply(holder, sound, { kind: 'mapGrantFrame', domid: HVM, idx: 0, status: true, gfn: 7 }));
    expect(apply(holder, sound, get(HVM, HVM, 1)).detail?.gfns).toBe('7');
    const pvFrame = holder.state.domains[PV]!.statusFrames![0]!;
    expect(apply(holder, sound, get(PV, PV, 1)).detail?.gfns).toBe(String(pvFrame));
  });
});

describe('XENMEM_add_to_physmap, XENMAPSPACE_grant_table', () => {
  const mapFrame = (domid: number, idx: number, status: boolean, gfn: number): GrantV2Command => ({
    kind: 'mapGrantFrame',
    domid,
    idx,
    status,
    gfn,
  });

  it('ESRCH for a domain that does not exist', () => {
    expectRefused(v2World(), sound, mapFrame(NO_DOMAIN, 0, false, 7), 'ESRCH');
  });

  it('EACCES for a PV domain (xatp_permission_check)', () => {
    expectRefused(v2World(), sound, mapFrame(PV, 0, false, 7), 'EACCES');
  });

  it('EINVAL for an index beyond the frames, or a status frame of a v1 table', () => {
    expectRefused(v2World(), sound, mapFrame(HVM, 1, false, 7), 'EINVAL');
    expectRefused(v2World(), sound, mapFrame(HVM, 0, true, 7), 'EINVAL');
    expectRefused(after([toV2()]), sound, mapFrame(HVM, 1, true, 7), 'EINVAL');
  });

  it('EINVAL for a table whose shared frames the world does not model', () => {
    const state = createXenState({
      memory: { frameCount: 4, policy: 'lifo', randomSeed: 'x' },
      domains: [{ translated: true, privileged: false, initialGfns: [0] }],
      grantEntries: 10,
      maptrackHandles: 1,
    });
    expectRefused(state, sound, mapFrame(0, 0, false, 7), 'EINVAL');
  });

  it('EBUSY onto a gfn that holds RAM (the model keeps callers honest)', () => {
    expectRefused(v2World(), sound, mapFrame(HVM, 0, false, 0), 'EBUSY');
  });

  it('maps the frame without a page reference, and moves it from its old gfn', () => {
    const holder = { state: after([toV2()]) };
    const mfn = holder.state.domains[HVM]!.statusFrames![0]!;
    expectOk(apply(holder, sound, mapFrame(HVM, 0, true, 7)));
    expect(holder.state.domains[HVM]!.p2m[7]).toEqual({ type: 'grant_table', mfn, status: true, idx: 0 });
    expect(holder.state.memory.frames[mfn]!.refcount).toBe(1);
    expectOk(apply(holder, sound, mapFrame(HVM, 0, true, 8)));
    expect(holder.state.domains[HVM]!.p2m[7]).toBeUndefined();
    expect(holder.state.domains[HVM]!.p2m[8]?.mfn).toBe(mfn);
    // A grant-table frame already at the gfn is unhooked.
    expectOk(apply(holder, sound, mapFrame(HVM, 0, false, 8)));
    expect(holder.state.domains[HVM]!.p2m[8]).toMatchObject({ status: false });
    expect(violated(holder.state)).toBeNull();
  });

  it('set_version back to v1 takes a mapped status frame out of the p2m before freeing it (XSA-255)', () => {
    const state = after([toV2(), mapFrame(HVM, 0, true, 7), toV1()]);
    expect(state.domains[HVM]!.p2m[7]).toBeUndefined();
  });
});

describe('map, unmap and end access by version', () => {
  it('a v2 map writes GTF_reading/GTF_writing into the status word, never the shared entry; unmap clears it', () => {
    const mapped = after([toV2(), grantTo(REF), mapBy(REF)]);
    expect(mapped.domains[HVM]!.grantStatus?.[REF]).toEqual({ reading: true, writing: true });
    expect(mapped.domains[HVM]!.grantTable[REF]).toMatchObject({ reading: false, writing: false });
    const unmapped = after(
      [{ kind: 'unmapGrantRef', mapperDomid: HVM2, handle: 0, hostAddr: 5, devBusAddr: null }],
      mapped,
    );
    expect(unmapped.domains[HVM]!.grantStatus?.[REF]).toEqual({ reading: false, writing: false });
  });

  it('v2 end access clears the entry even while pinned and reports it still in use', () => {
    const holder = { state: after([toV2(), grantTo(REF), mapBy(REF)]) };
    const result = apply(holder, sound, { kind: 'endAccess', domid: HVM, ref: REF });
    expectOk(result);
    expect(result.detail?.stillInUse).toBe(true);
    expect(holder.state.domains[HVM]!.grantTable[REF]!.permitAccess).toBe(false);
    expect(violated(holder.state)).toBeNull();
    // The granter may not reuse the ref while Xen still has it pinned.
    const busy = apply(holder, sound, grantTo(REF));
    expect(busy.error).toBe('EBUSY');
  });

  it('v2 end access of an idle entry reports it free', () => {
    const holder = { state: after([toV2(), grantTo(REF)]) };
    const result = apply(holder, sound, { kind: 'endAccess', domid: HVM, ref: REF });
    expect(result.detail?.stillInUse).toBe(false);
  });
});

describe('teardown of a v2 domain', () => {
  it("gives back the table's shared and status frames with its memory; the invariants hold", () => {
    const state = after([toV2(), { kind: 'mapGrantFrame', domid: HVM, idx: 0, status: true, gfn: 7 }]);
    const frames = [...state.domains[HVM]!.sharedFrames!, ...state.domains[HVM]!.statusFrames!];
    const copy = cloneXenState(state);
    expectOk(destroyDomain(copy, sound, HVM));
    for (const mfn of frames) expect(copy.memory.frames[mfn]).toMatchObject({ owner: null, refcount: 0 });
    expect(copy.domains[HVM]).toMatchObject({ life: 'dead', xenheapPages: 0, totPages: 0 });
    expect(violated(copy)).toBeNull();
  });
});
