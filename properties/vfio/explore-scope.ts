/**
 * The VFIO stacks' small scope for `dmaprop explore` (exhaustive breadth-first search).
 *
 * Covered, from every state, in this order: MAP_DMA of one page at iova pages 0 and 1 from the
 * guest's first two RAM pages (read-write), UNMAP_DMA of one page at iova pages 0 and 1, and
 * UNMAP_DMA ALL; the VMM discarding (MADV_DONTNEED) and munmapping its first two RAM pages;
 * another owner taking a free frame. Passthrough: device DMA reads at iova pages 0 and 1.
 * noiommu: device DMA reads at every bus address (every frame number; no MAP/UNMAP, which a
 * noiommu container does not have). Mediated: vfio_pin_pages and a correct unpin of iova pages 0
 * and 1 by the mdev, a one-page channel program started, run or completed by the ccw device, and
 * closing either device.
 *
 * Left out: multi-page and malformed ioctl arguments (the model's unit tests and the random
 * search cover them), read-only mappings, DMA writes (only where an access lands matters), fault
 * injection, and group/container lifecycle. No symmetry reduction yet: the key is the whole state.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import type { VfioState } from '../../models/vfio/types.js';
import { unmapAllArgs, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { FRAME_COUNT, OTHER_OWNER, RAM_VADDR_PAGE } from './world.js';
import type { VfioStackKind } from './world.js';

const pages = [0, 1];

function templatesFor(kind: VfioStackKind): VfioCommand[] {
  const memory: VfioCommand[] = [
    ...pages.map((offset): VfioCommand => ({ kind: 'discard', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
    ...pages.map((offset): VfioCommand => ({ kind: 'munmap', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
    { kind: 'allocateToOther', owner: OTHER_OWNER },
  ];
  if (kind === 'noiommu') {
    const dma = Array.from({ length: FRAME_COUNT }, (_, addressPage): VfioCommand => ({
      kind: 'deviceDma',
      deviceId: 0,
      addressPage,
      write: false,
    }));
    return [...dma, ...memory];
  }
  const ioctls: VfioCommand[] = [
    ...pages.flatMap((iovaPage) =>
      pages.map((offset): VfioCommand => ({
        kind: 'mapDma',
        ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + offset, iovaPage, npages: 1 }),
      })),
    ),
    ...pages.map((iovaPage): VfioCommand => ({ kind: 'unmapDma', ...unmapDmaArgs({ iovaPage, npages: 1 }) })),
    { kind: 'unmapDma', ...unmapAllArgs() },
  ];
  if (kind === 'passthrough') {
    return [
      ...ioctls,
      ...pages.map((addressPage): VfioCommand => ({ kind: 'deviceDma', deviceId: 0, addressPage, write: false })),
      ...memory,
    ];
  }
  const drivers: VfioCommand[] = [
    ...pages.map((iovaPage): VfioCommand => ({
      kind: 'mdevPinPages',
      deviceId: 0,
      iovaPage,
      npage: 1,
      read: true,
      write: true,
    })),
    ...pages.map((iovaPage): VfioCommand => ({ kind: 'mdevUnpinPages', deviceId: 0, iovaPage, npage: 1 })),
    ...pages.map((iovaPage): VfioCommand => ({
      kind: 'ccwStartIo',
      deviceId: 1,
      program: [{ iovaPage, write: false }],
    })),
    ...pages.map((iovaPage): VfioCommand => ({ kind: 'ccwRunIo', deviceId: 1, program: [{ iovaPage, write: false }] })),
    { kind: 'ccwCompleteIo', deviceId: 1 },
    { kind: 'closeDevice', deviceId: 0 },
    { kind: 'closeDevice', deviceId: 1 },
  ];
  return [...ioctls, ...drivers, ...memory];
}

export function vfioExploreScope(kind: VfioStackKind): ExploreScope<VfioState, VfioCommand> {
  const templates = templatesFor(kind);
  return {
    description: `VFIO ${kind}: one-page MAP/UNMAP at iova pages 0-1, device or driver accesses, VMM memory changes (${templates.length} commands per state, no symmetry reduction)`,
    templates: () => templates,
    key: (state) => stableJson(state),
  };
}
