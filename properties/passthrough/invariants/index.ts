/**
 * Every invariant of the passthrough stack over VT-d, in report order: effect, latent, accounting,
 * teardown, differential, atomicity. The VFIO invariants that read only VFIO's state are lifted
 * unchanged; reach and frame accounting are recomputed through the IOMMU (and the emulated
 * devices' pins, in a world that has them). `no-kernel-crash` and `closed-device-holds-nothing`
 * concern emulated-IOMMU drivers: they hold trivially in a world of vfio-pci devices alone. A
 * design adds the mapping round trip, which runs an UNMAP_DMA with the design's own model
 * (`passthroughDesignInvariants`).
 */
import type { PassthroughCommand, PassthroughState } from '../../../models/passthrough/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import { noOperationWaitsForever } from '../../generic/waits.js';
import { vfioHoldings } from '../../../models/vfio/inflight.js';
import { passthroughActorOf } from '../../../models/passthrough/step.js';
import {
  dmaSlotsAccounted,
  domainsMatchMappings,
  lockedVmMatchesPins,
  lockedVmWithinLimit,
  mappingsDisjoint,
} from '../../vfio/invariants/accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame, noKernelCrash } from '../../vfio/invariants/effect.js';
import { closedDeviceHoldsNothing, releasedContainerUncharged } from '../../vfio/invariants/teardown.js';
import { frameRefcountMatchesHolders } from './accounting.js';
import { iommuMatchesVfio, noStaleIotlbOutsideFlushQueue, pageTableMatchesFlatMap } from './iommu.js';
import { reachableFrameOwnedByGuest, reachableFramePinned } from './latent.js';
import { reusedDidCarriesNoEarlierTranslations, unownedDeviceReachesNothing } from './lifecycle.js';
import { liftVfioInvariant } from './lift.js';
import { passthroughCountersInRange, passthroughMappingRoundTrip } from './bounds.js';
import type { PassthroughConfig } from '../../../models/passthrough/types.js';

export const passthroughInvariants: readonly Invariant<PassthroughState, PassthroughCommand>[] = [
  liftVfioInvariant(noDmaToForeignFrame),
  liftVfioInvariant(noDmaToFreeFrame),
  liftVfioInvariant(noKernelCrash, true),
  reachableFrameOwnedByGuest,
  reachableFramePinned,
  unownedDeviceReachesNothing,
  reusedDidCarriesNoEarlierTranslations,
  noStaleIotlbOutsideFlushQueue,
  frameRefcountMatchesHolders,
  liftVfioInvariant(lockedVmMatchesPins, true),
  liftVfioInvariant(lockedVmWithinLimit, true),
  liftVfioInvariant(dmaSlotsAccounted, true),
  liftVfioInvariant(mappingsDisjoint, true),
  liftVfioInvariant(domainsMatchMappings, true),
  passthroughCountersInRange,
  iommuMatchesVfio,
  liftVfioInvariant(closedDeviceHoldsNothing, true),
  liftVfioInvariant(releasedContainerUncharged, true),
  pageTableMatchesFlatMap,
  noOperationWaitsForever<PassthroughState, PassthroughCommand>({
    holdings: (state) => vfioHoldings(state.vfio),
    actorOf: (state, command) => passthroughActorOf(state, command),
  }),
  failedOperationLeavesStateUnchanged<PassthroughState, PassthroughCommand>(),
];

/** The invariants of a passthrough design built with `config`: `passthroughInvariants` and the mapping round trip. */
export function passthroughDesignInvariants(
  config: PassthroughConfig,
): readonly Invariant<PassthroughState, PassthroughCommand>[] {
  const atomicity = passthroughInvariants.length - 1;
  return [
    ...passthroughInvariants.slice(0, atomicity),
    passthroughMappingRoundTrip(config),
    ...passthroughInvariants.slice(atomicity),
  ];
}
