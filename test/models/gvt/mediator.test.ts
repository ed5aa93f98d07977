/**
 * The GVT-g mediator on the KVMGT stack, behaviour by behaviour (docs/reference/gvt-kvmgt.md §4.3–§4.8): write
 * protection, partial writes, add before remove, the DMA cache, the dma_unmap op, teardown and
 * command-buffer shadow copies.
 */
import { describe, expect, test } from 'vitest';
import { VGPU_DEVICE } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import { cmdbufScanInPlace, gvtNoWriteProtect, kvmgtShippedUnmap } from '../../../properties/kvmgt/designs.js';
import { ggtt, pte, run, step } from './world.js';

/** Page 0 is a page directory whose entry 0 names page table 1, whose entry 0 names gfn 2. */
const tables: KvmgtCommand[] = [pte(1, 0, 2), pte(0, 0, 1), { kind: 'ppgttCreate', rootGfn: 0 }];
const dmaThroughPpgtt: KvmgtCommand = { kind: 'gpuDmaPpgtt', rootGfn: 0, pdIndex: 0, ptIndex: 0, write: true };

function frameOf(state: KvmgtState, gfn: number): number | null | undefined {
  return state.vfio.process.pages[16 + gfn]?.mfn;
}

function leaf(state: KvmgtState): unknown {
  return state.vgpu?.spts[1]?.entries[0];
}

describe('write protection', () => {
  test('shadowing a page table write-protects it and a guest store to it updates the shadow', () => {
    const state = run([...tables, pte(1, 0, 3)]);
    expect(state.writeProtected.sort()).toEqual([0, 1]);
    expect(state.vgpu?.cache[2]).toBeUndefined();
    expect(leaf(state)).toEqual({ kind: 'dma', dmaAddr: state.vgpu?.cache[3]?.dmaAddr });
    const dma = step(state, dmaThroughPpgtt);
    expect(dma.result.accesses[0]).toMatchObject({ outcome: 'landed', mfn: frameOf(state, 3) });
  });

  test('without write protection the store goes unseen and the shadow still reaches the old page', () => {
    const state = run([...tables, pte(1, 0, 3)], gvtNoWriteProtect);
    expect(state.writeProtected).toEqual([]);
    expect(leaf(state)).toEqual({ kind: 'dma', dmaAddr: state.vgpu?.cache[2]?.dmaAddr });
    const dma = step(state, dmaThroughPpgtt, gvtNoWriteProtect);
    expect(dma.result.accesses[0]).toMatchObject({ outcome: 'landed', mfn: frameOf(state, 2) });
  });

  test('a 4-byte store points the entry at scratch until the next dispatch shadows it in full', () => {
    const state = run([...tables, pte(1, 0, 3, true, 4)]);
    expect(leaf(state)).toEqual({ kind: 'scratch' });
    expect(state.vgpu?.spts[1]?.postShadow).toEqual([0]);
    const dma = step(state, dmaThroughPpgtt);
    expect(dma.result.accesses[0]).toMatchObject({ outcome: 'landed', mfn: frameOf(state, 3) });
    expect(dma.state.vgpu?.spts[1]?.postShadow).toEqual([]);
  });

  test('retiring the PPGTT frees its shadow tables, their pins and their write protection', () => {
    const state = run([...tables, { kind: 'ppgttDestroy', rootGfn: 0 }]);
    expect(state.vgpu?.spts).toEqual({});
    expect(state.writeProtected).toEqual([]);
    expect(state.vgpu?.cache[2]).toBeUndefined();
  });
});

