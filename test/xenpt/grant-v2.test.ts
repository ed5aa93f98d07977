/**
 * Grant table v2 and GNTTABOP_copy in the Xen passthrough stack (models/xenpt/grant-v2.ts,
 * docs/reference/xen-passthrough.md §9): the IOMMU effect of a grant-table frame in a translated
 * guest's p2m (p2m_ram_rw: read/write through the EPT or the synced table; gone with the frame),
 * the granter's end of access in v1 and v2, the copy phased with its claims held across the
 * window and its accesses kept out of the DMA record, and destruction waiting for a copy in flight.
 *
 * The default world: dom0 (PV) gfns 0–1 at mfns 11, 10; dom1 (HVM, device 0) gfns 0–2 at mfns 9,
 * 8, 7 and its grant table's shared frame mfn 4; dom2 (PV, device 1) gfns 0–1 at mfns 6, 5.
 */
import { describe, expect, test } from 'vitest';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import { DOMID_SELF } from '../../models/xenpt/grant-v2.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import { xenPtHvmSharedPt, xenPtHvmSyncPt } from '../../properties/xenpt/designs.js';
import {
  xenPtGnttabCopyReleasesBeforeCopy,
  xenPtGnttabUnpopulateLeavesStatusMapped,
} from '../../properties/xenpt/grant-v2-designs.js';

function run(
  commands: readonly XenPtCommand[],
  design: XenPtDesign = xenPtHvmSyncPt,
  from: XenPtState = design.init(),
): { state: XenPtState; results: string[]; details: unknown[]; accesses: unknown[][] } {
  let state = from;
  const results: string[] = [];
  const details: unknown[] = [];
  const accesses: unknown[][] = [];
  for (const command of commands) {
    const step = design.step(state, command);
    results.push(step.result.ok ? 'ok' : String(step.result.error));
    details.push(step.result.detail);
    accesses.push([...((step.result as { accesses?: unknown[] }).accesses ?? [])]);
    state = step.state;
  }
  return { state, results, details, accesses };
}

const toV2: XenPtCommand = { kind: 'setGrantVersion', domid: 1, version: 2 };
const toV1: XenPtCommand = { kind: 'setGrantVersion', domid: 1, version: 1 };
const statusAt3: XenPtCommand = { kind: 'mapGrantFrame', domid: 1, idx: 0, status: true, gfn: 3 };
const dma = (dfn: number, write = true): XenPtCommand => ({ kind: 'dma', device: 0, dfn, write });

