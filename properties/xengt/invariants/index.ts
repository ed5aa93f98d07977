/**
 * Every invariant of the XenGT stack, in report order: effect, latent, accounting, teardown,
 * atomicity, with the bounds and the round trips (`bounds.ts`). The mediator's own (shadow == guest, the DMA cache's and the shadow tables'
 * references, write protection) come from `properties/gvt`; the rest read Xen's structures.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
import { noOperationWaitsForever } from '../../generic/waits.js';
import { xenGtActorOf, xenGtHoldings } from '../actors.js';
import {
  cacheKrefMatchesShadowUsers,
  gvtWorldView,
  shadowDmaAddrCached,
  shadowMatchesGuestEntry,
  shadowedTableWriteProtected,
  sptRefcountMatchesReferences,
} from '../../gvt/invariants.js';
import {
  backendMappingsMatchShadow,
  frameRefcountMatchesHolders,
  freeIffUnreferenced,
  grantPinsMatchHandles,
  grantReadingMatchesPins,
  grantWritingMatchesPins,
  totPagesMatchesOwnedFrames,
} from './accounting.js';
import { noDmaToForeignFrame, noDmaToFreeFrame } from './effect.js';
import { shadowFrameHeldByBackend, shadowFrameOwnedByGuest } from './latent.js';
import { mappingNamesCurrentDomain } from './reuse.js';
import { xenGtRoundTrip, xenGtCountersInRange } from './bounds.js';
import { unownedGgttReachesScratch } from '../../gvt/unowned-ggtt.js';
import { xenGtHost } from '../../../models/xengt/host.js';
import {
  deadDomainOwnsNoFrames,
  dyingDomainHasEmptyP2m,
  dyingDomainHoldsNoHandles,
  noVgpuNoBackendMappings,
  zombieWithoutFramesIsDead,
} from './teardown.js';

export function xenGtInvariants(config: XenGtConfig): Invariant<XenGtState, XenGtCommand>[] {
  const view = gvtWorldView<XenGtState>(config.gvt);
  return [
    noDmaToForeignFrame(config),
    noDmaToFreeFrame(config),
    shadowFrameOwnedByGuest(config),
    shadowFrameHeldByBackend(config),
    shadowMatchesGuestEntry(view),
    unownedGgttReachesScratch<XenGtState, XenGtCommand>(config.gvt.layout, {
      vgpu: (state) => state.vgpu,
      released: (state) => state.releasedGgtt,
      reach: (state, dmaAddr) => xenGtHost(config).translate(state, dmaAddr) ?? undefined,
      reads: (state) => [state.vgpu, state.releasedGgtt],
    }),
    frameRefcountMatchesHolders,
    freeIffUnreferenced,
    totPagesMatchesOwnedFrames,
    grantPinsMatchHandles,
    grantReadingMatchesPins,
    grantWritingMatchesPins,
    cacheKrefMatchesShadowUsers(view),
    shadowDmaAddrCached(view),
    sptRefcountMatchesReferences(view),
    shadowedTableWriteProtected(view),
    backendMappingsMatchShadow(config),
    xenGtCountersInRange,
    dyingDomainHoldsNoHandles,
    dyingDomainHasEmptyP2m,
    deadDomainOwnsNoFrames,
    zombieWithoutFramesIsDead,
    noVgpuNoBackendMappings(config),
    mappingNamesCurrentDomain,
    noOperationWaitsForever<XenGtState, XenGtCommand>({
      holdings: (state) => xenGtHoldings(config, state),
      actorOf: (state, command) => xenGtActorOf(config, state, command),
    }),
    xenGtRoundTrip(config),
    failedOperationLeavesStateUnchanged<XenGtState, XenGtCommand>(),
  ];
}
