/**
 * Reach statistics of the mediated stack (`--stats`): the `dma_unmap` contract is only exercised
 * when an UNMAP_DMA meets a mapping that a driver still pins, so runs must get there often.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioState } from '../../models/vfio/types.js';
import type { Transition } from '../../src/design.js';

export const UNMAP_CALLBACK_WITH_PINS = 'unmap callback with pins outstanding';

export const mediatedReach: readonly string[] = [UNMAP_CALLBACK_WITH_PINS];

export function classifyMediatedStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { command, result } = transition;
  if (command?.kind !== 'unmapDma' || result === null) return [];
  // A driver that keeps its pins crashes the host inside the unmap: the callback still happened.
  const callbacks = result.detail?.['callbacks'];
  const crashed = result.error === 'BUG_ON' && transition.before?.crash === null;
  return (typeof callbacks === 'number' && callbacks > 0) || crashed ? [UNMAP_CALLBACK_WITH_PINS] : [];
}
