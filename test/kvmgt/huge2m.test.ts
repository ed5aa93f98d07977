/**
 * 2M PPGTT entries through the KVMGT stack, a test per rule of Linux v6.12 (docs/reference/gvt-kvmgt.md
 * §4.4b): a PDE with the PS bit maps a 2M page (frame number masked to 2M), shadowed whole by one
 * 2M DMA mapping when `gvt_pin_guest_page` finds its pages contiguous (a host huge page behind
 * them), else split into a table of 4K entries (`split_2MB_gtt_entry`); the DMA cache entry carries
 * its size, and the last reference unmaps and unpins all of it.
 */
import { describe, expect, test } from 'vitest';
import { soundGvtHooks } from '../../models/gvt/config.js';
import { lookupBySize, page2mBase, pages2M, pinnedContiguous } from '../../models/gvt/huge2m.js';
import { kvmgtWorld } from '../../models/kvmgt/config.js';
import { VGPU_DEVICE } from '../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import type { KvmgtDesign } from '../../properties/kvmgt/design.js';
import {
  gvtWriteProtect,
  kvmgt2mLookupIgnoresSize,
  kvmgt2mPinSkipsContiguity,
  kvmgt2mReleaseUnpins4k,
  kvmgt2mSizeChangeRemaps,
  kvmgt2mSplitErrorLeaks,
  kvmgtShippedFreeSkips2m,
} from '../../properties/kvmgt/designs.js';
import { kvmgtInvariants } from '../../properties/kvmgt/invariants/index.js';
import { pde2m } from '../models/gvt/pde2m.js';
import { runRecordingErrors } from '../models/gvt/world.js';

const ROOT = 0;

const create: KvmgtCommand = { kind: 'ppgttCreate', rootGfn: ROOT };

function brokenInvariants(design: KvmgtDesign, state: KvmgtState): string[] {
  return kvmgtInvariants(design.config)
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);
}

function pins(state: KvmgtState): Record<string, number> {
  return Object.fromEntries(Object.entries(state.vfio.devices[VGPU_DEVICE]?.pins ?? {}).filter(([, n]) => n > 0));
}

const layout = gvtWriteProtect.config.gvt.layout;
const span = pages2M(layout);