describe('GGTT and the DMA cache', () => {
  test('a 4-byte half points the host entry at scratch; the other half shadows the entry', () => {
    const half = run([ggtt(2, 6, true, 4, 0)]);
    expect(half.vgpu?.ggttHost[2]).toEqual({ kind: 'scratch' });
    expect(half.vgpu?.cache[4]).toBeUndefined();
    const whole = step(half, ggtt(2, 6, true, 4, 4)).state;
    expect(whole.vgpu?.ggttHost[2]).toEqual({ kind: 'dma', dmaAddr: whole.vgpu?.cache[6]?.dmaAddr });
  });

  test('add before remove: rewriting an entry with the same page keeps its DMA address and one reference', () => {
    const before = run([]);
    const after = step(before, ggtt(2, 4)).state;
    expect(after.vgpu?.cache[4]).toEqual(before.vgpu?.cache[4]);
    expect(after.vgpu?.cache[4]?.kref).toBe(1);
  });

  test('two entries naming one page share its cache entry, with two references', () => {
    const state = run([ggtt(3, 4)]);
    expect(state.vgpu?.cache[4]?.kref).toBe(2);
    expect(state.vgpu?.cache[5]).toBeUndefined();
    expect(state.vfio.devices[VGPU_DEVICE]?.pins).not.toHaveProperty('5');
  });
});

describe("the vGPU's dma_unmap op", () => {
  const unmap: KvmgtCommand = { kind: 'vmmUnmapRam', gfn: 4, npages: 2 };

  test('the sound op points the shadow entries at scratch, then unpins', () => {
    const state = run([unmap]);
    expect(state.vgpu?.ggttHost.slice(2, 4)).toEqual([{ kind: 'scratch' }, { kind: 'scratch' }]);
    expect(state.vgpu?.cache[4]).toBeUndefined();
    expect(state.vfio.devices[VGPU_DEVICE]?.pins).toEqual({ 6: 1, 7: 1 });
  });

  test('as shipped, the cache entries go and the shadow entries keep their dangling addresses', () => {
    const before = run([], kvmgtShippedUnmap);
    const state = run([unmap], kvmgtShippedUnmap);
    expect(state.vgpu?.cache[4]).toBeUndefined();
    expect(state.vgpu?.ggttHost[2]).toEqual(before.vgpu?.ggttHost[2]);
    // The host IOMMU no longer translates the address: the GPU faults.
    const dma = step(state, { kind: 'gpuDma', entry: 2, write: true }, kvmgtShippedUnmap);
    expect(dma.result.accesses[0]).toMatchObject({ outcome: 'fault' });
  });
});

describe('teardown and command buffers', () => {
  test('destroying the vGPU leaves no pin, no write protection and no DMA mapping of it', () => {
    const state = run([...tables, { kind: 'vgpuDestroy' }]);
    expect(state.vgpu).toBeNull();
    expect(state.vfio.devices[VGPU_DEVICE]?.pins).toEqual({});
    expect(state.writeProtected).toEqual([]);
    expect(Object.keys(state.hostDma.map).map(Number)).toEqual([0x100, 0x101]);
  });

  test('destroying the VM closes the vGPU, frees every frame of its RAM, and nothing acts afterwards', () => {
    const state = run([...tables, { kind: 'vmDestroy' }]);
    expect(state.vgpu).toBeNull();
    expect(state.vfio.memory.frames.filter((frame) => frame.owner === 1)).toEqual([]);
    expect(step(state, ggtt(2, 4)).result).toMatchObject({ ok: false, error: 'ESRCH' });
  });

  const race: KvmgtCommand[] = [
    { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'store', ggttIndex: 3 },
    { kind: 'submitBatch', ggttIndex: 2 },
    { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'store', ggttIndex: 0 },
    { kind: 'gpuExecute' },
  ];

  test('with a shadow copy the GPU runs what was scanned', () => {
    let state = run(race.slice(0, 3));
    const executed = step(state, { kind: 'gpuExecute' });
    state = executed.state;
    expect(executed.result.accesses).toEqual([
      expect.objectContaining({ via: 'ggtt 3', outcome: 'landed', mfn: frameOf(state, 5) }),
    ]);
  });

  test('scanned in place, the guest rewrites the batch after the scan and the GPU writes a host page', () => {
    const state = run(race.slice(0, 3), cmdbufScanInPlace);
    const executed = step(state, { kind: 'gpuExecute' }, cmdbufScanInPlace);
    expect(executed.result.accesses).toEqual([expect.objectContaining({ via: 'ggtt 0', owner: 3 })]);
  });
});
