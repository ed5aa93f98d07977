/**
 * Every invariant of the passthrough stack over VT-d, in report order: effect, latent, accounting,
 * teardown, differential, atomicity. The VFIO invariants that read only VFIO's state are lifted
 * unchanged; reach and frame accounting are recomputed through the IOMMU. `no-kernel-crash` and
 * `closed-device-holds-nothing` are left out: they concern emulated-IOMMU drivers, which this
 * stack does not have.
 */
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import {
  dmaSlotsAccounted,
  domainsMatchMappings,
  lockedVmMatchesPins,
  lockedVmWithinLimit,
  mappingsDisjoint,
} from '../../vfio/invariants/accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame } from '../../vfio/invariants/effect.js';
import { releasedContainerUncharged } from '../../vfio/invariants/teardown.js';
import { frameRefcountMatchesHolders } from './accounting.js';
import { iommuMatchesVfio, noStaleIotlbOutsideFlushQueue, pageTableMatchesFlatMap } from './iommu.js';
import { reachableFrameOwnedByGuest, reachableFramePinned } from './latent.js';
import { liftVfioInvariant } from './lift.js';

export const passthroughInvariants: readonly Invariant<PassthroughState, PassthroughCommand>[] = [
  liftVfioInvariant(noDmaToForeignFrame),
  liftVfioInvariant(noDmaToFreeFrame),
  reachableFrameOwnedByGuest,
  reachableFramePinned,
  noStaleIotlbOutsideFlushQueue,
  frameRefcountMatchesHolders,
  liftVfioInvariant(lockedVmMatchesPins, true),
  liftVfioInvariant(lockedVmWithinLimit, true),
  liftVfioInvariant(dmaSlotsAccounted, true),
  liftVfioInvariant(mappingsDisjoint, true),
  liftVfioInvariant(domainsMatchMappings, true),
  iommuMatchesVfio,
  liftVfioInvariant(releasedContainerUncharged, true),
  pageTableMatchesFlatMap,
  failedOperationLeavesStateUnchanged<PassthroughState, PassthroughCommand>(),
];