describe('2M entries (ppgtt_populate_shadow_entry, split_2MB_gtt_entry, Linux v6.12)', () => {
  test('a 2M page spans one page table of pages (512 of 512; 4 here), its frame number masked (ADDR_2M_MASK)', () => {
    expect(span).toBe(layout.entriesPerTable);
    expect(page2mBase(6, layout)).toBe(4);
    expect(page2mBase(4, layout)).toBe(4);
  });

  test('the default world backs the first aligned range of RAM with a host huge page', () => {
    expect(gvtWriteProtect.config.world.hugePages).toEqual([0]);
    const state = gvtWriteProtect.init();
    const low = [0, 1, 2, 3].map((gfn) => state.vfio.process.pages[16 + gfn]?.mfn);
    expect(pinnedContiguous({ gfn: 0, pages: 4, mfns: low as number[] })).toBe(true);
    const high = [4, 5, 6, 7].map((gfn) => state.vfio.process.pages[16 + gfn]?.mfn);
    expect(pinnedContiguous({ gfn: 4, pages: 4, mfns: high as number[] })).toBe(false);
    expect(() => kvmgtWorld({ hugePages: [2] })).toThrow(/aligned/);
  });

  test('over a huge page, the 2M entry is shadowed whole: one 2M cache entry, its pages pinned once each', () => {
    const { state, errors } = runRecordingErrors(gvtWriteProtect, [pde2m(2), create]);
    expect(errors).toEqual([]);
    const pde = state.vgpu?.spts[ROOT]?.entries[0];
    expect(pde).toMatchObject({ kind: 'dma', pages: span });
    expect(state.vgpu?.cache[0]).toMatchObject({ gfn: 0, pages: span, kref: 1 });
    expect(pins(state)).toMatchObject({ 0: 1, 1: 1, 2: 1, 3: 1 });
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('pages that are not contiguous fail the 2M pin (EINVAL, all unpinned) and the entry is split into 4K entries', () => {
    // The pages of gfns 4-7 are 4K pages (and GGTT entries map them 4K: a second reference each).
    const { state, errors } = runRecordingErrors(gvtWriteProtect, [pde2m(5), create]);
    expect(errors).toEqual([]);
    const pde = state.vgpu?.spts[ROOT]?.entries[0];
    expect(pde?.kind).toBe('split2m');
    for (let gfn = 4; gfn < 4 + span; gfn++) expect(state.vgpu?.cache[gfn]).toMatchObject({ kref: 2 });
    expect(state.vgpu?.cache[4]?.pages).toBeUndefined();
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test("clearing a whole 2M entry gives back its reference: all of the entry's pages unpinned and unmapped", () => {
    const before = runRecordingErrors(gvtWriteProtect, [create]).state;
    const { state, errors } = runRecordingErrors(gvtWriteProtect, [create, pde2m(2), pde2m(2, { present: false })]);
    expect(errors).toEqual([]);
    expect(state.vgpu?.cache[0]).toBeUndefined();
    expect(pins(state)).toEqual(pins(before));
    expect([...state.hostDma.free].sort()).toEqual([...before.hostDma.free].sort());
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('a size mismatch: the model refuses (the 2M request splits over the 4K entry); v6.12 unmaps and re-maps', () => {
    const lookup = { gfn: 4, pages: span, cachedPages: 1, kref: 1 };
    expect(lookupBySize(lookup)).toBe('refuse');
    expect(soundGvtHooks.cacheLookup(lookup)).toBe('refuse');
    // A PTE maps gfn 0 4K first (root 1's table 2): the 2M entry over gfns 0-3 is then split.
    const table: KvmgtCommand = { kind: 'guestWritePte', gfn: 2, index: 0, present: true, targetGfn: 0, sizeBytes: 8 };
    const root1: KvmgtCommand = { kind: 'guestWritePte', gfn: 1, index: 0, present: true, targetGfn: 2, sizeBytes: 8 };
    const { state, errors } = runRecordingErrors(gvtWriteProtect, [
      table,
      root1,
      { kind: 'ppgttCreate', rootGfn: 1 },
      pde2m(0),
      create,
    ]);
    expect(errors).toEqual([]);
    expect(state.vgpu?.spts[ROOT]?.entries[0]?.kind).toBe('split2m');
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('gvt_pin_guest_page: each frame the first one plus its index', () => {
    expect(pinnedContiguous({ gfn: 4, pages: 4, mfns: [8, 9, 10, 11] })).toBe(true);
    expect(pinnedContiguous({ gfn: 4, pages: 4, mfns: [11, 10, 9, 8] })).toBe(false);
    expect(pinnedContiguous({ gfn: 4, pages: 4, mfns: [8, 9, 11, 12] })).toBe(false);
  });

  test('a 4K map of a page cached as 2M is refused (EBUSY): the table naming it is not shadowed (its PDE scratch)', () => {
    const commands: KvmgtCommand[] = [
      pde2m(0),
      create,
      { kind: 'guestWritePte', gfn: 2, index: 0, present: true, targetGfn: 0, sizeBytes: 8 },
      { kind: 'guestWritePte', gfn: ROOT, index: 1, present: true, targetGfn: 2, sizeBytes: 8 },
    ];
    const { state } = runRecordingErrors(gvtWriteProtect, commands);
    // ppgtt_populate_spt fails with the entry's -ENXIO, and the new table goes with it.
    expect(state.vgpu?.spts[2]).toBeUndefined();
    expect(state.vgpu?.spts[ROOT]?.entries[1]).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.cache[0]).toMatchObject({ pages: span, kref: 1 });
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });
});

describe('2M designs through the hooks, each caught by the generic invariants', () => {
  test("v6.12's re-map on a size change drops the 4K entry a GGTT entry holds (kvmgt/2m-size-change-remaps)", () => {
    // GGTT entry 2 maps gfn 4 at 4K from the start: the 2M map of gfns 4-7 unmaps that entry
    // whatever its reference, then fails its pin (4K pages) and splits; the split's 4K map of gfn 4
    // takes the address back from the pool, with one reference for two shadow entries.
    const { state } = runRecordingErrors(kvmgt2mSizeChangeRemaps, [pde2m(4), create]);
    expect(state.vgpu?.spts[ROOT]?.entries[0]?.kind).toBe('split2m');
    expect(state.vgpu?.cache[4]).toMatchObject({ kref: 1 });
    expect(state.vgpu?.ggttHost[2]).toEqual({ kind: 'dma', dmaAddr: state.vgpu?.cache[4]?.dmaAddr });
    expect(brokenInvariants(kvmgt2mSizeChangeRemaps, state)).toContain('cache-kref-matches-shadow-users');
    expect(brokenInvariants(gvtWriteProtect, runRecordingErrors(gvtWriteProtect, [pde2m(4), create]).state)).toEqual(
      [],
    );
  });

  test('a lookup ignoring the size gives the 2M PDE a 4K entry (kvmgt/2m-lookup-ignores-size)', () => {
    const { state } = runRecordingErrors(kvmgt2mLookupIgnoresSize, [pde2m(4), create]);
    expect(state.vgpu?.spts[ROOT]?.entries[0]).toMatchObject({ kind: 'dma', pages: span });
    expect(state.vgpu?.cache[4]?.pages).toBeUndefined();
    expect(brokenInvariants(kvmgt2mLookupIgnoresSize, state)).toContain('shadow-matches-guest-entry');
  });

  test('a 2M pin without the contiguity check maps frames the pins do not hold (kvmgt/2m-pin-skips-contiguity)', () => {
    // Twelve pages of RAM: gfns 4-7 are 4K pages no GGTT entry maps at start.
    const { state, errors } = runRecordingErrors(kvmgt2mPinSkipsContiguity, [pde2m(4), create]);
    expect(errors).toEqual([]);
    expect(state.vgpu?.cache[4]).toMatchObject({ pages: span });
    expect(brokenInvariants(kvmgt2mPinSkipsContiguity, state)).toContain('cache-entry-pinned-and-mapped');
    // The same in the sound design's world: the pin fails (EINVAL) and the entry is split.
    const sound = runRecordingErrors(gvtWriteProtect, [
      { kind: 'ggttWrite', index: 2, gfn: 0, present: false, sizeBytes: 8, offsetBytes: 0 } as KvmgtCommand,
      pde2m(4),
      create,
    ]).state;
    expect(sound.vgpu?.spts[ROOT]?.entries[0]?.kind).toBe('split2m');
    expect(brokenInvariants(gvtWriteProtect, sound)).toEqual([]);
  });

  test('a 2M entry released as 4K leaves its other pages pinned (kvmgt/2m-release-unpins-4k)', () => {
    expect(soundGvtHooks.unpin2M({ gfn: 0, pages: span })).toBe(span);
    const { state } = runRecordingErrors(kvmgt2mReleaseUnpins4k, [create, pde2m(2), pde2m(2, { present: false })]);
    expect(state.vgpu?.cache[0]).toBeUndefined();
    expect(pins(state)).toMatchObject({ 1: 1, 2: 1, 3: 1 });
    expect(brokenInvariants(kvmgt2mReleaseUnpins4k, state)).toContain('vgpu-pins-held');
  });

  test("a split failing part-way fails with the map's errno and gives back what it took; the code before 4a61648af68f keeps it (kvmgt/2m-split-error-leaks)", () => {
    // The pin of the split's second page (gfn 5, no GGTT entry maps it once entry 3 is half
    // cleared) fails by an injected fault; the first page's map took a second reference of gfn 4's
    // entry (GGTT entry 2 holds the first).
    const commands: KvmgtCommand[] = [
      { kind: 'injectFault', point: 'pin', nth: 1 },
      { kind: 'ggttWrite', index: 3, gfn: 0, present: false, sizeBytes: 4, offsetBytes: 0 },
      pde2m(4, { sizeBytes: 4 }),
      create,
    ];
    const results = (design: KvmgtDesign): { state: KvmgtState; last: string } => {
      const before = runRecordingErrors(design, commands.slice(0, -1)).state;
      const step = design.step(before, create);
      return { state: step.state, last: step.result.ok ? 'ok' : String(step.result.error) };
    };
    const sound = results(gvtWriteProtect);
    expect(sound.last).toBe('ENOMEM');
    expect(sound.state.vgpu?.spts).toEqual({});
    expect(sound.state.vgpu?.cache[4]).toMatchObject({ kref: 1 });
    expect(sound.state.vgpu?.cache[5]).toBeUndefined();
    expect(brokenInvariants(gvtWriteProtect, sound.state)).toEqual([]);
    const leaking = results(kvmgt2mSplitErrorLeaks);
    expect(leaking.last).toBe('ENOMEM');
    expect(leaking.state.vgpu?.cache[4]).toMatchObject({ kref: 2 });
    expect(brokenInvariants(kvmgt2mSplitErrorLeaks, leaking.state)).toEqual(['cache-kref-matches-shadow-users']);
  });

  test('a destroyed PPGTT gives back its 2M entry; v6.12 passes over it (kvmgt/shipped-free-skips-2m)', () => {
    const destroy: KvmgtCommand = { kind: 'ppgttDestroy', rootGfn: ROOT };
    // Sound: the freed directory's 2M entry gives back its DMA cache reference, unmapped and unpinned.
    const sound = runRecordingErrors(gvtWriteProtect, [create, pde2m(2), destroy]);
    expect(sound.errors).toEqual([]);
    expect(sound.state.vgpu?.cache[0]).toBeUndefined();
    // Pages 4-7 stay pinned by the GGTT entries the world starts with.
    expect(Object.keys(pins(sound.state))).toEqual(['4', '5', '6', '7']);
    expect(brokenInvariants(gvtWriteProtect, sound.state)).toEqual([]);
    // v6.12's ppgtt_invalidate_spt: `case GTT_TYPE_PPGTT_PTE_2M_ENTRY: continue` — the cache entry
    // keeps its reference and the four pages their pins, with no shadow entry left to hold them.
    const shipped = runRecordingErrors(kvmgtShippedFreeSkips2m, [create, pde2m(2), destroy]);
    expect(shipped.errors).toEqual([]);
    expect(shipped.state.vgpu?.cache[0]).toMatchObject({ kref: 1 });
    expect(pins(shipped.state)).toMatchObject({ 0: 1, 1: 1, 2: 1, 3: 1 });
    expect(brokenInvariants(kvmgtShippedFreeSkips2m, shipped.state)).toEqual(['cache-kref-matches-shadow-users']);
  });
});
