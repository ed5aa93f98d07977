/**
 * Mediated devices on VFIO type1: a container world of our own. The VFIO stack has no hook; its
 * decision points are the kernel's, so a design chooses the world and, to ask "what if", one of
 * the model's named deviations (`vfioBugs`).
 *
 * The question: two GVT-g style mdevs and a vfio-ccw style device share one container, under a
 * tight RLIMIT_MEMLOCK. Does type1 keep each driver's pins apart? It does (`holds`). And if the
 * generic mediated driver unpinned a whole range, including IOVAs it never pinned itself
 * (`mdev-unpins-foreign-pins`)? Then the container-wide pin counts drop under the other driver's
 * feet: the other mdev's device still reaches a frame nothing pins.
 */
import { vfioDesign } from 'dmaprop';
import type { VfioDesign, VfioWorldDescription } from 'dmaprop';

export const world: VfioWorldDescription = {
  groups: [{ kind: 'emulated', mdev: 2, ccw: 1 }],
  frames: 20,
  ramPages: 8,
  memlockLimitPages: 4, // below the RAM: the drivers' pins run into RLIMIT_MEMLOCK
  dmaEntryLimit: 3,
};

export const vfioTwoMdevs: VfioDesign = vfioDesign({
  id: 'example/vfio-two-mdevs',
  world,
  expected: 'holds',
  description: 'two mdevs and a ccw device pin through one container under a tight RLIMIT_MEMLOCK',
});

export const vfioTwoMdevsForeignUnpin: VfioDesign = vfioDesign({
  id: 'example/vfio-two-mdevs-foreign-unpin',
  world,
  vfioBugs: ['mdev-unpins-foreign-pins'],
  expected: 'violates',
  breaks: ['reachable-frame-pinned'],
  description: "the generic mdev driver unpins a whole range, including the other mdev's pins",
});
