/**
 * Latent invariants of the KVMGT stack: what the GPU could reach through the vGPU's shadow
 * entries right now, and whether the shadow still says what the guest's entries say. They name
 * the root cause before any access shows it.
 */
import type { KvmgtConfig } from '../../../models/kvmgt/config.js';
import { VM_OWNER } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import type { Invariant } from '../../../src/design.js';
import { unownedGgttReachesScratch as sharedUnownedGgttReachesScratch } from '../../gvt/unowned-ggtt.js';
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

/** Issue 18, "hardware outlives software" (`properties/gvt/unowned-ggtt.ts`), over the host's DMA map. */
export function unownedGgttReachesScratch(config: KvmgtConfig): KvmgtInvariant {
  return sharedUnownedGgttReachesScratch(config.world.layout, {
    vgpu: (state) => state.vgpu,
    released: (state) => state.releasedGgtt,
    reach: (state, dmaAddr) => state.hostDma.map[dmaAddr],
    reads: (state) => [state.vgpu, state.releasedGgtt],
  });
}
