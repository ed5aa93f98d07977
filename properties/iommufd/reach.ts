/**
 * Reach statistics of the passthrough stack over iommufd (`--stats`): the states where its bugs
 * live, which a passing default run must have reached in a fair share of its runs (each with a
 * floor, `reachFloors`). The labels are the decision points of the model's hooks and of the VT-d
 * forwarding: an unmap that must notify an access, a pin across two areas, a domain filled from
 * the areas already mapped, an unmap while invalidations wait in a flush queue, a DMA through an
 * IOTLB entry for a page no area maps any more.
 */
import type { IoasObject, IommufdState } from '../../models/iommufd/types.js';
import type { IommufdPtCommand, IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { Transition } from '../../src/design.js';
import { MAP_CROSSES_LEAF_TABLE, UNMAP_WITH_FLUSH_QUEUE } from '../passthrough/reach.js';

export const UNMAP_UNDER_ACCESS = 'IOAS_UNMAP over an area an access pins (its unmap callback called)';
export const PIN_ACROSS_AREAS = 'access pin spanning two areas';
export const DOMAIN_FILLED = 'domain added to an IOAS that has areas (filled from them)';
export const DMA_AFTER_UNMAP = 'device DMA at an IOVA no area maps, translated by a cached IOTLB entry';

const PAGE = 4096n;
const LEAF_TABLE_PAGES = 512;

/** The labels, in report order (a flush queue's only in the lazy modes). */
export function iommufdPtReach(withFlushQueue: boolean): readonly string[] {
  return [
    UNMAP_UNDER_ACCESS,
    PIN_ACROSS_AREAS,
    DOMAIN_FILLED,
    MAP_CROSSES_LEAF_TABLE,
    ...(withFlushQueue ? [UNMAP_WITH_FLUSH_QUEUE, DMA_AFTER_UNMAP] : []),
  ];
}

/**
 * Floors at the default budget, about a third of the fewest runs a default run reached each in
 * (`dmaprop check --design iommufd/passthrough iommufd/lazy-held --seed 1 … 5 --stats`: 37–45,
 * 20–33, 8–28, 57–68, 45–50 and 6–13 runs of 1,000): low enough that a sound generator change
 * does not trip them, high enough that one that stops reaching a label does.
 */
export const iommufdPtReachFloors: Readonly<Record<string, number>> = {
  [UNMAP_UNDER_ACCESS]: 12,
  [PIN_ACROSS_AREAS]: 7,
  [DOMAIN_FILLED]: 3,
  [MAP_CROSSES_LEAF_TABLE]: 20,
  [UNMAP_WITH_FLUSH_QUEUE]: 15,
  [DMA_AFTER_UNMAP]: 2,
};

/** The page range `[first, last]` of a byte IOVA and length given as u64 strings, or null. */
function pageRange(iova: string, length: string): { first: number; last: number } | null {
  if (!/^\d+$/.test(iova) || !/^\d+$/.test(length)) return null;
  const start = BigInt(iova);
  const bytes = BigInt(length);
  if (bytes === 0n || start % PAGE !== 0n || bytes % PAGE !== 0n || start + bytes > 2n ** 52n) return null;
  return { first: Number(start / PAGE), last: Number((start + bytes) / PAGE) - 1 };
}

function ioasOf(state: IommufdState, id: number): IoasObject | undefined {
  const object = state.objects[id];
  return object?.type === 'ioas' ? object : undefined;
}

function overlapping(ioas: IoasObject, first: number, last: number): IoasObject['areas'] {
  return ioas.areas.filter((area) => area.iovaPage <= last && area.iovaPage + area.npages - 1 >= first);
}

export function classifyIommufdPtStep(transition: Transition<IommufdPtState, IommufdPtCommand>): string[] {
  const { before, command, result, after } = transition;
  if (before === null || command === null || result === null) return [];
  const labels: string[] = [];
  const iommufd = before.iommufd;
  if (command.kind === 'ioasUnmap') {
    const ioas = ioasOf(iommufd, command.ioasId);
    const range = pageRange(command.iova, command.length);
    const all = command.iova === '0' && /^18446744073709551615$/.test(command.length);
    if (ioas !== undefined && (range !== null || all)) {
      const areas = all ? ioas.areas : overlapping(ioas, range?.first ?? 0, range?.last ?? 0);
      if (areas.some((area) => area.numAccesses > 0)) labels.push(UNMAP_UNDER_ACCESS);
      if (result.ok && areas.length > 0 && Object.values(before.iommu.domains).some((d) => d.flushQueue.length > 0))
        labels.push(UNMAP_WITH_FLUSH_QUEUE);
    }
  }
  if (!result.ok) return labels;
  if (command.kind === 'accessPinPages') {
    const access = iommufd.objects[command.accessId];
    const range = pageRange(command.iova, command.length);
    const ioas = access?.type === 'access' && access.ioasId !== null ? ioasOf(iommufd, access.ioasId) : undefined;
    if (ioas !== undefined && range !== null && overlapping(ioas, range.first, range.last).length > 1)
      labels.push(PIN_ACROSS_AREAS);
  }
  if (command.kind === 'ioasMap') {
    const iova = result.detail?.['iova'];
    const range = pageRange(typeof iova === 'string' ? iova : command.iova, command.length);
    if (range !== null && Math.floor(range.first / LEAF_TABLE_PAGES) !== Math.floor(range.last / LEAF_TABLE_PAGES))
      labels.push(MAP_CROSSES_LEAF_TABLE);
  }
  if (command.kind === 'deviceAttach' || command.kind === 'hwptAlloc') {
    // A domain newly in some IOAS's domain list, which had areas before the step.
    const filled = Object.values(after.iommufd.objects).some((object) => {
      if (object.type !== 'ioas') return false;
      const earlier = ioasOf(iommufd, object.id);
      return (
        earlier !== undefined &&
        earlier.areas.length > 0 &&
        object.domainHwptIds.some((id) => !earlier.domainHwptIds.includes(id))
      );
    });
    if (filled) labels.push(DOMAIN_FILLED);
  }
  if (command.kind === 'deviceDma' && result.detail?.['via'] === 'iotlb') {
    const mapped = Object.values(iommufd.objects).some(
      (object) => object.type === 'ioas' && overlapping(object, command.iovaPage, command.iovaPage).length > 0,
    );
    if (!mapped) labels.push(DMA_AFTER_UNMAP);
  }
  return labels;
}
