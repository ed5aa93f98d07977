/**
 * Latent invariants of the passthrough stack over VT-d: every frame the assigned device can reach
 * through the IOMMU — a present leaf, or any IOTLB entry, stale ones included — belongs to the
 * guest and is pinned (by VFIO, or held by the stack until the flush that retires the stale
 * entry). They fail as soon as a frame is exposed, before any DMA uses it.
 */
import { passthroughFrameHolders, iommuReach } from '../../../models/passthrough/views.js';
import type { PassthroughInvariant } from './lift.js';

function via(reach: { via: string; iovaPage: number }): string {
  return reach.via === 'iotlb'
    ? `an IOTLB entry for iova page ${reach.iovaPage}`
    : `the page table at iova page ${reach.iovaPage}`;
}

export const reachableFrameOwnedByGuest: PassthroughInvariant = {
  name: 'reachable-frame-owned-by-guest',
  reads: (state) => [state.iommu, state.vfio],
  class: 'latent',
  description: "every frame the device can reach through the IOMMU (page table or IOTLB) belongs to the guest's VMM",
  check({ after }) {
    const vm = after.vfio.process.owner;
    for (const reach of iommuReach(after)) {
      const owner = after.vfio.memory.frames[reach.mfn]?.owner ?? null;
      if (owner === vm) continue;
      return {
        message: `device ${reach.deviceId} can reach mfn ${reach.mfn} through ${via(reach)}, which is ${owner === null ? 'free' : `owned by ${owner}`}`,
        actual: owner === null ? `mfn ${reach.mfn} free` : `mfn ${reach.mfn} owned by ${owner}`,
        expected: `owned by the guest (owner ${vm})`,
      };
    }
    return null;
  },
};

export const reachableFramePinned: PassthroughInvariant = {
  name: 'reachable-frame-pinned',
  reads: (state) => [state.iommu, state.vfio, state.held],
  class: 'latent',
  description:
    'every frame the device can reach through the IOMMU is pinned by VFIO or held until the flush that retires it',
  check({ after }) {
    const reach = iommuReach(after);
    if (reach.length === 0) return null;
    const holders = passthroughFrameHolders(after);
    for (const found of reach) {
      const frameHolders = holders[found.mfn] ?? [];
      const pinned = frameHolders.some(
        (holder) => holder.kind === 'iommu pin' || holder.kind === 'external pin' || holder.kind === 'flush hold',
      );
      if (pinned) continue;
      return {
        message: `device ${found.deviceId} can reach mfn ${found.mfn} through ${via(found)}, which nothing pins`,
        actual: frameHolders.length === 0 ? 'no holder' : frameHolders.map((holder) => holder.kind).join(', '),
        expected: 'an IOMMU-path pin, an external pin or a flush hold',
      };
    }
    return null;
  },
};
