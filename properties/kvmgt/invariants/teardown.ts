/**
 * Teardown invariant of the KVMGT stack (§4.9 inv. 9): once the vGPU is destroyed nothing of it
 * remains — no pin, no write-protected page, no DMA mapping of the mediator's.
 */
import { VGPU_DEVICE } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import type { Invariant } from '../../../src/design.js';
import { hex, pinnedFrames, mediatorDmaAddrs } from '../views.js';

export const destroyedVgpuLeavesNothing: Invariant<KvmgtState, KvmgtCommand> = {
  name: 'destroyed-vgpu-leaves-nothing',
  class: 'teardown',
  description: 'after the vGPU is destroyed no pin, write-protected page or DMA mapping of it remains',
  reads: (state) => [state.vgpu, state.vfio, state.hostDma, state.writeProtected],
  check({ after }) {
    if (after.vgpu !== null) return null;
    const pins = Object.keys(after.vfio.devices[VGPU_DEVICE]?.pins ?? {});
    const pinned = pinnedFrames(after);
    if (pins.length > 0 || pinned.size > 0) {
      return {
        message: `vGPU destroyed, ${pinned.size} frames still pinned (IOVA pages ${pins.join(', ') || 'none recorded'})`,
        actual: `${pinned.size} pinned frames`,
        expected: 'no pins',
      };
    }
    if (after.writeProtected.length > 0) {
      return {
        message: `vGPU destroyed, gfns ${after.writeProtected.join(', ')} still write-protected`,
        actual: `${after.writeProtected.length} write-protected`,
        expected: 'none write-protected',
      };
    }
    const mapped = mediatorDmaAddrs(after);
    if (mapped.length === 0) return null;
    return {
      message: `vGPU destroyed, DMA addresses ${mapped.map(hex).join(', ')} still mapped`,
      actual: `${mapped.length} DMA mappings`,
      expected: 'none of the mediator',
    };
  },
};
