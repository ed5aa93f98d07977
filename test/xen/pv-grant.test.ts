/**
 * Grant maps of and by PV domains (docs/reference/xen-pv.md, grant_table.c steps 11–12): the writable
 * type references, a PV mapper's per-mfn IOMMU counts, and the refusals they add.
 */
import { describe, expect, it } from 'vitest';
import type { XenConfig } from '../../models/xen/config.js';
import { noFaults } from '../../models/xen/fault.js';
import type { XenFaults } from '../../models/xen/fault.js';
import { unmapInFlightTypeRefs } from '../../models/xen/grant-iommu.js';
import {
  completeUnmapGrantRef,
  grantAccess,
  mapGrantRef,
  releaseMappings,
  startUnmapGrantRef,
  unmapGrantRef,
} from '../../models/xen/grant-table.js';
import type { MapGrantArgs } from '../../models/xen/grant-table.js';
import { destroyDomain } from '../../models/xen/destroy.js';
import { pageTypeOf } from '../../models/xen/page-info.js';
import { cloneXenState } from '../../models/xen/state.js';
import type { XenState } from '../../models/xen/types.js';
import { pageTypeCountMatchesReferences, pvMemoryInvariants } from '../../properties/xen/pv-invariants.js';
import { DOM0, HVM, PV, mfnAt, okPv, pv, pvWorld, sound, violated } from './pv-world.js';

const invariants = pvMemoryInvariants<XenState, unknown>((state) => state);

/** dom1 (PV) grants its gfn 1 (and gfn 0 read-only at ref 1) to dom0 (PV, IOMMU sync). */
function granted(config: XenConfig = sound) {
  const state = pvWorld(config);
  expect(grantAccess(state, { domid: PV, ref: 0, granteeDomid: DOM0, gfn: 1, readonly: false }).ok).toBe(true);
  expect(grantAccess(state, { domid: PV, ref: 1, granteeDomid: DOM0, gfn: 0, readonly: false }).ok).toBe(true);
  return { state, frame: mfnAt(state, PV, 1), table: mfnAt(state, PV, 0) };
}

function map(state: XenState, parts: Partial<MapGrantArgs>, config: XenConfig = sound, faults: XenFaults = noFaults) {
  return mapGrantRef(
    state,
    config,
    {
      mapperDomid: DOM0,
      granterDomid: PV,
      ref: 0,
      host: true,
      device: false,
      readonly: false,
      hostAddr: 100,
      ...parts,
    },
    [],
    faults,
  );
}

function handleOf(result: ReturnType<typeof map>): number {
  expect(result.ok, JSON.stringify(result)).toBe(true);
  return result.detail!['handle'] as number;
}

describe('step 11: writable type references', () => {
  it('a writable host map of a PV granter, and a writable device map, each take a PGT_writable_page reference', () => {
    const { state, frame } = granted();
    const handle = handleOf(map(state, { host: true, device: true }));
    expect(pageTypeOf(state, frame)).toMatchObject({ type: 'writable', count: 2 });
    expect(unmapGrantRef(state, sound, { mapperDomid: DOM0, handle, hostAddr: 100, devBusAddr: frame }).ok).toBe(true);
    expect(pageTypeOf(state, frame)).toMatchObject({ type: 'writable', count: 0 });
    expect(violated(state, invariants)).toEqual([]);
  });

  it('a read-only map takes none; a writable host map of an HVM granter takes none', () => {
    const { state, frame } = granted();
    handleOf(map(state, { readonly: true, device: true }));
    expect(pageTypeOf(state, frame).count).toBe(0);
    expect(grantAccess(state, { domid: HVM, ref: 0, granteeDomid: DOM0, gfn: 0, readonly: false }).ok).toBe(true);
    const hvmFrame = mfnAt(state, HVM, 0);
    handleOf(map(state, { granterDomid: HVM, hostAddr: 101 }));
    expect(pageTypeOf(state, hvmFrame).count).toBe(0);
    expect(violated(state, invariants)).toEqual([]);
  });

  it('refuses a writable map of a frame in use as a page table (GNTST_general_error), the state unchanged; read-only is fine', () => {
    for (const faults of [noFaults, { strikes: () => false }]) {
      for (const parts of [
        { host: true, device: false },
        { host: false, device: true },
        { host: true, device: true },
      ]) {
        const { state, table } = granted();
        okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
        const before = cloneXenState(state);
        expect(map(state, { ref: 1, ...parts }, sound, faults).error).toBe('GNTST_general_error');
        expect(state).toEqual(before);
        handleOf(map(state, { ref: 1, ...parts, readonly: true }, sound, faults));
        expect(violated(state, invariants)).toEqual([]);
      }
    }
  });

  it('an L1 pin of a frame a writable grant maps is refused (EINVAL: the type count is not 0)', () => {
    const { state, table } = granted();
    handleOf(map(state, { ref: 1 }));
    expect(pageTypeOf(state, table)).toMatchObject({ type: 'writable', count: 1 });
    expect(pv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table }).error).toBe('EINVAL');
  });
});

