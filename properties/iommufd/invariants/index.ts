/**
 * Every invariant of the passthrough stack over iommufd, in report order: effect, latent,
 * accounting, teardown, differential, atomicity. The type1 stack's own checks are reused where they
 * apply through its view of this state (reach ownership, IOMMU against what the IOAS holds, stale
 * IOTLB entries, the page tables against their flat map); the rest are iommufd's (§7 of
 * docs/reference/iommufd.md).
 */
import type { IommufdConfig } from '../../../models/iommufd/index.js';
import { passthroughView } from '../../../models/iommufd-pt/host-view.js';
import type { IommufdPtCommand, IommufdPtState } from '../../../models/iommufd-pt/types.js';
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { Invariant } from '../../../src/design.js';
import { liftInvariant } from '../../generic/lift.js';
import { noStaleIotlbOutsideFlushQueue, pageTableMatchesFlatMap } from '../../passthrough/invariants/iommu.js';
import {
  accessPinsWithinAreas,
  frameRefcountMatchesHolders,
  iommuMatchesIoas,
  lockedVmMatchesPins,
  lockedVmWithinLimit,
  objectUsersMatchReferences,
  pagesMatchAreasAndAccesses,
} from './accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame, noKernelWarning } from './effect.js';
import { reachableFrameOwnedByGuest, reachableFramePinned } from './latent.js';
import { failedOpLeavesStateUnchanged, noIoasNothingHeld } from './teardown.js';

function onView(
  invariant: Invariant<PassthroughState, PassthroughCommand>,
  config: IommufdConfig,
): Invariant<IommufdPtState, IommufdPtCommand> {
  return liftInvariant(invariant, (state: IommufdPtState) => passthroughView(state, config));
}

export function iommufdPtInvariants(config: IommufdConfig): readonly Invariant<IommufdPtState, IommufdPtCommand>[] {
  return [
    noDmaToForeignFrame,
    noDmaToFreeFrame,
    noKernelWarning,
    reachableFrameOwnedByGuest(config),
    reachableFramePinned(config),
    onView(noStaleIotlbOutsideFlushQueue, config),
    frameRefcountMatchesHolders,
    lockedVmMatchesPins,
    lockedVmWithinLimit,
    pagesMatchAreasAndAccesses,
    accessPinsWithinAreas,
    objectUsersMatchReferences,
    iommuMatchesIoas(config),
    noIoasNothingHeld,
    onView(pageTableMatchesFlatMap, config),
    failedOpLeavesStateUnchanged,
  ];
}
