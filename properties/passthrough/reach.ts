/**
 * Reach statistics of the passthrough stack over VT-d (`--stats`): states the generators must reach
 * in a fair share of runs for a passing run to mean something.
 */
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { Transition } from '../../src/design.js';
import { classifyMediatedStep, UNMAP_CALLBACK_WITH_PINS } from '../vfio/reach.js';

export const MAP_CROSSES_LEAF_TABLE = 'map crosses a leaf-table boundary';
export const UNMAP_WITH_FLUSH_QUEUE = 'unmap while the flush queue is non-empty';
export const DMA_VIA_STALE_IOTLB = 'DMA translated by an IOTLB entry for an unmapped page';

/**
 * The labels a default run must reach (strict mode has no flush queue; a world with emulated
 * devices must also reach their `dma_unmap` callback with pins held). DMA through a stale IOTLB
 * entry is also counted and reported, but it needs a lazy unmap between a DMA and the next one and
 * stays rarer (about 3% of runs).
 */
export function passthroughReach(withFlushQueue: boolean, emulated = false): readonly string[] {
  return [
    MAP_CROSSES_LEAF_TABLE,
    ...(withFlushQueue ? [UNMAP_WITH_FLUSH_QUEUE] : []),
    ...(emulated ? [UNMAP_CALLBACK_WITH_PINS] : []),
  ];
}

/**
 * `classifyPassthroughStep`, and in a world with emulated devices the VFIO labels of their
 * `dma_unmap` callbacks (`classifyMediatedStep` on the VFIO part).
 */
export function classifyPassthroughWithDrivers(transition: Transition<PassthroughState, PassthroughCommand>): string[] {
  const { before, command, result, after } = transition;
  const drivers = classifyMediatedStep({
    before: before === null ? null : before.vfio,
    command: command?.kind === 'drainFlushQueue' ? null : (command as VfioCommand | null),
    result,
    after: after.vfio,
  });
  return [...classifyPassthroughStep(transition), ...drivers];
}

const LEAF_TABLE_PAGES = 512;

export function classifyPassthroughStep(transition: Transition<PassthroughState, PassthroughCommand>): string[] {
  const { before, command, result } = transition;
  if (before === null || command === null || result === null || !result.ok) return [];
  const labels: string[] = [];
  const detail = result.detail ?? {};
  if (command.kind === 'mapDma') {
    const iovaPage = detail['iovaPage'];
    const npages = detail['npages'];
    if (
      typeof iovaPage === 'number' &&
      typeof npages === 'number' &&
      Math.floor(iovaPage / LEAF_TABLE_PAGES) !== Math.floor((iovaPage + npages - 1) / LEAF_TABLE_PAGES)
    )
      labels.push(MAP_CROSSES_LEAF_TABLE);
  }
  if (command.kind === 'unmapDma' && detail['removed'] !== 0) {
    if (Object.values(before.iommu.domains).some((domain) => domain.flushQueue.length > 0))
      labels.push(UNMAP_WITH_FLUSH_QUEUE);
  }
  if (command.kind === 'deviceDma' && detail['via'] === 'iotlb') {
    const translated = before.vfio.container.backend;
    const mapped =
      translated?.kind === 'type1' &&
      translated.domains.some((domain) => domain.translations[command.addressPage] !== undefined);
    if (!mapped) labels.push(DMA_VIA_STALE_IOTLB);
  }
  return labels;
}
