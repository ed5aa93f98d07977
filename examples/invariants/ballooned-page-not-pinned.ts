/**
 * An invariant of our own, over the vIOMMU state: a guest RAM page the guest has ballooned out is
 * mapped by no VFIO mapping, so its frame goes back to the host. The built-in invariants are about
 * isolation, and a frame VFIO keeps pinned for a ballooned page is still the guest's: they accept
 * it. We want more: the balloon is how the host takes memory back, and a guest that balloons out a
 * page it still maps in its vIOMMU must not keep the frame.
 */
import type { Invariant, ViommuCommand, ViommuState } from 'dmaprop';

/** IOVA page → GPA page of every page VFIO maps for the VMM (its MAP_DMAs of guest RAM). */
export function vmmMappings(state: ViommuState): Map<number, number> {
  const mapped = new Map<number, number>();
  const backend = state.host.vfio.container.backend;
  if (backend?.kind !== 'type1') return mapped;
  for (const dma of backend.dmas) {
    for (let page = 0; page < dma.npages; page++) {
      mapped.set(dma.iovaPage + page, dma.vaddrPage + page - state.guestRam.vaddrPage);
    }
  }
  return mapped;
}

export const balloonedPageNotPinned: Invariant<ViommuState, ViommuCommand> = {
  name: 'example/ballooned-page-not-pinned',
  class: 'accounting',
  description: 'no VFIO mapping covers a guest RAM page the guest has ballooned out',
  reads: (state) => [state.host.vfio.container, state.guest.ballooned],
  check({ after }) {
    for (const [iovaPage, gpaPage] of vmmMappings(after)) {
      if (!after.guest.ballooned.includes(gpaPage)) continue;
      return {
        message: `GPA page ${gpaPage} is ballooned out, but VFIO still maps it at IOVA page ${iovaPage}: its frame stays pinned`,
        actual: `IOVA page ${iovaPage} → GPA page ${gpaPage} (ballooned out)`,
        expected: 'no mapping of a ballooned-out page',
      };
    }
    return null;
  },
};
