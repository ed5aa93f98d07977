/**
 * Latent invariants of the KVMGT stack: what the GPU could reach through the vGPU's shadow
 * entries right now, and whether the shadow still says what the guest's entries say. They name
 * the root cause before any access shows it.
 */
import type { KvmgtConfig } from '../../../models/kvmgt/config.js';
import { ownGgttIndices } from '../../../models/gvt/config.js';
import { VM_OWNER } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import type { Invariant } from '../../../src/design.js';
import { hex, ownerName, pinnedFrames, reachedFrames } from '../views.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

export function shadowFrameOwnedByGuest(config: KvmgtConfig): KvmgtInvariant {
  return {
    name: 'shadow-frame-owned-by-guest',
    class: 'latent',
    description:
      "every frame the GPU can reach through the vGPU's shadow entries, or will reach with an access in flight, is owned by its VM",
    reads: (state) => [state.vgpu, state.hostDma, state.vfio.memory, state.inflight],
    check({ after }) {
      for (const reached of reachedFrames(after, config)) {
        if (reached.mfn === null) continue;
        const owner = after.vfio.memory.frames[reached.mfn]?.owner ?? null;
        if (owner === VM_OWNER) continue;
        return {
          message: `${reached.where} holds DMA address ${hex(reached.dmaAddr)}, which reaches mfn ${reached.mfn}, owned by ${ownerName(owner)}`,
          actual: `mfn ${reached.mfn} owned by ${ownerName(owner)}`,
          expected: 'a frame owned by the VM',
        };
      }
      return null;
    },
  };
}

export function shadowFramePinned(config: KvmgtConfig): KvmgtInvariant {
  return {
    name: 'shadow-frame-pinned',
    class: 'latent',
    description:
      "every frame the GPU can reach through the vGPU's shadow entries, or will reach with an access in flight, is pinned in the container",
    reads: (state) => [state.vgpu, state.hostDma, state.vfio, state.inflight],
    check({ after }) {
      const pinned = pinnedFrames(after);
      for (const reached of reachedFrames(after, config)) {
        if (reached.mfn === null || pinned.has(reached.mfn)) continue;
        return {
          message: `${reached.where} holds DMA address ${hex(reached.dmaAddr)}, which reaches mfn ${reached.mfn}, pinned by no one`,
          actual: `mfn ${reached.mfn} unpinned`,
          expected: 'a frame with a vfio_pin_pages pin',
        };
      }
      return null;
    },
  };
}

/**
 * Issue 18, "hardware outlives software": the host GGTT entries of ranges no vGPU owns reach the
 * scratch page only. i915 points the whole GGTT at scratch when it initialises it, and GVT-g
 * gives a vGPU's ranges back that way (`vgpu.c intel_gvt_destroy_vgpu` →
 * `gtt.c intel_vgpu_reset_ggtt(vgpu, true)`) before `intel_vgpu_free_resource` frees them for the
 * next vGPU: nothing may translate through a range whose owner is gone (its DMA cache, which kept
 * those addresses mapped, was destroyed at close).
 */
export function unownedGgttReachesScratch(config: KvmgtConfig): KvmgtInvariant {
  const own = ownGgttIndices(config.world.layout);
  return {
    name: 'unowned-ggtt-reaches-scratch',
    class: 'latent',
    description: 'while no vGPU owns its GGTT ranges, every host GGTT entry of them points at the scratch page',
    reads: (state) => [state.vgpu, state.releasedGgtt],
    check({ after }) {
      const left = after.releasedGgtt;
      if (after.vgpu !== null || left === null) return null;
      for (const index of own) {
        const pte = left[index];
        if (pte === undefined || pte.kind === 'scratch') continue;
        const target = pte.kind === 'dma' ? `DMA address ${hex(pte.dmaAddr)}` : `the shadow table of gfn ${pte.gfn}`;
        const mfn = pte.kind === 'dma' ? after.hostDma.map[pte.dmaAddr] : undefined;
        return {
          message: `no vGPU owns GGTT entry ${index}, but the host entry still points at ${target}${mfn === undefined ? '' : `, which reaches mfn ${mfn}`}`,
          actual: target,
          expected: 'the scratch page',
        };
      }
      return null;
    },
  };
}
