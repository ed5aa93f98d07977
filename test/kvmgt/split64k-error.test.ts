/**
 * A 64K split failing part-way (Linux v6.12 gtt.c `split_64KB_gtt_entry`: `return ret` with the
 * slots written so far; docs/reference/gvt-kvmgt.md §4.4a), on the KVMGT stack: the split's errno,
 * what is given back under the model's default and under v6.12's `failedSplit64KReleases: () => 0`
 * on each path (a new table's population, a trapped store rewriting a split entry), and what is
 * left unchanged.
 */
import { describe, expect, test } from 'vitest';
import { soundGvtHooks } from '../../models/gvt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../models/kvmgt/types.js';
import type { KvmgtDesign } from '../../properties/kvmgt/design.js';
import { gvtWriteProtect, kvmgt64kSplitErrorKeepsSlots } from '../../properties/kvmgt/designs.js';
import { kvmgtInvariants } from '../../properties/kvmgt/invariants/index.js';
import { SPLIT_64K_FAILED } from '../../properties/gvt/reach.js';
import { classifyKvmgtStep } from '../../properties/kvmgt/reach.js';
import { resolveKvmgt, type KvmgtTemplate } from '../../properties/kvmgt/generators.js';
import { PREFERRED_PICK } from '../../properties/prefer.js';
import { runRecordingErrors } from '../models/gvt/world.js';

/** Root page directory at gfn 2, its entry 0 naming page table gfn 3 (IPS); the guest's other pages are data. */
const ROOT = 2;
const TABLE = 3;
const create: KvmgtCommand = { kind: 'ppgttCreate', rootGfn: ROOT };

function pte(gfn: number, index: number, targetGfn: number, extra: Partial<KvmgtCommand> = {}): KvmgtCommand {
  return { kind: 'guestWritePte', gfn, index, present: true, targetGfn, sizeBytes: 8, ...extra } as KvmgtCommand;
}

/** The table's entry 0 names the 64K page at `leafGfn`, the directory names the table with IPS. */
function prepare(leafGfn: number): KvmgtCommand[] {
  return [pte(TABLE, 0, leafGfn), pte(ROOT, 0, TABLE, { ips: true })];
}

/** The second pin of the next commands fails (ENOMEM, `vfio_pin_pages`). */
const secondPinFails: KvmgtCommand = { kind: 'injectFault', point: 'pin', nth: 2 };

function brokenInvariants(design: KvmgtDesign, state: KvmgtState): string[] {
  return kvmgtInvariants(design.config)
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);
}

/** The DMA cache's references of `gfns` (undefined: no entry). */
function krefs(state: KvmgtState, gfns: readonly number[]): (number | undefined)[] {
  return gfns.map((gfn) => state.vgpu?.cache[gfn]?.kref);
}

