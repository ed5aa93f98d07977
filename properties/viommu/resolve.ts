/**
 * Picks of the vIOMMU generators, resolved against the guest's state when the step runs: "the k-th
 * GIOVA page the guest maps" for an unmap, "the k-th free GIOVA page" for a driver's map, "the k-th
 * page the balloon holds" for a balloon request back in, "the k-th page it does not" for one out.
 * Both sides of the differential pair have the same guest state, so one resolution serves both.
 * A pick with nothing live falls back to a raw page of the universe; the trace records the result.
 */
import type { DriverOp } from '../../models/viommu/driver.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { GuestState, ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { viommuReach } from '../../models/viommu/views.js';
import { dmaTargets } from '../passthrough/resolve.js';
import { isPick, resolvePick } from '../pick.js';
import type { Pick, Templated } from '../pick.js';
import { resolvePreferring } from '../prefer.js';
import { ADVANCE, resolveAdvance } from '../generic/interleave.js';
import type { AdvanceCommand } from '../generic/interleave.js';

export type ViommuTemplate = Templated<ViommuCommand>;
export type DriverTemplate = Templated<DriverOp>;

/** The universes picks fall back to: GIOVA pages [0, giovaPages), GPA pages [0, ramPages). */
export interface PickUniverse {
  readonly giovaPages: number;
  readonly ramPages: number;
}

type LiveSet = 'mapped' | 'unmapped' | 'ballooned' | 'unballooned';

function live(guest: GuestState, universe: PickUniverse, set: LiveSet): number[] {
  const mapped = Object.keys(guest.table).map(Number);
  const all = (size: number): number[] => Array.from({ length: size }, (_, page) => page);
  switch (set) {
    case 'mapped':
      return mapped.sort((a, b) => a - b);
    case 'unmapped':
      return all(universe.giovaPages).filter((page) => !mapped.includes(page));
    case 'ballooned':
      return guest.ballooned;
    case 'unballooned':
      return all(universe.ramPages).filter((page) => !guest.ballooned.includes(page));
  }
}

/** Which live set each picked field draws from, by command kind. */
const picked: Readonly<Record<string, Readonly<Record<string, LiveSet>>>> = {
  guestUnmap: { giovaPage: 'mapped' },
  guestBalloonIn: { gpaPage: 'ballooned' },
  guestBalloonOut: { gpaPage: 'unballooned' },
  map: { giovaPage: 'unmapped' },
  unmap: { giovaPage: 'mapped' },
  balloonIn: { gpaPage: 'ballooned' },
  balloonOut: { gpaPage: 'unballooned' },
};

/** Resolves every pick of `template`; other fields are copied. */
export function resolveTemplate<C extends { readonly kind: string }>(
  guest: GuestState,
  universe: PickUniverse,
  template: Templated<C>,
): C {
  const fields = picked[template.kind] ?? {};
  const resolved: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(template) as [string, unknown][]) {
    if (!isPick(value)) {
      resolved[field] = value;
      continue;
    }
    const set = fields[field];
    const size = field === 'gpaPage' ? universe.ramPages : universe.giovaPages;
    resolved[field] = resolvePick(value, set === undefined ? [] : live(guest, universe, set), (pick) => pick % size);
  }
  return resolved as C;
}

/**
 * The DID a correct invalidation names: the one in the device's context (or RID_PASID) entry; with
 * none, the one a RID_PASID entry written since the guest last owed nothing named (its teardown
 * invalidates with the old DID), else the first domain's.
 */
export function currentDidOf(state: ViommuState): number {
  return state.guest.did ?? state.guest.pasidFlush?.dids.at(-1) ?? GUEST_DID;
}

/**
 * A template of a vIOMMU design (not the differential pair, whose two sides share one guest but
 * not one host), resolved against the whole state: a device DMA prefers a GIOVA page only a stale
 * host IOTLB entry still translates, else one the device reaches; a page invalidation prefers a
 * page either side uses (the guest maps it, or the device reaches it); a balloon request out
 * prefers a GPA page the guest's table still maps or whose frame the device still reaches (the
 * guest gives back memory its device may use). Other picks as `resolveTemplate`.
 */
export function resolveViommuTemplate(
  state: ViommuState,
  universe: PickUniverse,
  template: ViommuTemplate,
): ViommuCommand {
  if (template.kind === ADVANCE) return resolveAdvance(template as AdvanceCommand, state.inflight.length);
  const command = resolveTemplate<ViommuCommand>(state.guest, universe, template);
  const giovaPages = Array.from({ length: universe.giovaPages }, (_, page) => page);
  const giova = (value: Pick, preferred: () => readonly number[]): number =>
    resolvePreferring(
      value,
      () => preferred().filter((page) => page < universe.giovaPages),
      giovaPages,
      (pick) => pick % universe.giovaPages,
    );
  if (template.kind === 'deviceDma' && command.kind === 'deviceDma' && isPick(template.giovaPage)) {
    return { ...command, giovaPage: giova(template.giovaPage, () => dmaTargets(viommuReach(state))) };
  }
  if (
    (template.kind === 'guestInvalidatePasidCache' || template.kind === 'guestInvalidatePiotlb') &&
    isPick(template.did)
  ) {
    return { ...command, did: currentDidOf(state) } as ViommuCommand;
  }
  if (template.kind === 'guestInvalidate' && command.kind === 'guestInvalidate' && isPick(template.did)) {
    // The correct DID: the one in the device's context entry (the first domain's while it has none).
    const did = currentDidOf(state);
    const resolved = { ...command, did };
    if (!isPick(template.giovaPage)) return resolved;
    return resolveViommuTemplate(state, universe, { ...template, did });
  }
  if (template.kind === 'guestInvalidate' && command.kind === 'guestInvalidate' && isPick(template.giovaPage)) {
    // A page either side uses: the guest's table maps it, or the device reaches it.
    const inUse = (): number[] =>
      [
        ...new Set([...live(state.guest, universe, 'mapped'), ...viommuReach(state).map((found) => found.iovaPage)]),
      ].sort((left, right) => left - right);
    return { ...command, giovaPage: giova(template.giovaPage, inUse) };
  }
  if (template.kind === 'guestBalloonOut' && command.kind === 'guestBalloonOut' && isPick(template.gpaPage)) {
    const unballooned = live(state.guest, universe, 'unballooned');
    const inUse = (): number[] => {
      const mapped = new Set(Object.values(state.guest.table).map((entry) => entry.gpaPage));
      const reached = new Set(viommuReach(state).map((found) => found.mfn));
      const backing = (gpaPage: number): number | null =>
        state.host.vfio.process.pages[state.guestRam.vaddrPage + gpaPage]?.mfn ?? null;
      return unballooned.filter((page) => mapped.has(page) || reached.has(backing(page) ?? -1));
    };
    const gpaPage = resolvePreferring(template.gpaPage, inUse, unballooned, (pick) => pick % universe.ramPages);
    return { ...command, gpaPage };
  }
  return command;
}
