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

export const viommuInvariants: readonly ViommuInvariant[] = [
  liftInvariant(noDmaToForeignFrame, (state: ViommuState) => state.host.vfio),
  liftInvariant(noDmaToFreeFrame, (state: ViommuState) => state.host.vfio),
  reach.owned,
  reach.pinned,
  liftInvariant(noStaleIotlbOutsideFlushQueue, host),
  liftInvariant(frameRefcountMatchesHolders, host),
];
