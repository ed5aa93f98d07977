/**
 * Reach statistics of the VFIO stacks with emulated devices (`--stats`): the `dma_unmap` contract
 * is only exercised when an UNMAP_DMA meets a mapping that a driver still pins, so runs must get
 * there often. In a container that also holds an IOMMU-backed group, the mapping is then pinned
 * twice over (the IOMMU path's pin and the driver's external pin of the same pages): runs must
 * reach that too.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { VfioState } from '../../models/vfio/types.js';
import type { Transition } from '../../src/design.js';

export const UNMAP_CALLBACK_WITH_PINS = 'unmap callback with pins outstanding';
export const UNMAP_CALLBACK_WITH_DOMAIN = 'unmap callback with pins outstanding on an IOMMU-mapped mapping';

/** The labels worlds with emulated devices must reach; `withDomain`: the world also has an IOMMU group. */
export function mediatedReach(withDomain: boolean): readonly string[] {
  return withDomain ? [UNMAP_CALLBACK_WITH_PINS, UNMAP_CALLBACK_WITH_DOMAIN] : [UNMAP_CALLBACK_WITH_PINS];
}

export function classifyMediatedStep(transition: Transition<VfioState, VfioCommand>): string[] {
  const { before, command, result } = transition;
  if (command?.kind !== 'unmapDma' || result === null) return [];
  // A driver that keeps its pins crashes the host inside the unmap: the callback still happened.
  const callbacks = result.detail?.['callbacks'];
  const crashed = result.error === 'BUG_ON' && before?.crash === null;
  if (!((typeof callbacks === 'number' && callbacks > 0) || crashed)) return [];
  const backend = before?.container.backend;
  const withDomain = backend?.kind === 'type1' && backend.domains.length > 0;
  return withDomain ? [UNMAP_CALLBACK_WITH_PINS, UNMAP_CALLBACK_WITH_DOMAIN] : [UNMAP_CALLBACK_WITH_PINS];
}
