/**
 * Latent invariants of the passthrough stack over VT-d: every frame an assigned device can reach
 * through the IOMMU — a present leaf, or any IOTLB entry, stale ones included — and every frame an
 * emulated device's driver holds (a world with mdev or ccw devices, which no IOMMU translates)
 * belongs to the guest and is pinned (by VFIO, or held by the stack until the flush that retires
 * the stale entry). They fail as soon as a frame is exposed, before any DMA uses it.
 *
 * Stacks that hold the passthrough state as their host (`properties/viommu`) build the same two
 * invariants over their own view of what the device reaches (`reachInvariants`).
 */
import type { IommuReach } from '../../../models/passthrough/views.js';
import { passthroughFrameHolders, stackReach } from '../../../models/passthrough/views.js';
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { Invariant } from '../../../src/design.js';
import type { PassthroughInvariant } from './lift.js';

function via(reach: { via: string; iovaPage: number }): string {
  if (reach.via === 'iotlb') return `an IOTLB entry for iova page ${reach.iovaPage}`;
  if (reach.via === 'pin') return `its driver's pin of iova page ${reach.iovaPage}`;
  if (reach.via === 'in-flight') return `its DMA to iova page ${reach.iovaPage}, translated and not yet landed`;
  return `the page table at iova page ${reach.iovaPage}`;
}

/** How a stack shows what its device reaches: the reach, the host part, and what the reach reads. */
export interface ReachView<S> {
  reach(state: S): readonly IommuReach[];
  host(state: S): PassthroughState;
  /** The parts of the state the reach is computed from (besides the host's IOMMU and VFIO). */
  reads(state: S): readonly unknown[];
}

export function reachInvariants<S, C>(
  view: ReachView<S>,
): { readonly owned: Invariant<S, C>; readonly pinned: Invariant<S, C> } {
  const owned: Invariant<S, C> = {
    name: 'reachable-frame-owned-by-guest',
    reads: (state) => [view.host(state).iommu, view.host(state).vfio, ...view.reads(state)],
    class: 'latent',
    description:
      "every frame a device can reach, through the IOMMU (page table or IOTLB) or a driver's pin, belongs to the guest's VMM",
    check({ after }) {
      const vfio = view.host(after).vfio;
      const vm = vfio.process.owner;
      for (const reach of view.reach(after)) {
        const owner = vfio.memory.frames[reach.mfn]?.owner ?? null;
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
  const pinned: Invariant<S, C> = {
    name: 'reachable-frame-pinned',
    reads: (state) => [view.host(state).iommu, view.host(state).vfio, view.host(state).held, ...view.reads(state)],
    class: 'latent',
    description:
      'every frame a device can reach, through the IOMMU or a driver’s pin, is pinned by VFIO or held until the flush that retires it',
    check({ after }) {
      const reach = view.reach(after);
      if (reach.length === 0) return null;
      const holders = passthroughFrameHolders(view.host(after));
      for (const found of reach) {
        const frameHolders = holders[found.mfn] ?? [];
        const isPinned = frameHolders.some(
          (holder) => holder.kind === 'iommu pin' || holder.kind === 'external pin' || holder.kind === 'flush hold',
        );
        if (isPinned) continue;
        return {
          message: `device ${found.deviceId} can reach mfn ${found.mfn} through ${via(found)}, which nothing pins`,
          actual: frameHolders.length === 0 ? 'no holder' : frameHolders.map((holder) => holder.kind).join(', '),
          expected: 'an IOMMU-path pin, an external pin or a flush hold',
        };
      }
      return null;
    },
  };
  return { owned, pinned };
}

const passthroughReach = reachInvariants<PassthroughState, PassthroughCommand>({
  reach: stackReach,
  host: (state) => state,
  reads: () => [],
});

export const reachableFrameOwnedByGuest: PassthroughInvariant = passthroughReach.owned;
export const reachableFramePinned: PassthroughInvariant = passthroughReach.pinned;
