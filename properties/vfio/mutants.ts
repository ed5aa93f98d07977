/**
 * Deliberately broken variants of the VFIO stacks' mechanisms, for the meta-tests: each carries
 * one bug from the VFIO model's catalogue and names the invariants expected to catch it. The
 * `mixed` ones show a driver's bug where its pins sit on pages the IOMMU path pins too.
 */
import type { VfioCommandKind } from '../../models/vfio/commands.js';
import type { VfioBug } from '../../models/vfio/config.js';
import { vfioDesign } from './design.js';
import type { VfioDesign } from './design.js';
import type { VfioWorldPreset } from './world.js';

function mutant(
  world: VfioWorldPreset,
  bug: VfioBug,
  catches: readonly string[],
  description: string,
  preempt?: readonly VfioCommandKind[],
): VfioDesign {
  return vfioDesign({
    id: `mutant/vfio-${world}/${bug}`,
    world,
    vfioBugs: [bug],
    expected: 'violates',
    breaks: catches,
    description,
    ...(preempt === undefined ? {} : { preempt }),
  });
}

export const vfioMutants: readonly VfioDesign[] = [
  mutant(
    'passthrough',
    'unmap-skips-unpin',
    ['frame-refcount-matches-holders'],
    'forgotten reference drop: UNMAP_DMA never unpins',
  ),
  mutant(
    'passthrough',
    'map-failure-leaks-pins',
    ['frame-refcount-matches-holders', 'failed-op-leaves-state-unchanged'],
    'a MAP_DMA that fails part-way leaves its pins',
  ),
  mutant(
    'passthrough',
    'locked-vm-not-uncharged',
    ['locked-vm-matches-pins', 'released-container-uncharged'],
    'unpinning never uncharges locked_vm',
  ),
  mutant('passthrough', 'map-skips-memlock-check', ['locked-vm-within-limit'], 'MAP_DMA never checks RLIMIT_MEMLOCK'),
  mutant(
    'passthrough',
    'unmap-leaks-dma-slot',
    ['dma-slots-accounted'],
    'removing a mapping never gives its dma_entry_limit slot back',
  ),
  mutant(
    'passthrough',
    'overlap-not-checked',
    ['mappings-disjoint', 'domains-match-mappings'],
    'MAP_DMA skips the overlap search',
  ),
  mutant(
    'mediated',
    'close-keeps-pins',
    ['closed-device-holds-nothing'],
    'skipped tidy-up: closing a device keeps its pins',
  ),
  mutant(
    'mediated',
    'mdev-unpins-foreign-pins',
    ['reachable-frame-pinned'],
    "the driver unpins whole ranges, dropping another driver's pins",
  ),
  mutant(
    'mixed',
    'mdev-ignores-unmap',
    ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
    'next to an assigned device, the driver keeps its pins of an IOMMU-mapped range through dma_unmap: BUG_ON',
  ),
];

/**
 * Flawed orderings of VFIO's operations that take time (`models/vfio/phased-*.ts`), which only an
 * interleaving shows: run atomically, each holds.
 */
export const vfioInterleavingMutants: readonly VfioDesign[] = [
  mutant(
    'passthrough',
    'map-before-pin',
    [
      'reachable-frame-pinned',
      'reachable-frame-owned-by-guest',
      'frame-refcount-matches-holders',
      'locked-vm-matches-pins',
    ],
    'MAP_DMA maps each page before pinning it: until the pin the device reaches a frame nothing pins',
  ),
  mutant(
    'mediated',
    'unmap-skips-recheck',
    ['frame-refcount-matches-holders', 'locked-vm-matches-pins'],
    'UNMAP_DMA, back under iommu->lock after the dma_unmap callbacks, removes the mapping without walking again: a pin taken meanwhile leaks',
    // The window changed is UNMAP_DMA's: its generation preempts UNMAP_DMA alone (as the XenGT
    // teardown mutant its teardown), not the other windows, which would share a sequence's few
    // preemptions with it. Preempting every window, it missed one seed in 20 (median run 156).
    ['unmapDma'],
  ),
  mutant(
    'mediated',
    'mdev-records-pin-unlocked',
    ['no-kernel-crash', 'failed-op-leaves-state-unchanged'],
    'the driver records a pin outside its lock: its dma_unmap misses it, and UNMAP_DMA retries until BUG_ON',
  ),
  mutant(
    'mediated',
    'ccw-unmap-skips-quiesce',
    ['reachable-frame-pinned'],
    "vfio-ccw's dma_unmap frees the channel program without quiescing the subchannel: the I/O reaches unpinned pages",
  ),
];
