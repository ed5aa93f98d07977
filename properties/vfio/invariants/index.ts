/**
 * Every invariant of the VFIO stacks, in report order: effect, latent, accounting, teardown, the
 * query ioctls' answers, liveness, atomicity. The latent, accounting and teardown ones read the state alone (`reads`): a refused
 * step hands back its input, so they are not rechecked after it. A design adds the mapping round
 * trip, which runs an UNMAP_DMA with the design's own model (`vfioDesignInvariants`).
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import { noOperationWaitsForever } from '../../generic/waits.js';
import { actorOfVfioCommand, vfioHoldings } from '../../../models/vfio/inflight.js';
import {
  dmaSlotsAccounted,
  domainsMatchMappings,
  frameRefcountMatchesHolders,
  lockedVmMatchesPins,
  lockedVmWithinLimit,
  mappingsDisjoint,
} from './accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame, noKernelCrash } from './effect.js';
import { queryAnswersMatchState, queryReplyWithinArgsz } from './query.js';
import { reachableFrameOwnedByGuest, reachableFramePinned } from './latent.js';
import { attachedGroupInContainerDomain, closedDeviceHoldsNothing, releasedContainerUncharged } from './teardown.js';
import { vfioCountersInRange, vfioMappingRoundTrip } from './bounds.js';
import type { VfioConfig } from '../../../models/vfio/config.js';

export const vfioInvariants: readonly Invariant<VfioState, VfioCommand>[] = [
  noDmaToForeignFrame,
  noDmaToFreeFrame,
  noKernelCrash,
  reachableFrameOwnedByGuest,
  reachableFramePinned,
  frameRefcountMatchesHolders,
  lockedVmMatchesPins,
  lockedVmWithinLimit,
  dmaSlotsAccounted,
  mappingsDisjoint,
  domainsMatchMappings,
  vfioCountersInRange,
  closedDeviceHoldsNothing,
  releasedContainerUncharged,
  attachedGroupInContainerDomain,
  queryReplyWithinArgsz,
  queryAnswersMatchState,
  noOperationWaitsForever<VfioState, VfioCommand>({ holdings: vfioHoldings, actorOf: actorOfVfioCommand }),
  failedOperationLeavesStateUnchanged<VfioState, VfioCommand>(),
];

/** The invariants of a VFIO design built with `config`: `vfioInvariants` and the mapping round trip. */
export function vfioDesignInvariants(config: VfioConfig): readonly Invariant<VfioState, VfioCommand>[] {
  const atomicity = vfioInvariants.length - 1;
  return [...vfioInvariants.slice(0, atomicity), vfioMappingRoundTrip(config), ...vfioInvariants.slice(atomicity)];
}
