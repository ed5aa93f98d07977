/**
 * The VFIO model's step function: a pure map from (state, command) to (new state, result). The
 * state passed in is never modified: the step works on its own copy. `applyVfioCommand` runs one
 * command on a draft the caller already copied (for stacks that compose VFIO with other models).
 */
import { ccwCompleteIo, ccwRunIo, ccwStartIo } from './ccw.js';
import type { VfioCommand } from './commands.js';
import type { VfioConfig } from './config.js';
import { closeDevice, groupSetContainer, groupUnsetContainer, openDevice, setIommu } from './container.js';
import { deviceDma } from './device-dma.js';
import { clearFault, injectFault } from './fault.js';
import { mapDma } from './map-dma.js';
import { mdevPinPages, mdevUnpinPages } from './mdev.js';
import { allocateToOther, releaseFromOther } from './other-owner.js';
import { discardRange, mmapRegion, munmapRegion, touchPage } from './process-memory.js';
import { draftOf, finishDraft, refused } from './state.js';
import type { VfioResult, VfioState } from './types.js';
import { unmapDma } from './unmap-dma.js';

export interface VfioStep {
  readonly state: VfioState;
  readonly result: VfioResult;
}

export function stepVfio(state: VfioState, config: VfioConfig, command: VfioCommand): VfioStep {
  const next = draftOf(state);
  const result = applyVfioCommand(next, config, command);
  // A refused operation changed nothing: its state is the one it was given.
  return { state: finishDraft(next) ? state : next, result };
}

export function applyVfioCommand(state: VfioState, config: VfioConfig, command: VfioCommand): VfioResult {
  switch (command.kind) {
    case 'groupSetContainer':
      return groupSetContainer(state, config, command);
    case 'groupUnsetContainer':
      return groupUnsetContainer(state, config, command);
    case 'setIommu':
      return setIommu(state, config, command);
    case 'openDevice':
      return openDevice(state, config, command);
    case 'closeDevice':
      return closeDevice(state, config, command);
    case 'mapDma':
      return mapDma(state, config, command);
    case 'unmapDma':
      return unmapDma(state, config, command);
    case 'mmap':
      return mmapRegion(state, config, command);
    case 'munmap':
      return munmapRegion(state, config, command);
    case 'discard':
      return discardRange(state, config, command);
    case 'touch':
      return touchPage(state, config, command);
    case 'allocateToOther':
      return allocateToOther(state, config, command);
    case 'releaseFromOther':
      return releaseFromOther(state, config, command);
    case 'mdevPinPages':
      return mdevPinPages(state, config, command);
    case 'mdevUnpinPages':
      return mdevUnpinPages(state, config, command);
    case 'ccwStartIo':
      return ccwStartIo(state, config, command);
    case 'ccwCompleteIo':
      return ccwCompleteIo(state, config, command);
    case 'ccwRunIo':
      return ccwRunIo(state, config, command);
    case 'deviceDma':
      return deviceDma(state, config, command);
    case 'injectFault':
      return injectFault(state, config, command);
    case 'clearFault':
      return clearFault(state);
    default:
      return refused('ENOTTY');
  }
}
