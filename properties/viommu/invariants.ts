/**
 * Every invariant of the vIOMMU stack, in report order: effect, latent, accounting. Both designs
 * check the same ones, and they must hold whatever the guest does — skip, misdirect or delay its
 * invalidations, balloon pages it still maps: that may hurt the guest (its device faults, or still
 * reaches its own memory), never anything else.
 *
 * - effect: where the device's DMA landed (the VFIO invariants, on the host's VFIO part);
 * - latent: every frame the device can reach — through the host's page table, any host IOTLB entry
 *   (combined ones included), and for a nested domain each entry of the guest's table through
 *   stage 2 — is the guest's and pinned by VFIO; and no host IOTLB entry outlives the second-level
 *   translation it came from (for a combined entry: the stage-2 translation of its GPA page);
 * - the guest's contract: a GIOVA page whose invalidation completed is reachable through nothing;
 * - accounting: each frame's reference count equals its holders.
 *
 * The passthrough stack's other checks (locked_vm, slots, disjointness, the page table against its
 * flat map, the IOMMU against VFIO) are not repeated: the VMM drives VFIO only with well-formed
 * single-page requests, which those stacks check at length.
 */
import type { PassthroughState } from '../../models/passthrough/types.js';
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { viommuReach } from '../../models/viommu/views.js';
import type { Invariant } from '../../src/design.js';
import { liftInvariant } from '../generic/lift.js';
import { frameRefcountMatchesHolders } from '../passthrough/invariants/accounting.js';
import { noStaleIotlbOutsideFlushQueue } from '../passthrough/invariants/iommu.js';
import { reachInvariants } from '../passthrough/invariants/latent.js';
import { noDmaToForeignFrame, noDmaToFreeFrame } from '../vfio/invariants/effect.js';

export type ViommuInvariant = Invariant<ViommuState, ViommuCommand>;

const host = (state: ViommuState): PassthroughState => state.host;

const reach = reachInvariants<ViommuState, ViommuCommand>({
  reach: viommuReach,
  host,
  reads: (state) => [state.guest.table],
});

/**
 * The vIOMMU's contract with its guest (VT-d: an invalidation wait descriptor completes only after
 * every invalidation queued before it has taken effect): once the guest's invalidation of a GIOVA
 * page it cleared has completed, the device reaches nothing through that page — no host page-table
 * entry, IOTLB entry (combined ones included) or translated request — until the guest maps it
 * again. A VMM that lets the wait complete before its UNMAP_DMA (or never unmaps, or never
 * forwards) breaks it; a guest that skips or misdirects its invalidation does not, since only what
 * it invalidated counts (`models/viommu/phased.ts`).
 */
export const invalidatedGiovaUnreachable: ViommuInvariant = {
  name: 'invalidated-giova-unreachable',
  class: 'latent',
  description: 'no GIOVA page whose invalidation the guest saw complete is reachable by the device',
  reads: (state) => [state.host, state.guest.invalidated, state.guest.table],
  check({ after }) {
    if (after.guest.invalidated.length === 0) return null;
    const found = viommuReach(after).find((reach) => after.guest.invalidated.includes(reach.iovaPage));
    if (found === undefined) return null;
    return {
      message: `the guest's invalidation of GIOVA page ${found.iovaPage} has completed, yet the device still reaches mfn ${found.mfn} through it (${found.via})`,
      actual: `GIOVA page ${found.iovaPage} → mfn ${found.mfn} via ${found.via}`,
      expected: 'nothing reachable through an invalidated GIOVA page',
    };
  },
};

export const viommuInvariants: readonly ViommuInvariant[] = [
  liftInvariant(noDmaToForeignFrame, (state: ViommuState) => state.host.vfio),
  liftInvariant(noDmaToFreeFrame, (state: ViommuState) => state.host.vfio),
  reach.owned,
  reach.pinned,
  liftInvariant(noStaleIotlbOutsideFlushQueue, host),
  invalidatedGiovaUnreachable,
  liftInvariant(frameRefcountMatchesHolders, host),
];
