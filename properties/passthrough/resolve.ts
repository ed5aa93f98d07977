/**
 * Picks of the passthrough generators over VT-d, resolved against the state when the step runs. A
 * device DMA picks, preferably, an IOVA page only a stale IOTLB entry still translates, else one
 * the device can reach through the IOMMU (a present leaf or an IOTLB entry); the VMM discards or
 * munmaps, preferably, a page of its memory whose frame the device can reach. A stale IOTLB entry is an exploit only once its
 * frame is freed and the device uses it: a DMA at one IOVA page out of eight, after a discard of
 * one RAM page out of eight, is too rare for a run of a hundred steps. The container and device
 * lifecycle aims as VFIO's does (`../vfio/resolve.ts`). A DMA with a PASID, and a PASID's detach,
 * pick preferably a PASID the device has (an entry, or a PASID-cache entry only). A concrete command resolves to itself; the
 * trace records the resolved value.
 */
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import { cachedPasids } from '../../models/iommu/pasid.js';
import { sourceIdOf } from '../../models/passthrough/forward.js';
import { attachedPasids } from '../../models/passthrough/pasid.js';
import { iommuReach } from '../../models/passthrough/views.js';
import type { IommuReach } from '../../models/passthrough/views.js';
import { ADVANCE, resolveAdvance } from '../generic/interleave.js';
import type { AdvanceCommand } from '../generic/interleave.js';
import { isPick } from '../pick.js';
import type { Templated } from '../pick.js';
import { resolvePreferring } from '../prefer.js';
import { resolveVfioField } from '../vfio/resolve.js';
import type { VfioWorldLayout } from '../vfio/world.js';

export type PassthroughTemplate = Templated<PassthroughCommand>;

/** The raw values a pick falls back to: the generated IOVA pages, and the VMM's RAM pages. */
export interface PassthroughPickUniverse {
  readonly iovaBasePage: number;
  readonly iovaPages: number;
  readonly ramVaddrPage: number;
  readonly ramPages: number;
}

function pages(first: number, count: number): number[] {
  return Array.from({ length: count }, (_, offset) => first + offset);
}

/**
 * IOVA pages a DMA aims at, given what the device reaches: those only an IOTLB entry still
 * translates (no present leaf: the page was unmapped and its invalidation is pending or lost),
 * else every page it reaches; in order, each once.
 */
export function dmaTargets(reach: readonly IommuReach[]): number[] {
  const leaves = new Set(reach.filter((found) => found.via !== 'iotlb').map((found) => found.iovaPage));
  const stale = reach.filter((found) => found.via === 'iotlb' && !leaves.has(found.iovaPage));
  const targets = stale.length > 0 ? stale : reach;
  return [...new Set(targets.map((found) => found.iovaPage))].sort((left, right) => left - right);
}

/** The PASIDs the generators use (`generators.ts`). */
const PASIDS = [1, 2];

/** A device's PASIDs: those with an entry, and those only the PASID cache still holds; ascending. */
function devicePasids(state: PassthroughState, deviceId: number): number[] {
  const sourceId = sourceIdOf(deviceId);
  const cached = cachedPasids(state.iommu, sourceId);
  return [...new Set([...attachedPasids(state, deviceId), ...cached])].sort((left, right) => left - right);
}

/** The VMM's vaddr pages whose frame a device can reach, in order. */
function reachedVaddrPages(state: PassthroughState): number[] {
  const reached = new Set(iommuReach(state).map((reach) => reach.mfn));
  return Object.entries(state.vfio.process.pages)
    .filter(([, page]) => page.mfn !== null && reached.has(page.mfn))
    .map(([vaddrPage]) => Number(vaddrPage))
    .sort((left, right) => left - right);
}

export function resolvePassthrough(
  state: PassthroughState,
  layout: VfioWorldLayout,
  universe: PassthroughPickUniverse,
  template: PassthroughTemplate,
): PassthroughCommand {
  if (template.kind === ADVANCE) return resolveAdvance(template as AdvanceCommand, state.vfio.inflight.length);
  const resolved: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(template) as [string, unknown][]) {
    if (!isPick(value)) resolved[field] = value;
    else if ((template.kind === 'deviceDma' || template.kind === 'pasidDma') && field === 'addressPage') {
      resolved[field] = resolvePreferring(
        value,
        () => dmaTargets(iommuReach(state)),
        pages(universe.iovaBasePage, universe.iovaPages),
        (pick) => universe.iovaBasePage + (pick % universe.iovaPages),
      );
    } else if ((template.kind === 'pasidDma' || template.kind === 'detachPasid') && field === 'pasid') {
      const deviceId = resolved['deviceId'];
      resolved[field] = resolvePreferring(
        value,
        () => (typeof deviceId === 'number' ? devicePasids(state, deviceId) : []),
        PASIDS,
        (pick) => PASIDS[pick % PASIDS.length] ?? 1,
      );
    } else if ((template.kind === 'discard' || template.kind === 'munmap') && field === 'vaddrPage') {
      resolved[field] = resolvePreferring(
        value,
        () => reachedVaddrPages(state),
        pages(universe.ramVaddrPage, universe.ramPages),
        (pick) => universe.ramVaddrPage + (pick % universe.ramPages),
      );
    } else resolved[field] = resolveVfioField(state.vfio, layout, template, field, value, universe.iovaBasePage);
  }
  return resolved as PassthroughCommand;
}
