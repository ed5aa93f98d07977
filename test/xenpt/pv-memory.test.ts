/**
 * PV memory in the Xen passthrough stack (models/xenpt/pv-memory.ts, docs/reference/xen-passthrough.md
 * §9): the PV domains' contexts as `pvIommuSetup` builds them, the IOMMU effect of the PV MMU
 * operations (a frame typed as a page table leaves its PV owner's table, and the hardware IOTLB's
 * entry of that dfn is flushed with it), dom0's grant maps with a device part and its per-mfn
 * IOMMU counts, partial unmaps, and the flawed hooks seen through the stack's DMA.
 *
 * The default world: dom0 (PV, hardware domain) gfns 0–1 at mfns 11, 10; dom1 (HVM) gfns 0–2 at
 * mfns 9, 8, 7 with device 0; dom2 (PV) gfns 0–1 at mfns 6, 5 with device 1; mfns 0–4 free.
 */
import { describe, expect, test } from 'vitest';
import { pvGrantIommuCountDropsPerUnmap, pvTypeChangeSkipsIommuUnmap } from '../../models/xen/pv-rules.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtState } from '../../models/xenpt/types.js';
import type { XenPtDesign } from '../../properties/xenpt/design.js';
import { xenPtHvmSharedPt } from '../../properties/xenpt/designs.js';
import { explainXenPtStep } from '../../properties/xenpt/explain.js';
import { xenPtPvDesigns } from '../../properties/xenpt/pv-designs.js';
import { formatXenPtCommand, validateXenPtCommand } from '../../properties/xenpt/schema.js';

const sound = xenPtHvmSharedPt;

function pvDesign(name: string): XenPtDesign {
  const design = xenPtPvDesigns.find((candidate) => candidate.config.xen.pvMemory?.name === name);
  if (design === undefined) throw new Error(name);
  return design;
}

function run(
  commands: readonly XenPtCommand[],
  design: XenPtDesign = sound,
): { state: XenPtState; results: string[]; details: unknown[] } {
  let state = design.init();
  const results: string[] = [];
  const details: unknown[] = [];
  for (const command of commands) {
    const step = design.step(state, command);
    if (!step.result.ok) expect(step.state).toBe(state);
    results.push(step.result.ok ? 'ok' : String(step.result.error));
    details.push(step.result.detail);
    state = step.state;
  }
  return { state, results, details };
}

function broken(design: XenPtDesign, state: XenPtState): string[] {
  return design.invariants
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);
}

const dmaWrite = (dfn: number): XenPtCommand => ({ kind: 'dma', device: 1, dfn, write: true });
const pin = (mfn: number): XenPtCommand => ({ kind: 'pvPinL1Table', domid: 2, mfn });

