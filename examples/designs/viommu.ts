/**
 * vIOMMU: the VMM's two decision points, what it does with a trapped guest invalidation and with a
 * balloon request, written as functions, in a world of our own.
 *
 * The question: in caching mode (shadow), QEMU discards a ballooned-out page, but a page the guest
 * still maps in its vIOMMU stays pinned by VFIO, and the host never gets its frame back. Our VMM
 * is balloon-aware: on balloon out it first unmaps every IOVA page it mapped to the page, and its
 * invalidation handler never maps a ballooned-out page. The built-in isolation invariants hold for
 * either VMM; our invariant `example/ballooned-page-not-pinned` tells them apart. It catches the
 * stock shadow VMM, and our first try, which had the balloon handler but kept the stock
 * invalidation handler (the next invalidation maps the page again).
 */
import { replayGuestTable, shadowBalloon, shadowedEntries, viommuDesign, viommuDifferentialDesign } from 'dmaprop';
import type {
  BalloonHandler,
  InvalidationHandler,
  ViommuDesign,
  ViommuDifferentialDesign,
  ViommuWorldDescription,
  VmmRequest,
} from 'dmaprop';
import { balloonedPageNotPinned } from '../invariants/ballooned-page-not-pinned.js';

/** A world of our own: more GIOVA space than guest RAM, a small IOTLB. */
export const world: ViommuWorldDescription = { frames: 14, ramPages: 6, giovaPages: 8, iotlbEntries: 2 };

/** The stock replay, without the MAP_DMAs of ballooned-out pages. */
export const replaySkippingBallooned: InvalidationHandler = (trap) =>
  replayGuestTable(trap).filter(
    (request) => request.kind !== 'mapDma' || !trap.state.guest.ballooned.includes(request.gpaPage),
  );

/** Out: every IOVA page mapped to the page unmapped, then the page discarded. In: faulted in, then mapped again where the guest's table maps it. */
export const balloonUnmapsFirst: BalloonHandler = (request) => {
  const { state, gpaPage, direction } = request;
  if (direction === 'out') {
    // A balloon request does not carry what the VMM has mapped (a trap does, as `trap.mapped`):
    // shadowedEntries reads it back from VFIO's mappings, as the trap's is.
    const unmaps = [...shadowedEntries(state)]
      .filter(([, entry]) => entry.gpaPage === gpaPage)
      .map(([iovaPage]): VmmRequest => ({ kind: 'unmapDma', iovaPage, npages: 1 }));
    return [...unmaps, ...shadowBalloon(request)];
  }
  const remaps = Object.entries(state.guest.table)
    .filter(([, entry]) => entry.gpaPage === gpaPage)
    .map(([giovaPage, entry]): VmmRequest => ({
      kind: 'mapDma',
      iovaPage: Number(giovaPage),
      gpaPage,
      write: entry.write,
    }));
  return [...shadowBalloon(request), ...remaps];
};

/** The design with our invariant beside the built-in ones. */
function withOurInvariant(design: ViommuDesign): ViommuDesign {
  return { ...design, invariants: [...design.invariants, balloonedPageNotPinned] };
}

export const viommuBalloonAware: ViommuDesign = withOurInvariant(
  viommuDesign({
    id: 'example/viommu-balloon-aware',
    mode: 'shadow',
    world,
    invalidation: replaySkippingBallooned,
    balloon: balloonUnmapsFirst,
    expected: 'holds',
    description: 'a shadow VMM that unmaps a ballooned-out page from the host before discarding it, and never maps one',
  }),
);

export const viommuStockShadow: ViommuDesign = withOurInvariant(
  viommuDesign({
    id: 'example/viommu-stock-shadow',
    mode: 'shadow',
    world,
    expected: 'violates',
    breaks: ['example/ballooned-page-not-pinned'],
    description: "QEMU's shadow VMM: a ballooned-out page the guest still maps stays pinned",
  }),
);

export const viommuBalloonOnly: ViommuDesign = withOurInvariant(
  viommuDesign({
    id: 'example/viommu-balloon-only',
    mode: 'shadow',
    world,
    balloon: balloonUnmapsFirst,
    expected: 'violates',
    breaks: ['example/ballooned-page-not-pinned'],
    description:
      'the balloon-aware balloon handler with the stock invalidation handler, which maps a ballooned-out page again',
  }),
);

/** Our VMM beside the nested one, running one well-behaved guest program: every DMA must land alike. */
export const viommuBalloonAwareVsNested: ViommuDifferentialDesign = viommuDifferentialDesign({
  id: 'example/viommu-balloon-aware-vs-nested',
  shadow: { invalidation: replaySkippingBallooned, balloon: balloonUnmapsFirst },
  world: { ramPages: 6, giovaPages: 8 },
  expected: 'holds',
  description: 'our shadow VMM and the nested one side by side: every DMA lands in the same frame, or faults, in both',
});
