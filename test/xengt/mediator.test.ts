/**
 * The shared GVT-g mediator on Xen, service by service (docs/reference/xen.md §2.9, §4.6): the map
 * backend maps each guest page once into the backend's pool with a page reference and unmaps it
 * with the last shadow entry; the lookup backend hands out raw mfns and holds nothing; the ioreq
 * server write-protects guest page tables; the old GTT layout (entries 0–3 the vGPU's) still holds.
 */
import { describe, expect, test } from 'vitest';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtResult, XenGtState } from '../../models/xengt/types.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';

const GUEST = 1;
const POOL = xenMap.config.mappingPoolBaseGfn;

function run(commands: readonly XenGtCommand[], design: XenGtDesign = xenMap): XenGtState {
  let state = design.init();
  for (const command of commands) {
    const next = design.step(state, command);
    expect(next.result.ok, `${command.kind}: ${String(next.result.error)}`).toBe(true);
    state = next.state;
  }
  return state;
}

function step(state: XenGtState, command: XenGtCommand, design: XenGtDesign = xenMap): XenGtResult {
  return design.step(state, command).result as XenGtResult;
}

function guestMfn(state: XenGtState, gfn: number): number | undefined {
  return state.xen.domains[GUEST]?.p2m[gfn]?.mfn;
}

const write = (entry: number, gfn: number, present = true): XenGtCommand => ({ kind: 'gttWrite', entry, gfn, present });
const pte = (gfn: number, index: number, targetGfn: number, present = true): XenGtCommand => ({
  kind: 'guestWritePte',
  gfn,
  index,
  present,
  targetGfn,
  sizeBytes: 8,
});
/** Page 2 is a page directory whose entry 0 names page table 3, whose entry 0 names gfn 1. */
const tables: XenGtCommand[] = [pte(3, 0, 1), pte(2, 0, 3), { kind: 'ppgttCreate', rootGfn: 2 }];

describe('map backend', () => {
  test('one pool mapping per guest page, with a page reference, shared by the entries that use it', () => {
    const state = run([write(0, 0), write(1, 0)]);
    expect(state.vgpu?.cache[0]).toEqual({ gfn: 0, dmaAddr: POOL, kref: 2 });
    expect(state.xen.domains[0]?.p2m[POOL]).toMatchObject({ type: 'map_foreign', foreignDomid: GUEST, foreignGfn: 0 });
    expect(state.xen.memory.frames[guestMfn(state, 0)!]?.refcount).toBe(2);
    expect(state.vgpu?.ggttHost.slice(0, 2)).toEqual([
      { kind: 'dma', dmaAddr: POOL },
      { kind: 'dma', dmaAddr: POOL },
    ]);
  });

  test('the mapping goes with the last entry that uses it', () => {
    const once = run([write(0, 0), write(1, 0), write(0, 0, false)]);
    expect(once.vgpu?.cache[0]?.kref).toBe(1);
    const gone = run([write(0, 0), write(1, 0), write(0, 0, false), write(1, 0, false)]);
    expect(gone.vgpu?.cache).toEqual({});
    expect(gone.xen.domains[0]?.p2m[POOL]).toBeUndefined();
    expect(gone.xen.memory.frames[guestMfn(gone, 0)!]?.refcount).toBe(1);
  });

  test('the GPU reaches the page through the backend p2m; a page the guest gave back stays held', () => {
    const state = run([write(0, 0), { kind: 'decreaseReservation', domid: GUEST, gfn: 0 }]);
    const mfn = state.xen.domains[0]?.p2m[POOL]?.mfn;
    expect(state.xen.memory.frames[mfn!]).toMatchObject({ owner: GUEST, refcount: 1 });
    expect(step(state, { kind: 'gpuDma', entry: 0, write: true }).accesses).toEqual([
      { via: 'ggtt 0', write: true, outcome: 'landed', mfn, owner: GUEST },
    ]);
  });

  test('a gfn that is not guest RAM cannot be mapped: the entry is scratch', () => {
    const result = step(xenMap.init(), write(0, 5));
    expect(result).toMatchObject({ ok: true, detail: { shadow: 'scratch', mapError: 'EINVAL' } });
  });

  test('vGPU destruction unmaps everything; the pool is not the toolstack’s', () => {
    const state = run([write(0, 0), ...tables, { kind: 'vgpuDestroy' }]);
    expect(Object.keys(state.xen.domains[0]?.p2m ?? {})).toEqual(['0', '1']);
    expect(state.writeProtected).toEqual([]);
    const poolMap = { kind: 'mapForeign', domid: 0, gfn: POOL, foreignDomid: GUEST, foreignGfn: 0 } as const;
    expect(step(xenMap.init(), poolMap)).toMatchObject({ ok: false, error: 'EBUSY' });
  });
});

