/**
 * 64K (IPS) PPGTT entries through the KVMGT stack, a test per rule of Linux v6.12 gtt.c
 * (docs/reference/gvt-kvmgt.md §4.4): a PDE's IPS bit makes the table it names a 64K table, whose
 * used entries are split into 4K shadow entries over the 64K page (frame number masked), stores to
 * its unused slots are ignored, and a split entry's removal gives back its slots' references — all
 * of them in the model's default, the used slot's alone as v6.12's write handler does.
 */
import { describe, expect, test } from 'vitest';
import { gvtHook, soundGvtHooks } from '../../models/gvt/config.js';
import { ips64kStride, pagesOf64K } from '../../models/gvt/ips64k.js';
import { stepKvmgt } from '../../models/kvmgt/step.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import { kvmgtDesign } from '../../properties/kvmgt/design.js';
import type { KvmgtDesign } from '../../properties/kvmgt/design.js';
import { gvtWriteProtect, kvmgt64kRemovalFirstPage } from '../../properties/kvmgt/designs.js';
import { kvmgtInvariants } from '../../properties/kvmgt/invariants/index.js';
import { runRecordingErrors } from '../models/gvt/world.js';

/** Root page directory at gfn 0, its entry 0 naming page table gfn 1; guest pages 4.. are surfaces. */
const ROOT = 0;
const TABLE = 1;

function pte(gfn: number, index: number, targetGfn: number, extra: Partial<KvmgtCommand> = {}): KvmgtCommand {
  return { kind: 'guestWritePte', gfn, index, present: true, targetGfn, sizeBytes: 8, ...extra } as KvmgtCommand;
}

/** The guest writes table entry 0 = `leafGfn`, then a PDE with IPS naming it, then announces the PPGTT. */
function shadow64k(leafGfn: number): KvmgtCommand[] {
  return [pte(TABLE, 0, leafGfn), pte(ROOT, 0, TABLE, { ips: true }), { kind: 'ppgttCreate', rootGfn: ROOT }];
}

/** The DMA address the cache holds for `gfn`, as a shadow entry. */
function dmaOf(state: KvmgtState, gfn: number): { kind: 'dma'; dmaAddr: number } {
  const entry = state.vgpu?.cache[gfn];
  if (entry === undefined) throw new Error(`gfn ${gfn} has no DMA cache entry`);
  return { kind: 'dma', dmaAddr: entry.dmaAddr };
}

function brokenInvariants(design: KvmgtDesign, state: KvmgtState): string[] {
  return kvmgtInvariants(design.config)
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);
}