describe('a 64K split failing part-way (split_64KB_gtt_entry, Linux v6.12 gtt.c)', () => {
  test("the hook's default gives back every map; it is told the entry, the pages mapped and the errno", () => {
    const failure = { sptGfn: TABLE, index: 0, stridePages: 2, entryGfn: 0, pageGfn: 0, mapped: 1, errno: 'ENOMEM' };
    expect(soundGvtHooks.failedSplit64KReleases(failure)).toBe(1);
    expect(kvmgt64kSplitErrorKeepsSlots.config.gvt.hooks?.failedSplit64KReleases?.(failure)).toBe(0);
  });

  test("a new table's population: the map's errno (not the 4K path's ENXIO), and the PPGTT refused with nothing kept, under either hook", () => {
    // Gfns 0 and 1 are cached by nothing: the split pins gfn 0, then gfn 1's pin fails.
    const commands = [...prepare(0), secondPinFails];
    for (const design of [gvtWriteProtect, kvmgt64kSplitErrorKeepsSlots]) {
      const before = runRecordingErrors(design, commands).state;
      const step = design.step(before, create);
      expect(step.result.ok ? 'ok' : step.result.error).toBe('ENOMEM');
      // The unwind walks the table (the model's `unwind.populate` default): the slot left written
      // under v6.12's hook gives back its map with it.
      expect(step.state.vgpu?.spts).toEqual({});
      expect(step.state.vgpu?.cache).toEqual(before.vgpu?.cache);
      expect(brokenInvariants(design, step.state)).toEqual([]);
    }
  });

  // Shadowed over gfns 4 and 5 (a GGTT entry maps each from the start), then rewritten to name gfns
  // 0 and 1: gfn 0 is pinned, gfn 1's pin fails.
  const rewrite = [...prepare(4), create, secondPinFails, pte(TABLE, 0, 0)];

  test('a trapped rewrite, the default: the handler fails with the map errno, the slots go to scratch and every reference is given back', () => {
    const { state, errors } = runRecordingErrors(gvtWriteProtect, rewrite);
    expect(errors).toEqual(['guestWritePte handler: ENOMEM']);
    expect(state.vgpu?.spts[TABLE]?.entries.slice(0, 2)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    const initial = gvtWriteProtect.init();
    expect(krefs(state, [0, 1, 4, 5])).toEqual([undefined, undefined, ...krefs(initial, [4, 5])]);
    expect(brokenInvariants(gvtWriteProtect, state)).toEqual([]);
  });

  test("a trapped rewrite, v6.12's hook: the slot written holds gfn 0 over the old split's, whose gfn 4 reference is never given back", () => {
    const { state, errors } = runRecordingErrors(kvmgt64kSplitErrorKeepsSlots, rewrite);
    expect(errors).toEqual(['guestWritePte handler: ENOMEM']);
    const entries = state.vgpu?.spts[TABLE]?.entries;
    expect(entries?.[0]).toEqual({ kind: 'dma', dmaAddr: state.vgpu?.cache[0]?.dmaAddr });
    expect(entries?.[1]).toEqual({ kind: 'scratch' });
    const initial = kvmgt64kSplitErrorKeepsSlots.init();
    // Gfn 0: the slot's reference. Gfn 5: its slot was not written, given back. Gfn 4: one more
    // than its GGTT entry's, with no shadow entry holding it.
    expect(krefs(state, [0, 1, 5])).toEqual([1, undefined, krefs(initial, [5])[0]]);
    expect(krefs(state, [4])).toEqual([(krefs(initial, [4])[0] ?? 0) + 1]);
    expect(brokenInvariants(kvmgt64kSplitErrorKeepsSlots, state)).toEqual(['cache-kref-matches-shadow-users']);
  });

  test('the slot left written is a split slot like any other: clearing the entry gives it back', () => {
    const { state } = runRecordingErrors(kvmgt64kSplitErrorKeepsSlots, [
      ...prepare(4),
      create,
      secondPinFails,
      // Over scratch (the table's entry was not present when shadowed): nothing is overwritten.
      pte(TABLE, 2, 0),
      { kind: 'clearFault' },
      { ...pte(TABLE, 2, 0), present: false } as KvmgtCommand,
    ]);
    expect(state.vgpu?.spts[TABLE]?.entries.slice(2)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(state.vgpu?.cache[0]).toBeUndefined();
    expect(brokenInvariants(kvmgt64kSplitErrorKeepsSlots, state)).toEqual([]);
  });

  test('generation: a preferred pick of the table is the rewrite whole (a present qword store with IPS at the split slot, naming a page the fault strikes part-way); another pick keeps what it drew', () => {
    const { state } = runRecordingErrors(gvtWriteProtect, [...prepare(4), create, secondPinFails]);
    const drawn = {
      kind: 'guestWritePte',
      gfn: { pick: PREFERRED_PICK },
      index: { pick: 1 },
      present: false,
      targetGfn: { pick: 1 },
      sizeBytes: 4,
      pse: true,
    } as KvmgtTemplate;
    // Gfns 0-1 and 2-3 are 64K pages the second pin strikes past their first page.
    expect(resolveKvmgt(gvtWriteProtect.world, state, drawn)).toEqual({
      kind: 'guestWritePte',
      gfn: TABLE,
      index: 0,
      present: true,
      targetGfn: 2,
      sizeBytes: 8,
      ips: true,
    });
    const other = resolveKvmgt(gvtWriteProtect.world, state, { ...drawn, gfn: TABLE } as KvmgtTemplate);
    expect(other).toMatchObject({ gfn: TABLE, present: false, sizeBytes: 4, pse: true });
  });

  test('the reach label counts the step whose split failed part-way, not one that failed at its first page', () => {
    const labels = (commands: readonly KvmgtCommand[]): string[] => {
      const before = runRecordingErrors(gvtWriteProtect, commands.slice(0, -1)).state;
      const command = commands.at(-1) as KvmgtCommand;
      const step = gvtWriteProtect.step(before, command);
      return classifyKvmgtStep({ before, command, result: step.result, after: step.state }, gvtWriteProtect.config);
    };
    expect(labels(rewrite)).toContain(SPLIT_64K_FAILED);
    expect(labels([...prepare(0), secondPinFails, create])).toContain(SPLIT_64K_FAILED);
    const firstPinFails: KvmgtCommand = { kind: 'injectFault', point: 'pin', nth: 1 };
    expect(labels([...prepare(0), firstPinFails, create])).not.toContain(SPLIT_64K_FAILED);
  });
});
