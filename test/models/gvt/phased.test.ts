/**
 * The mediator's phased operations on KVMGT (docs/reference/gvt-kvmgt.md §4.8a): a GGTT write's
 * translation and its shadow write, a trapped store's notifier, a batch's two reads, and what the
 * VMM's unmap, another vCPU and the scheduler may do in between.
 */
import { describe, expect, test } from 'vitest';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import {
  cmdbufScanThenCopy,
  cmdbufShadowCopy,
  gvtWriteProtect,
  kvmgtUnmapCallback,
  kvmgtUnmapUnderCacheLock,
  kvmgtUnmapUnlocked,
} from '../../../properties/kvmgt/designs.js';
import { kvmgtInterleavingMutants } from '../../../properties/kvmgt/mutants.js';
import type { KvmgtDesign } from '../../../properties/kvmgt/design.js';
import { ggtt, pte, run, step } from './world.js';

const advance = (op = 0): KvmgtCommand => ({ kind: 'advance', op });
const started = <C extends KvmgtCommand>(command: C): C => ({ ...command, phased: true });
/** The VMM unmaps guest RAM section gfn 0-1 (gfn 0 is not in the DMA cache at start). */
const unmapLow: KvmgtCommand = { kind: 'vmmUnmapRam', gfn: 0, npages: 2 };

function mutant(id: string): KvmgtDesign {
  const found = kvmgtInterleavingMutants.find((design) => design.id === `mutant/kvmgt/${id}`);
  if (found === undefined) throw new Error(id);
  return found;
}

describe('a GGTT write in phases', () => {
  test('started and advanced, it ends where the atomic write does', () => {
    const atomic = run([ggtt(2, 0)]);
    const phased = run([started(ggtt(2, 0)), advance()]);
    expect(phased).toEqual(atomic);
  });

  test('in flight it holds a DMA reference and the vGPU lock; the guest and host entries are not written yet', () => {
    const before = run([]);
    const state = run([started(ggtt(2, 0))]);
    expect(state.inflight).toMatchObject([{ kind: 'ggttWrite', index: 2, phase: 'shadow' }]);
    expect(state.vgpu?.cache[0]?.kref).toBe(1);
    expect(state.vgpu?.ggttGuest[2]).toEqual(before.vgpu?.ggttGuest[2]);
    expect(state.vgpu?.ggttHost[2]).toEqual(before.vgpu?.ggttHost[2]);
    const other = step(state, ggtt(3, 0));
    expect(other.result).toMatchObject({ ok: false, error: 'EBUSY' });
    expect(other.state).toBe(state);
  });

  test('a write that translates nothing completes at once', () => {
    const state = run([started(ggtt(2, 0, false)), started(ggtt(3, 0, true, 4))]);
    expect(state.inflight).toEqual([]);
  });

  test("an op under the vGPU lock waits: the VMM's UNMAP_DMA is refused until the write is done", () => {
    const state = run([started(ggtt(2, 0))], kvmgtUnmapCallback);
    const unmap = step(state, unmapLow, kvmgtUnmapCallback);
    expect(unmap.result).toMatchObject({ ok: false, error: 'EBUSY' });
    expect(unmap.state).toBe(state);
    const done = run([started(ggtt(2, 0)), advance(), unmapLow], kvmgtUnmapCallback);
    expect(done.vgpu?.ggttHost[2]).toEqual({ kind: 'scratch' });
    expect(done.vgpu?.cache[0]).toBeUndefined();
  });

  test('an op under cache_lock only runs in the window: the write lands a dangling address', () => {
    const state = run([started(ggtt(2, 0)), unmapLow, advance()], kvmgtUnmapUnderCacheLock);
    expect(state.vgpu?.cache[0]).toBeUndefined();
    expect(state.vgpu?.ggttHost[2]).toMatchObject({ kind: 'dma' });
  });

  test('an op under no lock runs between the pin and the insert: no entry to drop, and UNMAP_DMA ends in BUG_ON', () => {
    const state = run([started(ggtt(2, 0))], kvmgtUnmapUnlocked);
    expect(state.inflight).toMatchObject([{ kind: 'ggttWrite', phase: 'insert' }]);
    expect(state.vgpu?.cache[0]).toBeUndefined();
    const unmap = step(state, unmapLow, kvmgtUnmapUnlocked);
    expect(unmap.result).toMatchObject({ ok: false, error: 'BUG_ON' });
  });
});

