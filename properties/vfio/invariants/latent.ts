/**
 * Latent invariants of the VFIO stacks: what devices *could* reach, checked at every step. Every
 * frame reachable by a device must be a guest frame that VFIO pins (a pin the guest cannot drop
 * by unmapping its memory).
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { deviceReach, frameHolders } from '../../../models/vfio/views.js';
import type { Invariant } from '../../../src/design.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

export const reachableFrameOwnedByGuest: VfioInvariant = {
  name: 'reachable-frame-owned-by-guest',
  class: 'latent',
  reads: (state) => [state],
  description: "every frame a device can reach belongs to the guest's VMM process",
  check({ after }) {
    const vm = after.process.owner;
    for (const reach of deviceReach(after)) {
      const owner = after.memory.frames[reach.mfn]?.owner ?? null;
      if (owner === vm) continue;
      return {
        message: `device ${reach.deviceId} can reach mfn ${reach.mfn} (via ${reach.via} at page ${reach.addressPage}), which is ${owner === null ? 'free' : `owned by ${owner}`}`,
        actual: owner === null ? `mfn ${reach.mfn} free` : `mfn ${reach.mfn} owned by ${owner}`,
        expected: `owned by the guest (owner ${vm})`,
      };
    }
    return null;
  },
};

export const reachableFramePinned: VfioInvariant = {
  name: 'reachable-frame-pinned',
  class: 'latent',
  reads: (state) => [state],
  description: 'every frame a device can reach is pinned by VFIO (an IOMMU-path or external pin)',
  check({ after }) {
    const reach = deviceReach(after);
    if (reach.length === 0) return null;
    const holders = frameHolders(after);
    for (const { deviceId, via, addressPage, mfn } of reach) {
      const frameHolders_ = holders[mfn] ?? [];
      if (frameHolders_.some((holder) => holder.kind === 'iommu pin' || holder.kind === 'external pin')) continue;
      return {
        message: `device ${deviceId} can reach mfn ${mfn} (via ${via} at page ${addressPage}), which VFIO does not pin`,
        actual: frameHolders_.length === 0 ? 'no holder' : frameHolders_.map((holder) => holder.kind).join(', '),
        expected: 'an IOMMU-path or external pin',
      };
    }
    return null;
  },
};
