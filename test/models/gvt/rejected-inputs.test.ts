/**
 * The rejected-inputs rows of docs/reference/gvt-kvmgt.md §4.10 that the GVT-g model covers, each refused with
 * the real error (or handled the real way) and, where refused, with the state left as it was.
 * Not covered: vGPU types and GM allocation (-EINVAL/-ENOSPC: the partition is fixed), opening
 * without KVM, 1G and 2M PPGTT leaves, register commands (LRI/LRM/SRM), second-level batches,
 * the ring buffer, and the terminator re-check (the shadow copy is taken whole).
 */
import { describe, expect, test } from 'vitest';
import { dmaMapGuestPage } from '../../../models/gvt/dma-cache.js';
import { registerPageTrack } from '../../../models/gvt/page-track.js';
import { handleGuestPteWrite } from '../../../models/gvt/ppgtt.js';
import { cloneVgpu } from '../../../models/gvt/vgpu.js';
import { kvmgtHost } from '../../../models/kvmgt/host.js';
import type { KvmgtState } from '../../../models/kvmgt/types.js';
import { gvtWriteProtect } from '../../../properties/kvmgt/designs.js';
import { ggtt, pte, run, step } from './world.js';

const config = gvtWriteProtect.config;
const host = kvmgtHost(config);

function expectRefused(state: KvmgtState, command: Parameters<typeof step>[1], error: string): void {
  const result = step(state, command);
  expect(result.result).toMatchObject({ ok: false, error });
  expect(result.state).toBe(state);
}

/** A scratch copy of the mediator's part, to call its functions directly. */
function draft(state: KvmgtState): KvmgtState {
  return { ...state, vgpu: cloneVgpu(state.vgpu), writeProtected: [...state.writeProtected] };
}

describe('GVT-g rejected inputs (§4.10)', () => {
  test('GGTT MMIO write of size ∉ {4, 8}: EINVAL', () => {
    const state = run([]);
    expectRefused(state, ggtt(2, 0, true, 2), 'EINVAL');
    expectRefused(state, ggtt(2, 0, true, 1), 'EINVAL');
  });

  test('GGTT write outside the vGPU ranges: ignored (0), nothing changes', () => {
    const state = run([]);
    const result = step(state, ggtt(0, 1));
    expect(result.result).toMatchObject({ ok: true, detail: { ignored: true } });
    expect(result.state.vgpu).toEqual(state.vgpu);
    expect(result.state.hostDma).toEqual(state.hostDma);
  });

  test('GGTT present entry whose gfn cannot be pinned: shadow is scratch, no error', () => {
    const result = step(run([]), ggtt(2, 8));
    expect(result.result).toMatchObject({ ok: true, detail: { shadow: 'scratch', mapError: 'EINVAL' } });
    expect(result.state.vgpu?.ggttHost[2]).toEqual({ kind: 'scratch' });
  });

  test('PPGTT guest write of size ∉ {4, 8}: the handler refuses it with EINVAL', () => {
    const state = draft(run([pte(0, 0, 5), { kind: 'ppgttCreate', rootGfn: 0 }]));
    expect(handleGuestPteWrite(state, host, config.gvt, { gfn: 0, index: 0, sizeBytes: 2 })).toBe('EINVAL');
  });

  test('PPGTT leaf whose gfn cannot be pinned: ENXIO, nothing shadowed', () => {
    const state = run([pte(1, 0, 8), pte(0, 0, 1)]);
    expectRefused(state, { kind: 'ppgttCreate', rootGfn: 0 }, 'ENXIO');
  });

  test('page-track add for a gfn without memslot: EINVAL; vGPU not attached: ESRCH', () => {
    expectRefused(run([]), { kind: 'ppgttCreate', rootGfn: 8 }, 'EINVAL');
    const detached = draft(run([{ kind: 'vgpuDestroy' }]));
    expect(host.trackAdd(detached, 0)).toBe('ESRCH');
  });

  test('register page track twice: EEXIST', () => {
    const state = draft(run([{ kind: 'ppgttCreate', rootGfn: 0 }]));
    expect(registerPageTrack(state, host, config.gvt, 0)).toBe('EEXIST');
  });

  test('DMA map while not attached: EINVAL', () => {
    const detached = draft(run([{ kind: 'vgpuDestroy' }]));
    expect(dmaMapGuestPage(detached, host, config.gvt, 0)).toEqual({ ok: false, errno: 'EINVAL' });
  });

  test('destroy notification for an unknown PPGTT root: EINVAL', () => {
    expectRefused(run([]), { kind: 'ppgttDestroy', rootGfn: 3 }, 'EINVAL');
  });

  test('forbidden command: EBADRQC, failsafe', () => {
    const state = run([{ kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'forbidden', ggttIndex: 2 }]);
    const result = step(state, { kind: 'submitBatch', ggttIndex: 2 });
    expect(result.result.detail).toMatchObject({ rejected: 'EBADRQC', failsafe: true });
    expect(result.state.vgpu?.workloads).toEqual([]);
    expectRefused(result.state, { kind: 'gpuExecute' }, 'EIO');
  });

  test('GGTT operand outside the partition: EFAULT, failsafe', () => {
    const state = run([{ kind: 'guestWriteCmd', gfn: 4, index: 1, op: 'store', ggttIndex: 0 }]);
    const result = step(state, { kind: 'submitBatch', ggttIndex: 2 });
    expect(result.result.detail).toMatchObject({ rejected: 'EFAULT', failsafe: true });
  });

  test('a batch at a graphics address the guest entry does not map: EFAULT, failsafe', () => {
    const result = step(run([ggtt(3, 0, false)]), { kind: 'submitBatch', ggttIndex: 3 });
    expect(result.result.detail).toMatchObject({ rejected: 'EFAULT', failsafe: true });
  });
});
