/**
 * An invariant of our own, over the vIOMMU state: a guest RAM page the guest has ballooned out is
 * mapped by no VFIO mapping, so its frame goes back to the host. The built-in invariants are about
 * isolation, and a frame VFIO keeps pinned for a ballooned page is still the guest's: they accept
 * it. We want more: the balloon is how the host takes memory back, and a guest that balloons out a
 * page it still maps in its vIOMMU must not keep the frame.
 */
import { shadowedEntries } from 'dmaprop';
import type { Invariant, ViommuCommand, ViommuState } from 'dmaprop';

export const balloonedPageNotPinned: Invariant<ViommuState, ViommuCommand> = {
  name: 'example/ballooned-page-not-pinned',
  class: 'accounting',
  description: 'no VFIO mapping covers a guest RAM page the guest has ballooned out',
  // What VFIO maps for the VMM (its container) and what the balloon holds.
  reads: (state) => [state.host.vfio.container, state.guest.ballooned],
  check({ after }) {
    // IOVA page → the GPA page the VMM's MAP_DMA mapped there, read back from VFIO's mappings.
    for (const [iovaPage, { gpaPage }] of shadowedEntries(after)) {
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