describe("step 12: a PV mapper's per-mfn IOMMU counts", () => {
  it('first writable maps read/write, a read-only one after it changes nothing, the last writable one downgrades, the last one unmaps', () => {
    const { state, frame } = granted();
    const iommu = () => state.domains[DOM0]!.iommu!.table[frame];
    const writable = handleOf(map(state, { device: true }));
    expect(iommu()).toEqual({ mfn: frame, read: true, write: true });
    const readonly = handleOf(map(state, { readonly: true, hostAddr: 101 }));
    expect(state.domains[DOM0]!.grantIommuCounts).toEqual({ [frame]: { read: 1, write: 1 } });
    expect(violated(state, invariants)).toEqual([]);
    expect(
      unmapGrantRef(state, sound, { mapperDomid: DOM0, handle: writable, hostAddr: 100, devBusAddr: frame }).ok,
    ).toBe(true);
    expect(iommu()).toEqual({ mfn: frame, read: true, write: false });
    expect(
      unmapGrantRef(state, sound, { mapperDomid: DOM0, handle: readonly, hostAddr: 101, devBusAddr: null }).ok,
    ).toBe(true);
    expect(iommu()).toBeUndefined();
    expect(state.domains[DOM0]!.grantIommuCounts).toBeUndefined();
    expect(violated(state, invariants)).toEqual([]);
  });

  it('an unmap that leaves the handle live (host part only) keeps the count (XSA-394)', () => {
    const { state, frame } = granted();
    const handle = handleOf(map(state, { device: true }));
    expect(unmapGrantRef(state, sound, { mapperDomid: DOM0, handle, hostAddr: 100, devBusAddr: null }).ok).toBe(true);
    expect(state.domains[DOM0]!.grantIommuCounts).toEqual({ [frame]: { read: 0, write: 1 } });
    expect(violated(state, invariants)).toEqual([]);
  });

  it('a read-only map maps the dfn read-only; an IOMMU fault undoes the map to the state before', () => {
    const { state, frame } = granted();
    const before = cloneXenState(state);
    const strikes: XenFaults = { strikes: (point) => point === 'iommuMap' };
    expect(map(state, { readonly: true }, sound, strikes).error).toBe('GNTST_general_error');
    expect(state).toEqual(before);
    handleOf(map(state, { readonly: true }));
    expect(state.domains[DOM0]!.iommu!.table[frame]).toEqual({ mfn: frame, read: true, write: false });
  });

  it('a mapper without IOMMU sync (HVM) keeps no counts', () => {
    const state = pvWorld();
    expect(grantAccess(state, { domid: PV, ref: 0, granteeDomid: HVM, gfn: 1, readonly: false }).ok).toBe(true);
    handleOf(map(state, { mapperDomid: HVM, hostAddr: 5 }));
    expect(state.domains[HVM]!.grantIommuCounts).toBeUndefined();
    expect(violated(state, invariants)).toEqual([]);
  });

  it('gnttab_release_mappings deletes the counts and puts the type references', () => {
    const { state, frame } = granted();
    handleOf(map(state, { device: true }));
    state.domains[DOM0]!.life = 'dying';
    releaseMappings(state, sound, DOM0);
    expect(state.domains[DOM0]!.grantIommuCounts).toBeUndefined();
    expect(pageTypeOf(state, frame)).toMatchObject({ type: 'writable', count: 0 });
    expect(violated(state, invariants)).toEqual([]);
  });
});

describe('destruction of a PV domain with page tables', () => {
  it('relinquish_memory unpins its tables first: every frame freed, the domain dead, nothing typed left', () => {
    const state = pvWorld();
    const [table, data] = [mfnAt(state, PV, 0), mfnAt(state, PV, 1)];
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: data, rw: true });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 1, mfn: table, rw: false });
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    expect(destroyDomain(state, sound, PV).ok).toBe(true);
    expect(state.domains[PV]!.life).toBe('dead');
    expect(state.memory.frames.filter((frame) => frame.owner === PV)).toEqual([]);
    expect(Object.keys(state.pageTypes ?? {}).map(Number)).not.toContain(table);
    expect(violated(state, invariants)).toEqual([]);
  });
});

describe('a grant unmap between its phases', () => {
  it("holds the mapping's type references until unmap_common_complete (unmapInFlightTypeRefs)", () => {
    const { state, frame } = granted();
    const handle = handleOf(map(state, { device: true }));
    const started = startUnmapGrantRef(state, sound, { mapperDomid: DOM0, handle, hostAddr: 100, devBusAddr: frame });
    const pending = started.pending!;
    expect(pageTypeOf(state, frame).count).toBe(2);
    const plain = pageTypeCountMatchesReferences<XenState, unknown>((s) => s);
    const inflight = pageTypeCountMatchesReferences<XenState, unknown>(
      (s) => s,
      (s, mfn) => unmapInFlightTypeRefs(s, pending, mfn),
    );
    const check = (invariant: typeof plain) =>
      invariant.check({ before: null, command: null, result: null, after: state }) === null;
    expect([check(plain), check(inflight)]).toEqual([false, true]);
    completeUnmapGrantRef(state, sound, pending);
    expect(pageTypeOf(state, frame).count).toBe(0);
    expect(check(plain)).toBe(true);
  });
});
