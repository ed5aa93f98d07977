/**
 * Every invariant of the KVMGT stack, in report order: effect, latent, accounting, teardown,
 * atomicity, with the bounds and the VMM's RAM map round trip (`bounds.ts`). The mediator's own come from `properties/gvt`; VFIO's accounting and teardown rules
 * that this stack can exercise are lifted unchanged. Left out: VFIO's device-reach invariants (the
 * vGPU reaches memory through the mediator's shadow entries, which this stack's latent invariants
 * cover), and the locked_vm, frame-reference and container-release ones (this stack's commands
 * neither release the container nor pin through the IOMMU path; its pins are the mediator's, which
 * `cache-entry-pinned-and-mapped` checks against the container).
 */
import type { KvmgtConfig } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import { noOperationWaitsForever } from '../../generic/waits.js';
import { actorOf, kvmgtHoldings } from '../../../models/kvmgt/schedule.js';
import {
  cacheKrefMatchesShadowUsers,
  gvtWorldView,
  shadowDmaAddrCached,
  shadowMatchesGuestEntry,
  shadowedTableWriteProtected,
  sptRefcountMatchesReferences,
} from '../../gvt/invariants.js';
import { liftVfioInvariant } from '../../passthrough/invariants/lift.js';
import { dmaSlotsAccounted, mappingsDisjoint } from '../../vfio/invariants/accounting.js';
import { noKernelCrash } from '../../vfio/invariants/effect.js';
import { closedDeviceHoldsNothing } from '../../vfio/invariants/teardown.js';
import { cacheEntryPinnedAndMapped, vgpuPinsHeld } from './accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame } from './effect.js';
import { shadowFrameOwnedByGuest, shadowFramePinned, unownedGgttReachesScratch } from './latent.js';
import { destroyedVgpuLeavesNothing } from './teardown.js';
import { kvmgtCountersInRange, vmmRamRoundTrip } from './bounds.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

function lift(invariant: Parameters<typeof liftVfioInvariant>[0], stateOnly = false): KvmgtInvariant {
  return liftVfioInvariant<KvmgtState, KvmgtCommand>(invariant, stateOnly);
}

export function kvmgtInvariants(config: KvmgtConfig): KvmgtInvariant[] {
  const view = gvtWorldView<KvmgtState>(config.gvt, (state) => state.inflight);
  return [
    noDmaToForeignFrame,
    noDmaToFreeFrame,
    lift(noKernelCrash),
    shadowFrameOwnedByGuest(config),
    shadowFramePinned(config),
    unownedGgttReachesScratch(config),
    shadowMatchesGuestEntry(view),
    cacheKrefMatchesShadowUsers(view),
    shadowDmaAddrCached(view),
    cacheEntryPinnedAndMapped,
    vgpuPinsHeld,
    sptRefcountMatchesReferences(view),
    shadowedTableWriteProtected(view),
    lift(dmaSlotsAccounted, true),
    lift(mappingsDisjoint, true),
    kvmgtCountersInRange,
    destroyedVgpuLeavesNothing,
    lift(closedDeviceHoldsNothing, true),
    vmmRamRoundTrip(config),
    noOperationWaitsForever<KvmgtState, KvmgtCommand>({
      holdings: (state) => kvmgtHoldings(state, config),
      actorOf: (state, command) => actorOf(state, config, command),
    }),
    failedOperationLeavesStateUnchanged<KvmgtState, KvmgtCommand>(),
  ];
}
