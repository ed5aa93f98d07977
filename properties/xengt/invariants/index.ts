/** Every invariant of the XenGT stack, in report order: effect, latent, accounting, teardown, atomicity. */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../../generic/atomicity.js';
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
import {
  deadDomainOwnsNoFrames,
  dyingDomainHasEmptyP2m,
  dyingDomainHoldsNoHandles,
  noVgpuNoBackendMappings,
  zombieWithoutFramesIsDead,
} from './teardown.js';

export function xenGtInvariants(config: XenGtConfig): Invariant<XenGtState, XenGtCommand>[] {
  return [
    noDmaToForeignFrame,
    noDmaToFreeFrame,
    shadowFrameOwnedByGuest(config),
    shadowFrameHeldByBackend(config),
    frameRefcountMatchesHolders,
    freeIffUnreferenced,
    totPagesMatchesOwnedFrames,
    grantPinsMatchHandles,
    grantReadingMatchesPins,
    grantWritingMatchesPins,
    backendMappingsMatchShadow(config),
    dyingDomainHoldsNoHandles,
    dyingDomainHasEmptyP2m,
    deadDomainOwnsNoFrames,
    zombieWithoutFramesIsDead,
    noVgpuNoBackendMappings(config),
    failedOperationLeavesStateUnchanged<XenGtState, XenGtCommand>(),
  ];
}