describe('the PV domains as built (pvIommuSetup)', () => {
  test("dom0's and dom2's frames are writable, count 0, mapped read/write at dfn = mfn; the HVM guest's are untyped", () => {
    const { xen } = sound.init();
    for (const mfn of [11, 10, 6, 5]) {
      expect(xen.pageTypes?.[mfn]).toEqual({ type: 'writable', count: 0, validated: true, pinned: false });
    }
    expect(xen.domains[2]?.iommu?.table).toEqual({
      5: { mfn: 5, read: true, write: true },
      6: { mfn: 6, read: true, write: true },
    });
    expect(xen.domains[0]?.iommu?.table[11]).toEqual({ mfn: 11, read: true, write: true });
    for (const mfn of [9, 8, 7]) expect(xen.pageTypes?.[mfn]).toBeUndefined();
    expect(broken(sound, sound.init())).toEqual([]);
  });
  test('a PV guest created again gets its context the same way', () => {
    const { state, results } = run([
      { kind: 'deassignDevice', domid: 2, device: 1 },
      { kind: 'destroyDomain', domid: 2 },
      { kind: 'createDomain', domid: 2 },
    ]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    const table = state.xen.domains[2]?.iommu?.table ?? {};
    expect(Object.keys(table).length).toBe(2);
    for (const dfn of Object.keys(table)) expect(state.xen.pageTypes?.[dfn]?.type).toBe('writable');
    expect(broken(sound, state)).toEqual([]);
  });
});

describe('the PV MMU operations in the stack', () => {
  test('pinning a frame as an L1 table removes it from its owner’s IOMMU table and flushes the IOTLB entry', () => {
    const { state, results, details } = run([dmaWrite(6), pin(6), dmaWrite(6)]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    expect(details[0]).toEqual({ mfn: 6, via: 'walk' });
    expect(state.xen.pageTypes?.[6]).toEqual({ type: 'l1', count: 1, validated: true, pinned: true });
    expect(state.xen.domains[2]?.iommu?.table[6]).toBeUndefined();
    expect(state.iotlb['dom2/6']).toBeUndefined();
    expect(details[2]).toEqual({ fault: 'not-present' });
    expect(broken(sound, state)).toEqual([]);
    const lines = explainXenPtStep({ before: state, command: pin(6), result: { ok: true }, after: state });
    expect(lines).toContain('page types: mfn 6 l1 count 1 pinned');
  });
  test('unpinning gives the frame back to the IOMMU only when it is typed writable again (a write access)', () => {
    const { state, results } = run([pin(6), { kind: 'pvUnpinTable', domid: 2, mfn: 6 }, dmaWrite(6)]);
    expect(results).toEqual(['ok', 'ok', 'ok']);
    // The type stays l1 (count 0): not in the IOMMU until a writable reference retypes it.
    expect(state.xen.pageTypes?.[6]?.type).toBe('l1');
    expect(state.xen.domains[2]?.iommu?.table[6]).toBeUndefined();
    const retyped = sound.step(state, { kind: 'pvMmuUpdate', domid: 2, tableMfn: 6, slot: 0, mfn: null, rw: false });
    expect(retyped.result.ok).toBe(true);
    expect(retyped.state.xen.domains[2]?.iommu?.table[6]).toEqual({ mfn: 6, read: true, write: true });
    expect(broken(sound, retyped.state)).toEqual([]);
  });
  test('an RW entry of a page table: refused by validation (pin) and by mod_l1_entry (EBUSY); HVM: ENOSYS', () => {
    const { state, results } = run([
      pin(6),
      // Frame 5 is no table yet: a plain write of its contents.
      { kind: 'pvMmuUpdate', domid: 2, tableMfn: 5, slot: 0, mfn: 6, rw: true },
      pin(5),
      { kind: 'pvMmuUpdate', domid: 2, tableMfn: 5, slot: 0, mfn: null, rw: false },
      pin(5),
      { kind: 'pvMmuUpdate', domid: 2, tableMfn: 5, slot: 1, mfn: 6, rw: true },
      { kind: 'pvMmuUpdate', domid: 1, tableMfn: 9, slot: 0, mfn: null, rw: false },
    ]);
    expect(results).toEqual(['ok', 'ok', 'EBUSY', 'ok', 'ok', 'EBUSY', 'ENOSYS']);
    expect(state.xen.domains[2]?.iommu?.table).toEqual({});
    expect(broken(sound, state)).toEqual([]);
  });
  test('with the type change skipping the IOMMU unmap, the device writes into the L1 table', () => {
    const design = pvDesign(pvTypeChangeSkipsIommuUnmap.name);
    const { state, details } = run([pin(6), dmaWrite(6)], design);
    expect(details[1]).toEqual({ mfn: 6, via: 'walk' });
    expect(broken(design, state)).toEqual(['no-writable-page-table', 'pv-iommu-matches-types-and-grants']);
  });
});

describe("dom0's grant maps (a PV mapper with an IOMMU context)", () => {
  const grant: XenPtCommand = { kind: 'grantAccess', domid: 1, ref: 0, granteeDomid: 0, gfn: 0, readonly: false };
  const map: XenPtCommand = {
    kind: 'mapGrantRef',
    mapperDomid: 0,
    granterDomid: 1,
    ref: 0,
    gfn: 3,
    readonly: false,
    device: true,
  };
  test('a host and device map of the HVM guest’s page: dom0’s IOMMU maps dfn = mfn, counted once; a device type reference', () => {
    const { state, results, details } = run([grant, map]);
    expect(results).toEqual(['ok', 'ok']);
    expect(details[1]).toEqual({ status: 0, handle: 0, devBusAddr: 9 });
    expect(state.xen.domains[0]?.iommu?.table[9]).toEqual({ mfn: 9, read: true, write: true });
    expect(state.xen.domains[0]?.grantIommuCounts).toEqual({ 9: { read: 0, write: 1 } });
    expect(state.xen.pageTypes?.[9]).toEqual({ type: 'writable', count: 1, validated: true, pinned: false });
    expect(state.xen.memory.frames[9]?.refcount).toBe(3);
    expect(broken(sound, state)).toEqual([]);
  });
  test('unmapped one part at a time: the count and the IOMMU entry go with the handle (XSA-394)', () => {
    const hostOnly: XenPtCommand = { kind: 'unmapGrantRef', mapperDomid: 0, handle: 0, device: false };
    const deviceOnly: XenPtCommand = { kind: 'unmapGrantRef', mapperDomid: 0, handle: 0, host: false };
    const half = run([grant, map, hostOnly]);
    expect(half.results).toEqual(['ok', 'ok', 'ok']);
    expect(half.state.xen.domains[0]?.maptrack[0]).toMatchObject({ host: false, device: true });
    expect(half.state.xen.domains[0]?.iommu?.table[9]).toEqual({ mfn: 9, read: true, write: true });
    expect(broken(sound, half.state)).toEqual([]);
    const whole = run([grant, map, hostOnly, deviceOnly]);
    expect(whole.state.xen.domains[0]?.maptrack[0]).toBeNull();
    expect(whole.state.xen.domains[0]?.iommu?.table[9]).toBeUndefined();
    expect(whole.state.xen.domains[0]?.grantIommuCounts).toBeUndefined();
    expect(whole.state.xen.pageTypes?.[9]).toBeUndefined();
    expect(broken(sound, whole.state)).toEqual([]);
    // Dropped on the first, partial unmap: dom0 still holds the device mapping its IOMMU lost.
    const flawed = pvDesign(pvGrantIommuCountDropsPerUnmap.name);
    const early = run([grant, map, hostOnly], flawed);
    expect(early.state.xen.domains[0]?.iommu?.table[9]).toBeUndefined();
    expect(broken(flawed, early.state)).toEqual([
      'grant-iommu-counts-match-mappings',
      'pv-iommu-matches-types-and-grants',
    ]);
  });
  test('a translated mapper asking for a device mapping: GNTST_general_error', () => {
    const { results } = run([
      { kind: 'grantAccess', domid: 2, ref: 0, granteeDomid: 1, gfn: 0, readonly: false },
      { kind: 'mapGrantRef', mapperDomid: 1, granterDomid: 2, ref: 0, gfn: 3, readonly: false, device: true },
    ]);
    expect(results).toEqual(['ok', 'GNTST_general_error']);
  });
  test('the commands read from files: optional booleans; the lines of host-only commands as before', () => {
    expect(validateXenPtCommand(map)).toBeNull();
    expect(validateXenPtCommand({ ...map, device: 1 })).not.toBeNull();
    expect(validateXenPtCommand({ kind: 'unmapGrantRef', mapperDomid: 0, handle: 0, host: false })).toBeNull();
    expect(validateXenPtCommand({ kind: 'pvPinL1Table', domid: 2, mfn: 6 })).toBeNull();
    expect(formatXenPtCommand({ ...map, device: false })).toBe('dom0: GNTTABOP_map_grant_ref dom1 ref 0 at gfn 3');
    expect(formatXenPtCommand(map)).toBe('dom0: GNTTABOP_map_grant_ref dom1 ref 0 at gfn 3 and for device');
    expect(formatXenPtCommand({ kind: 'unmapGrantRef', mapperDomid: 0, handle: 1 })).toBe(
      'dom0: GNTTABOP_unmap_grant_ref handle 1',
    );
    expect(formatXenPtCommand(pin(6))).toBe('dom2: MMUEXT_PIN_L1_TABLE mfn 6');
  });
});
