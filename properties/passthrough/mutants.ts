/**
 * Deliberately broken variants of the passthrough stack over VT-d, for the meta-tests: each
 * carries one bug of the VFIO or the VT-d model and names the invariants expected to catch it.
 * The `mixed` ones run with an emulated group next to the assigned device, where the drivers'
 * invariants (`no-kernel-crash`, `closed-device-holds-nothing`) have something to check.
 */
import type { IommuBug } from '../../models/iommu/config.js';
import type { InvalidationMode } from '../../models/passthrough/types.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { passthroughDesign } from './design.js';
import type { PassthroughDesign } from './design.js';

function iommuMutant(
  mode: InvalidationMode,
  bug: IommuBug,
  catches: readonly string[],
  description: string,
): PassthroughDesign {
  return passthroughDesign({
    id: `mutant/iommu-${mode}/${bug}`,
    mode,
    iommuBugs: [bug],
    expected: 'violates',
    breaks: catches,
    description,
  });
}

function vfioMutant(bug: VfioBug, catches: readonly string[], description: string): PassthroughDesign {
  return passthroughDesign({
    id: `mutant/iommu-strict/${bug}`,
    mode: 'strict',
    vfioBugs: [bug],
    expected: 'violates',
    breaks: catches,
    description,
  });
}

/** A VFIO bug of an emulated device's driver, over VT-d in a container with an assigned device too. */
function mixedMutant(bug: VfioBug, catches: readonly string[], description: string): PassthroughDesign {
  return passthroughDesign({
    id: `mutant/iommu-strict-mixed/${bug}`,
    mode: 'strict',
    world: 'mixed',
    vfioBugs: [bug],
    expected: 'violates',
    breaks: catches,
    description,
  });
}

/** A stale IOTLB entry outliving the pin: every effect and latent invariant sees the freed, reused frame. */
const exposes = [
  'no-dma-to-foreign-frame',
  'no-dma-to-free-frame',
  'reachable-frame-owned-by-guest',
  'reachable-frame-pinned',
] as const;

export const passthroughMutants: readonly PassthroughDesign[] = [
  iommuMutant(
    'strict',
    'unmap-skips-iotlb-invalidate',
    [...exposes, 'no-stale-iotlb-outside-flush-queue'],
    'strict unmap clears the PTEs but never invalidates the IOTLB',
  ),
  iommuMutant(
    'strict',
    'unmap-stops-at-table-boundary',
    [
      'no-dma-to-free-frame',
      'reachable-frame-owned-by-guest',
      'reachable-frame-pinned',
      'iommu-matches-vfio',
      'page-table-matches-flat',
      'round-trip-returns-everything',
    ],
    'an unmap that crosses a leaf-table boundary stops at the end of the first table',
  ),
  iommuMutant(
    'lazy-held',
    'flush-queue-skips-iotlb',
    [...exposes, 'no-stale-iotlb-outside-flush-queue'],
    'the flush-queue timer releases its entries without the domain-wide flush',
  ),
  vfioMutant(
    'unmap-skips-unpin',
    ['frame-refcount-matches-holders', 'round-trip-returns-everything'],
    'UNMAP_DMA never unpins',
  ),
  vfioMutant(
    'map-failure-leaks-pins',
    ['frame-refcount-matches-holders', 'failed-op-leaves-state-unchanged'],
    'a MAP_DMA that fails part-way leaves its pins',
  ),
  vfioMutant(
    'locked-vm-not-uncharged',
    ['locked-vm-matches-pins', 'released-container-uncharged', 'round-trip-returns-everything'],
    'unpinning never uncharges locked_vm',
  ),
  vfioMutant('map-skips-memlock-check', ['locked-vm-within-limit'], 'MAP_DMA never checks RLIMIT_MEMLOCK'),
  vfioMutant(
    'unmap-leaks-dma-slot',
    ['dma-slots-accounted', 'round-trip-returns-everything'],
    'removing a mapping never gives its slot back',
  ),
  vfioMutant(
    'overlap-not-checked',
    [
      'reachable-frame-pinned',
      'frame-refcount-matches-holders',
      'locked-vm-matches-pins',
      'mappings-disjoint',
      'domains-match-mappings',
      'iommu-matches-vfio',
      'released-container-uncharged',
      'round-trip-returns-everything',
    ],
    'MAP_DMA skips the overlap search',
  ),
  vfioMutant(
    'map-unwind-returns-slot-twice',
    ['counters-in-range', 'dma-slots-accounted', 'failed-op-leaves-state-unchanged'],
    'a MAP_DMA that fails part-way gives its dma_entry_limit slot back twice (vfio_remove_dma, then the error path): dma_avail climbs above dma_entry_limit',
  ),
  mixedMutant(
    'mdev-ignores-unmap',
    ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
    "the mdev's dma_unmap callback keeps its pins of a range the IOMMU maps too: UNMAP_DMA BUG_ONs",
  ),
  mixedMutant(
    'close-keeps-pins',
    ['closed-device-holds-nothing'],
    'closing an emulated device keeps its pins, next to an assigned device',
  ),
  mixedMutant(
    'dma-unmap-under-iommu-lock',
    ['no-operation-waits-forever'],
    "UNMAP_DMA calls the mdev's dma_unmap with iommu->lock held, next to an assigned device: the driver's vfio_unpin_pages takes the lock its caller holds and the unmap waits forever (v6.12 vfio_notify_dma_unmap drops the lock around the callbacks for this reason; c086de818dd8)",
  ),
];

/**
 * A flawed ordering of the VT-d model's deferred flushing, which only an interleaving shows: the
 * flush-queue timer between an unmap's queueing and its PTE clear. (VFIO's unpin before the IOTLB
 * sync is the registry's `iommu/unpin-before-sync`.)
 */
export const passthroughInterleavingMutants: readonly PassthroughDesign[] = [
  iommuMutant(
    'lazy-held',
    'fq-queues-before-pte-clear',
    // Also, less often within a default run, no-stale-iotlb-outside-flush-queue.
    ['iommu-matches-vfio'],
    'the unmap queues its flush-queue entry before clearing the PTEs: a timer flush in between leaves the entry released and the IOTLB refilled from the still-present PTE',
  ),
];