describe('XENMAPSPACE_grant_table through the IOMMU (p2m_add_page p2m_ram_rw, p2m_get_iommu_flags)', () => {
  test("the world sets up the HVM guest's shared frame as a host frame it owns, outside tot_pages", () => {
    const state = xenPtHvmSyncPt.init();
    const dom1 = state.xen.domains[1];
    expect(dom1?.sharedFrames).toEqual([4]);
    expect(dom1?.xenheapPages).toBe(1);
    expect(state.xen.memory.frames[4]).toMatchObject({ owner: 1, refcount: 1 });
  });

  test('synced tables: the shared frame mapped at a gfn is mapped read/write in the IOMMU table, and the device writes it', () => {
    const { state, results, details } = run([
      { kind: 'mapGrantFrame', domid: 1, idx: 0, status: false, gfn: 3 },
      dma(3),
    ]);
    expect(results).toEqual(['ok', 'ok']);
    expect(state.xen.domains[1]?.iommu?.table[3]).toEqual({ mfn: 4, read: true, write: true });
    expect(state.xen.domains[1]?.iommu?.flushPending).toEqual([]);
    expect(details[1]).toEqual({ mfn: 4, via: 'walk' });
  });

  test('shared EPT: the device reaches the status frame through the p2m while v2, and not once back in v1', () => {
    const { state, results, details } = run([toV2, statusAt3, dma(3), toV1], xenPtHvmSharedPt);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(details[2]).toMatchObject({ via: 'walk' });
    expect(state.xen.domains[1]?.p2m[3]).toBeUndefined();
    // The version switch took the frame out of the p2m: the IOTLB entry the DMA cached was flushed.
    expect(state.iotlb['dom1/3']).toBeUndefined();
    const after = xenPtHvmSharedPt.step(state, dma(3));
    expect(after.result.detail).toEqual({ fault: 'not-present' });
  });

  test('synced tables: set_version back to v1 unmaps the status frame from the IOMMU table and flushes', () => {
    const { state, results } = run([toV2, statusAt3, dma(3), toV1]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(state.xen.domains[1]?.iommu?.table[3]).toBeUndefined();
    expect(state.iotlb['dom1/3']).toBeUndefined();
  });

  test('remapped: the frame leaves its old gfn in the p2m and the IOMMU table', () => {
    const { state, results } = run([
      { kind: 'decreaseReservation', domid: 1, gfn: 2 },
      toV2,
      statusAt3,
      { kind: 'mapGrantFrame', domid: 1, idx: 0, status: true, gfn: 2 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    const table = state.xen.domains[1]?.iommu?.table ?? {};
    expect(table[3]).toBeUndefined();
    expect(table[2]?.mfn).toBe(state.xen.domains[1]?.statusFrames?.[0]);
  });

  test('unpopulate-leaves-status-mapped: the freed status frame stays reachable by the device', () => {
    const design = xenPtGnttabUnpopulateLeavesStatusMapped;
    const { state, results } = run([toV2, statusAt3, toV1], design);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    const mfn = state.xen.domains[1]?.iommu?.table[3]?.mfn ?? -1;
    expect(state.xen.memory.frames[mfn]?.owner).toBeNull();
    const names = design.invariants
      .filter((invariant) => invariant.check({ before: state, command: dma(3), result: null, after: state }) !== null)
      .map((invariant) => invariant.name);
    expect(names).toEqual(expect.arrayContaining(['grant-frame-mappings-live', 'device-reach-owned-or-held']));
  });

  test('refusals leave the state: a PV domain (EACCES), an index beyond the frames (EINVAL), RAM at the gfn (EBUSY)', () => {
    const state = xenPtHvmSyncPt.init();
    for (const [command, error] of [
      [{ kind: 'mapGrantFrame', domid: 2, idx: 0, status: false, gfn: 3 }, 'EACCES'],
      [{ kind: 'mapGrantFrame', domid: 1, idx: 1, status: false, gfn: 3 }, 'EINVAL'],
      [{ kind: 'mapGrantFrame', domid: 1, idx: 0, status: true, gfn: 3 }, 'EINVAL'],
      [{ kind: 'mapGrantFrame', domid: 1, idx: 0, status: false, gfn: 0 }, 'EBUSY'],
      [{ kind: 'setGrantVersion', domid: 1, version: 3 }, 'EINVAL'],
      [{ kind: 'getStatusFrames', callerDomid: 1, domid: 1, nrFrames: 1 }, 'GNTST_general_error'],
      [{ kind: 'getStatusFrames', callerDomid: 1, domid: 2, nrFrames: 0 }, 'GNTST_permission_denied'],
    ] as const) {
      const step = xenPtHvmSyncPt.step(state, command);
      expect(step.result.error).toBe(error);
      expect(step.state).toBe(state);
    }
  });
});

describe("the granter's end of foreign access", () => {
  // The HVM guest grants to dom0's backend: the default world's PV domains are created with
  // max_grant_version 1 (models/xenpt/config.ts), so only the HVM guest switches to v2.
  test('a PV domain of the default world stays at v1: set_version 2 refused (ENOSYS), nothing changed', () => {
    const { results } = run([{ kind: 'setGrantVersion', domid: 2, version: 2 }]);
    expect(results).toEqual(['ENOSYS']);
  });
  const grant: XenPtCommand = { kind: 'grantAccess', domid: 1, ref: 8, granteeDomid: 0, gfn: 0, readonly: false };
  const map: XenPtCommand = { kind: 'mapGrantRef', mapperDomid: 0, granterDomid: 1, ref: 8, gfn: 3, readonly: false };
  test('v1: refused (EBUSY) while the grant is mapped, done once unmapped', () => {
    const { results } = run([grant, map, { kind: 'endAccess', domid: 1, ref: 8 }]);
    expect(results).toEqual(['ok', 'ok', 'EBUSY']);
    const done = run([
      grant,
      map,
      { kind: 'unmapGrantRef', mapperDomid: 0, handle: 0 },
      { kind: 'endAccess', domid: 1, ref: 8 },
    ]);
    expect(done.results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(done.state.xen.domains[1]?.grantTable[8]?.permitAccess).toBe(false);
  });
  test('v2: the entry is cleared and the status word says the grant is still in use', () => {
    const { results, details } = run([
      { kind: 'setGrantVersion', domid: 1, version: 2 },
      grant,
      map,
      { kind: 'endAccess', domid: 1, ref: 8 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(details[3]).toEqual({ stillInUse: true });
  });
  test('set_version with an entry beyond the reserved ones mapped: EBUSY', () => {
    const { results, details } = run([grant, map, { kind: 'setGrantVersion', domid: 1, version: 2 }]);
    expect(results).toEqual(['ok', 'ok', 'EBUSY']);
    expect(details[2]).toEqual({ version: 1 });
  });
});

describe('GNTTABOP_copy, phased', () => {
  const grant: XenPtCommand = { kind: 'grantAccess', domid: 2, ref: 1, granteeDomid: 1, gfn: 0, readonly: false };
  const copy = (phased: boolean): XenPtCommand => ({
    kind: 'grantCopy',
    callerDomid: 1,
    sourceDomid: DOMID_SELF,
    sourceGref: false,
    sourceFrame: 0,
    sourceOffset: 0,
    destDomid: 2,
    destGref: true,
    destFrame: 1,
    destOffset: 16,
    len: 64,
    ...(phased ? { phased: true } : {}),
  });

  test("a copy's accesses are Xen's, not DMA: recorded in lastGrantCopy, none in the step's accesses", () => {
    const { results, accesses, state } = run([grant, copy(false)]);
    expect(results).toEqual(['ok', 'ok']);
    expect(accesses[1]).toEqual([]);
    expect(state.xen.lastGrantCopy?.accesses).toEqual([
      { mfn: 9, write: false, owner: 1 },
      { mfn: 6, write: true, owner: 2 },
    ]);
  });

  test('started: the pin and both page references held across the window, released by the advance', () => {
    const started = run([grant, copy(true)]);
    expect(started.results).toEqual(['ok', 'ok']);
    expect(started.state.inflight).toEqual([{ kind: 'grantCopy', callerDomid: 1, incarnation: 0 }]);
    expect(started.state.xen.domains[2]?.active[1]?.hstw).toBe(1);
    expect(started.state.xen.memory.frames[6]?.refcount).toBe(2);
    // The granter cannot end access meanwhile (v1: GTF_writing set).
    expect(xenPtHvmSyncPt.step(started.state, { kind: 'endAccess', domid: 2, ref: 1 }).result.error).toBe('EBUSY');
    const done = run([{ kind: 'advance', op: 0 }], xenPtHvmSyncPt, started.state);
    expect(done.results).toEqual(['ok']);
    expect(done.state.inflight).toEqual([]);
    expect(done.state.xen.domains[2]?.active[1]?.hstw).toBe(0);
    expect(done.state.xen.memory.frames[6]?.refcount).toBe(1);
    expect(done.state.xen.lastGrantCopy?.dest.mfn).toBe(6);
  });

  test('destroying the caller while its copy is in flight waits for the copy (EBUSY, blocked), then goes on', () => {
    const started = run([grant, copy(true)]).state;
    const destroy: XenPtCommand = { kind: 'destroyDomain', domid: 1 };
    const waiting = xenPtHvmSyncPt.step(started, destroy);
    expect(waiting.result.error).toBe('EBUSY');
    expect(waiting.result.blocked?.waitsFor).toContain('GNTTABOP_copy');
    expect(waiting.state).toBe(started);
    const after = run([{ kind: 'advance', op: 0 }, destroy], xenPtHvmSyncPt, started);
    expect(after.results).toEqual(['ok', 'ok']);
  });

  test('destroying the granter while a copy through its grant is in flight: the copy keeps the frame until it ends', () => {
    const started = run([
      grant,
      copy(true),
      { kind: 'deassignDevice', domid: 2, device: 1 },
      { kind: 'destroyDomain', domid: 2 },
    ]);
    expect(started.results).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(started.state.xen.domains[2]?.life).toBe('dying');
    expect(started.state.xen.memory.frames[6]).toMatchObject({ owner: 2, refcount: 1 });
    const done = run([{ kind: 'advance', op: 0 }], xenPtHvmSyncPt, started.state);
    expect(done.state.xen.memory.frames[6]?.owner).toBeNull();
    expect(done.state.xen.domains[2]?.life).toBe('dead');
  });

  test('copy-releases-before-copy: the claims are gone as soon as the copy starts', () => {
    const design = xenPtGnttabCopyReleasesBeforeCopy;
    const { state } = run([grant, copy(true)], design);
    expect(state.xen.domains[2]?.active[1]?.hstw).toBe(0);
    const names = design.invariants
      .filter(
        (invariant) => invariant.check({ before: state, command: copy(true), result: null, after: state }) !== null,
      )
      .map((invariant) => invariant.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'grant-pins-match-mappings-and-copies',
        'frame-refcount-matches-holders',
        'grant-copy-holds-its-claims',
      ]),
    );
  });
});