describe('lookup backend', () => {
  test('the DMA address is the raw mfn, and no reference is taken', () => {
    const state = run([write(0, 0)], xenLookup);
    const mfn = guestMfn(state, 0)!;
    expect(state.vgpu?.cache[0]).toEqual({ gfn: 0, dmaAddr: mfn, kref: 1 });
    expect(state.xen.memory.frames[mfn]?.refcount).toBe(1);
    expect(state.xen.domains[0]?.p2m[POOL]).toBeUndefined();
  });

  test('the XenGT lookup race: the frame goes free, then to dom0, and the GPU still reaches it', () => {
    const freed = run([write(0, 0), { kind: 'decreaseReservation', domid: GUEST, gfn: 0 }], xenLookup);
    const mfn = freed.vgpu?.cache[0]?.dmaAddr;
    expect(freed.xen.memory.frames[mfn!]?.owner).toBeNull();
    const taken = run(
      [
        write(0, 0),
        { kind: 'decreaseReservation', domid: GUEST, gfn: 0 },
        { kind: 'populatePhysmap', domid: 0, gfn: 2 },
      ],
      xenLookup,
    );
    expect(step(taken, { kind: 'gpuDma', entry: 0, write: true }, xenLookup).accesses).toEqual([
      { via: 'ggtt 0', write: true, outcome: 'landed', mfn, owner: 0 },
    ]);
  });
});

describe('write protection by the ioreq server', () => {
  test('shadowed page tables are claimed; a guest store to one is forwarded and the shadow follows', () => {
    const state = run([...tables, pte(3, 0, 0)]);
    expect([...state.writeProtected].sort()).toEqual([2, 3]);
    expect(state.vgpu?.spts[3]?.entries[0]).toEqual({ kind: 'dma', dmaAddr: state.vgpu?.cache[0]?.dmaAddr });
    expect(state.vgpu?.cache[1]).toBeUndefined();
    const dma = step(state, { kind: 'gpuDmaPpgtt', rootGfn: 2, pdIndex: 0, ptIndex: 0, write: true });
    expect(dma.accesses[0]).toMatchObject({ outcome: 'landed', mfn: guestMfn(state, 0), owner: GUEST });
  });

  test('only guest RAM can be claimed: a PPGTT rooted past it is refused', () => {
    expect(step(xenMap.init(), { kind: 'ppgttCreate', rootGfn: 5 })).toMatchObject({ ok: false, error: 'EINVAL' });
  });

  test('a store to a page the guest gave back faults', () => {
    const state = run([{ kind: 'decreaseReservation', domid: GUEST, gfn: 3 }]);
    expect(step(state, pte(3, 0, 1))).toMatchObject({ ok: false, error: 'EFAULT' });
  });
});

describe('the GTT layout of the old traces', () => {
  test('entries 0–3 are the vGPU’s; a write past them is ignored', () => {
    const state = xenMap.init();
    expect(step(state, write(3, 0))).toMatchObject({ ok: true, detail: { shadow: POOL } });
    expect(step(state, write(4, 0))).toMatchObject({ ok: true, detail: { ignored: true } });
  });

  test('a GPU access past the vGPU’s entries is refused; without a vGPU there is none', () => {
    expect(step(xenMap.init(), { kind: 'gpuDma', entry: 4, write: false })).toMatchObject({
      ok: false,
      error: 'EFAULT',
    });
    const none = run([{ kind: 'vgpuDestroy' }]);
    expect(step(none, { kind: 'gpuDma', entry: 0, write: false })).toMatchObject({ ok: false, error: 'ENODEV' });
    expect(step(none, write(0, 0))).toMatchObject({ ok: false, error: 'ENODEV' });
  });

  test('a batch storing to the host’s entries is refused by the scanner and the vGPU goes failsafe', () => {
    const batch: XenGtCommand[] = [
      { kind: 'guestWriteCmd', gfn: 1, index: 0, op: 'store', ggttIndex: 4 },
      write(0, 1),
      { kind: 'submitBatch', ggttIndex: 0 },
    ];
    const state = run(batch);
    expect(state.vgpu?.failsafe).toBe(true);
    expect(step(state, { kind: 'gpuDma', entry: 0, write: false })).toMatchObject({ ok: false, error: 'EIO' });
  });
});