describe('64K entries (split_64KB_gtt_entry, Linux v6.12 gtt.c)', () => {
  const layout = gvtWriteProtect.config.gvt.layout;
  const stride = ips64kStride(layout);

  test('GTT_64K_PTE_STRIDE scaled: 16 of 512 entries on hardware, 2 in the 4-entry tables of the model', () => {
    expect(ips64kStride({ entriesPerTable: 512 })).toBe(16);
    expect(stride).toBe(2);
    expect(ips64kStride({ entriesPerTable: 1 })).toBe(1);
  });

  test('a PDE with IPS: the table it names is a 64K table, its used entry split into 4K entries over the 64K page', () => {
    const { state, errors } = runRecordingErrors(gvtWriteProtect, shadow64k(4));
    expect(errors).toEqual([]);
    const spt = state.vgpu?.spts[TABLE];
    expect(spt?.ips).toBe(true);
    expect(spt?.entries.slice(0, stride)).toEqual([dmaOf(state, 4), dmaOf(state, 5)]);
    expect(spt?.entries[stride]).toEqual({ kind: 'scratch' });
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('the frame number is masked to 64K (ADDR_64K_MASK): an entry naming gfn 5 shadows pages 4 and 5', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, shadow64k(5));
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, stride)).toEqual([dmaOf(state, 4), dmaOf(state, 5)]);
    expect(pagesOf64K({ sptGfn: TABLE, index: 0, stridePages: 16, entryGfn: 37, pageGfn: 32 })).toEqual(
      Array.from({ length: 16 }, (_, page) => 32 + page),
    );
  });

  test('without IPS the same table is a 4K table: one entry, one page', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [
      pte(TABLE, 0, 5),
      pte(ROOT, 0, TABLE),
      { kind: 'ppgttCreate', rootGfn: ROOT },
    ]);
    expect(state.vgpu?.spts[TABLE]?.ips).toBeUndefined();
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, 2)).toEqual([dmaOf(state, 5), { kind: 'scratch' }]);
  });

  test('a store to an unused slot of a 64K table is ignored ("Unused PTEs update should be ignored")', () => {
    const before = runRecordingErrors(gvtWriteProtect, shadow64k(4)).state;
    const after = stepKvmgt(before, gvtWriteProtect.config, pte(TABLE, 1, 6));
    expect(after.result.ok).toBe(true);
    expect(after.state.vgpu?.spts[TABLE]?.entries).toEqual(before.vgpu?.spts[TABLE]?.entries);
    expect(after.state.vgpu?.cache[6]?.kref).toBe(before.vgpu?.cache[6]?.kref);
    expect(brokenInvariants(gvtWriteProtect, after.state)).toEqual([]);
  });

  test('the store size is checked first: a 2-byte store to an unused slot is refused (EINVAL)', () => {
    const { errors } = runRecordingErrors(gvtWriteProtect, [...shadow64k(4), pte(TABLE, 1, 6, { sizeBytes: 2 })]);
    expect(errors).toEqual(['guestWritePte: EINVAL']);
  });

  test("rewriting a split entry: the new split's slots written, every old slot's reference given back", () => {
    const { state, errors } = runRecordingErrors(gvtWriteProtect, [...shadow64k(4), pte(TABLE, 0, 6)]);
    expect(errors).toEqual([]);
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, stride)).toEqual([dmaOf(state, 6), dmaOf(state, 7)]);
    // At start a GGTT entry holds each of gfns 4-7: the split's references of 4 and 5 are given back.
    const initial = gvtWriteProtect.init().vgpu?.cache ?? {};
    expect([4, 5].map((gfn) => state.vgpu?.cache[gfn]?.kref)).toEqual([4, 5].map((gfn) => initial[gfn]?.kref));
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('clearing a split entry points all its slots at scratch', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [
      ...shadow64k(4),
      { ...pte(TABLE, 0, 0), present: false } as KvmgtCommand,
    ]);
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, stride)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test('a 4-byte store to a split entry: all its slots go to scratch now, the split is redone at the flush', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [...shadow64k(4), pte(TABLE, 0, 6, { sizeBytes: 4 })]);
    const spt = state.vgpu?.spts[TABLE];
    expect(spt?.entries.slice(0, stride)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(spt?.postShadow).toEqual([0]);
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test("v6.12's removal (ppgtt_handle_guest_entry_removal of old_se only) keeps the other slots' references", () => {
    const { state } = runRecordingErrors(kvmgt64kRemovalFirstPage, [
      ...shadow64k(4),
      { ...pte(TABLE, 0, 0), present: false } as KvmgtCommand,
    ]);
    // At start a GGTT entry holds each of gfns 4-7; the split's reference of gfn 4 is given back,
    // gfn 5's stays with nothing holding it.
    const initial = kvmgt64kRemovalFirstPage.init().vgpu?.cache ?? {};
    expect(state.vgpu?.cache[4]?.kref).toBe(initial[4]?.kref);
    expect(state.vgpu?.cache[5]?.kref).toBe((initial[5]?.kref ?? 0) + 1);
    expect(brokenInvariants(kvmgt64kRemovalFirstPage, state)).toEqual(['cache-kref-matches-shadow-users']);
  });

  test('a table shadowed as 4K and named again with IPS is refused (EINVAL; the reshadow is left out)', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [
      pte(TABLE, 0, 4),
      pte(ROOT, 0, TABLE),
      pte(ROOT, 1, TABLE, { ips: true }),
      { kind: 'ppgttCreate', rootGfn: ROOT },
    ]);
    expect(state.vgpu?.spts[ROOT]).toBeUndefined();
    expect(state.vgpu?.spts[TABLE]).toBeUndefined();
  });

  test('a GPU access through a split slot lands on the page the 64K entry covers there', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [
      ...shadow64k(4),
      { kind: 'gpuDmaPpgtt', rootGfn: ROOT, pdIndex: 0, ptIndex: 1, write: false },
    ]);
    const frame5 = state.vfio.process.pages[16 + 5]?.mfn;
    const step = stepKvmgt(state, gvtWriteProtect.config, {
      kind: 'gpuDmaPpgtt',
      rootGfn: ROOT,
      pdIndex: 0,
      ptIndex: 1,
      write: true,
    });
    expect(step.result.accesses.map((access) => [access.outcome, access.mfn])).toEqual([['landed', frame5]]);
  });

  test("a design's hooks replace the defaults one by one; a hook that is not a function is refused", () => {
    const config = kvmgt64kRemovalFirstPage.config.gvt;
    expect(gvtHook(config, 'release64K')({ sptGfn: 1, index: 0, stridePages: 16 })).toBe(1);
    expect(gvtHook(config, 'split64K')).toBe(soundGvtHooks.split64K);
    expect(() =>
      kvmgtDesign({
        id: 'x',
        expected: 'holds',
        description: 'x',
        gvtHooks: { release64K: 1 as unknown as () => number },
      }),
    ).toThrow(/gvtHooks.release64K: expected a function/);
  });
});
