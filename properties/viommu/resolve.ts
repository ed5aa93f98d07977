/**
 * Picks of the vIOMMU generators, resolved against the guest's state when the step runs: "the k-th
 * GIOVA page the guest maps" for an unmap, "the k-th free GIOVA page" for a driver's map, "the k-th
 * page the balloon holds" for a balloon request back in, "the k-th page it does not" for one out.
 * Both sides of the differential pair have the same guest state, so one resolution serves both.
 * A pick with nothing live falls back to a raw page of the universe; the trace records the result.
 */
import type { DriverOp } from '../../models/viommu/driver.js';
import type { GuestState, ViommuCommand } from '../../models/viommu/types.js';
import { isPick, resolvePick } from '../pick.js';
import type { Templated } from '../pick.js';

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