describe('trapped stores from two vCPUs', () => {
  /** Page 0 is a page directory the mediator shadows; its entry 0 is not present. */
  const shadowed: KvmgtCommand[] = [{ kind: 'ppgttCreate', rootGfn: 0 }];

  test('the store lands at once and its notifier waits; the handler re-reads the entry another vCPU stored since', () => {
    const state = run([...shadowed, started(pte(0, 0, 1)), pte(0, 0, 2), advance(), advance()]);
    expect(state.guestPages[0]?.[0]).toMatchObject({ gfn: 2 });
    expect(state.vgpu?.spts[0]?.entries[0]).toEqual({ kind: 'table', gfn: 2 });
    expect(state.vgpu?.spts[1]).toBeUndefined();
  });

  test('a handler that shadows the value it was handed keeps the older store', () => {
    const design = mutant('handler-shadows-trapped-value');
    const state = run([...shadowed, started(pte(0, 0, 1)), pte(0, 0, 2), advance(), advance()], design);
    expect(state.vgpu?.spts[0]?.entries[0]).toEqual({ kind: 'table', gfn: 1 });
  });

  test('every vCPU busy: a guest command is refused, and an advance with nothing in flight is ENOENT', () => {
    const state = run([...shadowed, started(pte(0, 0, 1)), started(pte(0, 1, 2))]);
    expect(step(state, pte(0, 2, 3)).result).toMatchObject({ ok: false, error: 'EBUSY' });
    const idle = run([]);
    const nothing = step(idle, advance());
    expect(nothing.result).toMatchObject({ ok: false, error: 'ENOENT' });
    expect(nothing.state).toBe(idle);
  });

  test('the PPGTT being shadowed holds the vGPU lock: a store to its root waits, unless the notifier skips the lock', () => {
    const creating: KvmgtCommand[] = [pte(0, 0, 1), started({ kind: 'ppgttCreate', rootGfn: 0 })];
    const blocked = step(run(creating), pte(0, 0, 2));
    expect(blocked.result).toMatchObject({ ok: false, error: 'EBUSY' });
    const design = mutant('track-write-skips-vgpu-lock');
    const raced = run([...creating, pte(0, 0, 2), advance()], design);
    expect(raced.guestPages[0]?.[0]).toMatchObject({ gfn: 2 });
    expect(raced.vgpu?.spts[0]?.entries[0]).toEqual({ kind: 'table', gfn: 1 });
  });
});

describe("a batch's two reads", () => {
  /** GGTT entry 2 maps gfn 4, the batch page; a store to GGTT 0 is the host's. */
  const rewrite: KvmgtCommand = { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'store', ggttIndex: 0 };
  const submit: KvmgtCommand = { kind: 'submitBatch', ggttIndex: 2 };

  function queued(state: KvmgtState): unknown {
    return state.vgpu?.workloads[0]?.shadowCopy?.[0];
  }

  test('copied then scanned (cmd_parser.c): a store rewritten between the sizing and the copy is audited in the copy', () => {
    const state = run([started(submit), rewrite, advance()], cmdbufShadowCopy);
    expect(state.vgpu?.failsafe).toBe(true);
    expect(state.vgpu?.workloads).toEqual([]);
  });

  test('scanned in place then copied: the copy carries the unaudited store', () => {
    const state = run([started(submit), rewrite, advance()], cmdbufScanThenCopy);
    expect(state.vgpu?.failsafe).toBe(false);
    expect(queued(state)).toMatchObject({ kind: 'cmd', op: 'store', ggttIndex: 0 });
  });

  test('atomic, both hold: the rewrite comes after the copy', () => {
    for (const design of [cmdbufShadowCopy, cmdbufScanThenCopy, gvtWriteProtect]) {
      const state = run([submit, rewrite], design);
      expect(queued(state), design.id).not.toMatchObject({ ggttIndex: 0 });
    }
  });
});
