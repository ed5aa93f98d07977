/**
 * The VFIO stacks' small scope for `dmaprop explore` (exhaustive breadth-first search).
 *
 * Covered, from every state, in this order: MAP_DMA of one page at iova pages 0 and 1 from the
 * guest's first two RAM pages (read-write), UNMAP_DMA of one page at iova pages 0 and 1, and
 * UNMAP_DMA ALL, in a world with VM_PFNMAP VMAs MAP_DMA of the BAR's and the driver buffer's first
 * page at iova pages 0 and 1, VFIO_IOMMU_GET_INFO with argsz = sizeof(info) and 4096, CHECK_EXTENSION(VFIO_UPDATE_VADDR)
 * (none of them in a noiommu container, which has no MAP/UNMAP); device DMA reads by
 * the world's first vfio-pci device, at iova pages 0 and 1 (type1) or at every bus address (every
 * frame number, noiommu); vfio_pin_pages and a correct unpin of iova pages 0 and 1 by the first
 * mdev, a one-page channel program started, run or completed by the first ccw device, and closing
 * either; the VMM discarding (MADV_DONTNEED) and munmapping its first two RAM pages; another owner
 * taking a free frame; two requests that fail after changing state (a two-page MAP_DMA running off
 * the end of the guest's RAM, a two-page vfio_pin_pages at iova page 0: their unwinds run); the
 * lifecycle of the first vfio-pci device (close, open, its group out and back, VFIO_SET_IOMMU).
 *
 * Interleavings: each MAP_DMA, UNMAP_DMA, device DMA and vfio_pin_pages template is also tried
 * started (`phased: true`, left in flight after its first phase), and each operation in flight can
 * be advanced (`advance`, one template per operation). The key is the whole state, the operations
 * in flight with it (in their order: an advance names its operation by its place).
 *
 * Left out: multi-page and malformed ioctl arguments (the model's unit tests and the random
 * search cover them), read-only mappings, DMA writes (only where an access lands matters), fault
 * injection (the failing requests above reach the unwinds without it), and the emulated groups'
 * lifecycle.
 *
 * Symmetry: host frames are interchangeable identities, so the key and the fingerprint rename them
 * in order of first appearance (`../generic/frame-symmetry.ts`; the fields that hold one are
 * `vfioFrameFields`, and in a noiommu world a started device DMA's bus address). The model only
 * compares, stores and frees frames, and takes them in free-list order (kept in the key): type1
 * pins and maps page by page and keeps no runs (`models/vfio/pin.ts`: Linux's batching of
 * physically contiguous pfns in vfio_pin_pages_remote and its one iommu_map per run decide nothing
 * the model shows, as there is no IOMMU behind this stack to see a run), a VM_PFNMAP page's pfn is
 * told from RAM by whether it is a frame at all (`pfnmap.ts`, kept: no renamed frame takes a number
 * past the frame count), the zero page is named by `zeroMfn` (renamed with it), and a guest RAM
 * region populated contiguously (`state.ts`, lowest free first) is populated at creation only, in
 * every state's common past. A noiommu device reads every bus address (one template per frame), a
 * set that a renaming maps onto itself. The invariants compare frames and owners. The allocation
 * counter and a page fault's record of it are left out except under the `random` policy. IOVA and
 * vaddr pages are addresses (ranges, `iovaPage + i`) and stay; devices, groups and the mm are named
 * by the templates. `test/explore/frame-symmetry.test.ts` checks merges one step deep.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import { VFIO_NOIOMMU_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../models/vfio/container.js';
import { phasedVfioKinds } from '../../models/vfio/inflight.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import { VFIO_IOMMU_INFO_SIZE, VFIO_UPDATE_VADDR } from '../../models/vfio/query.js';
import type { VfioState } from '../../models/vfio/types.js';
import { unmapAllArgs, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import type { ExploreScope } from '../../src/design.js';
import { FrameSymmetry } from '../generic/frame-symmetry.js';
import type { FrameSplit } from '../generic/frame-symmetry.js';
import { ADVANCE } from '../generic/interleave.js';
import { OTHER_OWNER, RAM_VADDR_PAGE } from './world.js';
import type { VfioWorldLayout } from './world.js';

const pages = [0, 1];

/**
 * The emulated drivers' commands over `iovaPages`: vfio_pin_pages and a correct unpin of each page by
 * the world's first mdev, a one-page channel program started and run at each page and completed by
 * its first ccw device, and closing either. None in a world without them.
 */
export function driverTemplates(layout: VfioWorldLayout, iovaPages: readonly number[]): VfioCommand[] {
  const [mdev] = layout.mdevDevices;
  const [ccw] = layout.ccwDevices;
  return [
    ...(mdev === undefined
      ? []
      : [
          ...iovaPages.map((iovaPage): VfioCommand => ({
            kind: 'mdevPinPages',
            deviceId: mdev,
            iovaPage,
            npage: 1,
            read: true,
            write: true,
          })),
          ...iovaPages.map((iovaPage): VfioCommand => ({ kind: 'mdevUnpinPages', deviceId: mdev, iovaPage, npage: 1 })),
        ]),
    ...(ccw === undefined
      ? []
      : [
          ...iovaPages.map((iovaPage): VfioCommand => ({
            kind: 'ccwStartIo',
            deviceId: ccw,
            program: [{ iovaPage, write: false }],
          })),
          ...iovaPages.map((iovaPage): VfioCommand => ({
            kind: 'ccwRunIo',
            deviceId: ccw,
            program: [{ iovaPage, write: false }],
          })),
          { kind: 'ccwCompleteIo', deviceId: ccw } as const,
        ]),
    ...[mdev, ccw].flatMap((deviceId): VfioCommand[] =>
      deviceId === undefined ? [] : [{ kind: 'closeDevice', deviceId }],
    ),
  ];
}

function templatesFor(layout: VfioWorldLayout): VfioCommand[] {
  const memory: VfioCommand[] = [
    ...pages.map((offset): VfioCommand => ({ kind: 'discard', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
    ...pages.map((offset): VfioCommand => ({ kind: 'munmap', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
    { kind: 'allocateToOther', owner: OTHER_OWNER },
  ];
  const ioctls: VfioCommand[] = layout.noiommu
    ? []
    : [
        ...pages.flatMap((iovaPage) =>
          pages.map((offset): VfioCommand => ({
            kind: 'mapDma',
            ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + offset, iovaPage, npages: 1 }),
          })),
        ),
        ...pages.map((iovaPage): VfioCommand => ({ kind: 'unmapDma', ...unmapDmaArgs({ iovaPage, npages: 1 }) })),
        { kind: 'unmapDma', ...unmapAllArgs() },
        // A world with VM_PFNMAP VMAs: the BAR's first page and the driver's buffer mapped at iova 0 and 1.
        ...[
          layout.barPages > 0 ? [layout.barVaddrPage] : [],
          layout.driverBufferPages > 0 ? [layout.bufferVaddrPage] : [],
        ]
          .flat()
          .flatMap((vaddrPage) =>
            pages.map((iovaPage): VfioCommand => ({
              kind: 'mapDma',
              ...mapDmaArgs({ vaddrPage, iovaPage, npages: 1 }),
            })),
          ),
        // With the zero page: a read of the lazily faulted page (it maps the zero page) and a
        // read-only MAP_DMA of it (the long-term pin unshares it).
        ...(layout.zeroPage
          ? [
              { kind: 'touch', vaddrPage: layout.lazyVaddrPage, write: false } as const,
              {
                kind: 'mapDma',
                ...mapDmaArgs({ vaddrPage: layout.lazyVaddrPage, iovaPage: 0, npages: 1, write: false }),
              } as const,
            ]
          : []),
        // The queries QEMU starts with: GET_INFO with argsz = sizeof(info), then with room for the
        // capability chain, and whether it may live-update.
        { kind: 'getInfo', argsz: VFIO_IOMMU_INFO_SIZE },
        { kind: 'getInfo', argsz: 4096 },
        { kind: 'checkExtension', extension: VFIO_UPDATE_VADDR },
      ];
  const [pci] = layout.pciDevices;
  const addressPages = layout.noiommu ? Array.from({ length: layout.frames }, (_, mfn) => mfn) : pages;
  const dma: VfioCommand[] =
    pci === undefined
      ? []
      : addressPages.map((addressPage): VfioCommand => ({
          kind: 'deviceDma',
          deviceId: pci,
          addressPage,
          write: false,
        }));
  return [...ioctls, ...unwinding(layout), ...dma, ...driverTemplates(layout, pages), ...memory, ...lifecycle(layout)];
}

/**
 * Requests that fail after changing state, so that their unwind runs: a two-page MAP_DMA from the
 * guest's last RAM page (its second page has no vaddr: EFAULT after the first is pinned) and a
 * two-page vfio_pin_pages at iova page 0 (the second page fails unless iova page 1 is mapped).
 */
function unwinding(layout: VfioWorldLayout): VfioCommand[] {
  if (layout.noiommu) return [];
  const [mdev] = layout.mdevDevices;
  // With VM_PFNMAP VMAs, the same from the BAR's and the driver buffer's last page (no page after them).
  const pfnmapLast = [
    ...(layout.barPages > 0 ? [layout.barVaddrPage + layout.barPages - 1] : []),
    ...(layout.driverBufferPages > 0 ? [layout.bufferVaddrPage + layout.driverBufferPages - 1] : []),
  ];
  return [
    { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + layout.ramPages - 1, iovaPage: 2, npages: 2 }) },
    ...pfnmapLast.map((vaddrPage): VfioCommand => ({
      kind: 'mapDma',
      ...mapDmaArgs({ vaddrPage, iovaPage: 2, npages: 2 }),
    })),
    ...(mdev === undefined
      ? []
      : [{ kind: 'mdevPinPages', deviceId: mdev, iovaPage: 0, npage: 2, read: true, write: true } as const]),
  ];
}

/**
 * The container's lifecycle around the first vfio-pci device: its fd closed and opened, its group
 * out of the container and back (the attach replays the mappings an emulated group kept), and
 * VFIO_SET_IOMMU (v2) once the backend was released.
 */
function lifecycle(layout: VfioWorldLayout): VfioCommand[] {
  const [pci] = layout.pciDevices;
  const groupId = pci === undefined ? undefined : layout.devices[pci]?.groupId;
  if (pci === undefined || groupId === undefined) return [];
  return [
    { kind: 'closeDevice', deviceId: pci },
    { kind: 'openDevice', deviceId: pci },
    { kind: 'groupUnsetContainer', groupId },
    { kind: 'groupSetContainer', groupId },
    { kind: 'setIommu', type: layout.noiommu ? VFIO_NOIOMMU_IOMMU : VFIO_TYPE1v2_IOMMU },
  ];
}

/** The kinds that take time (`models/vfio/inflight.ts`). */
const phasedKinds: ReadonlySet<string> = new Set(phasedVfioKinds);

/** Each phased template also started, left in flight after its first phase (at most `cap` of a kind). */
export function startedTemplates<C extends { readonly kind: string }>(templates: readonly C[], cap = 4): C[] {
  const perKind = new Map<string, number>();
  return templates.flatMap((template) => {
    if (!phasedKinds.has(template.kind)) return [];
    const count = perKind.get(template.kind) ?? 0;
    if (count >= cap) return [];
    perKind.set(template.kind, count + 1);
    return [{ ...template, phased: true }];
  });
}

/** An advance of each operation in flight, oldest first. */
export function advanceTemplates<C>(inflight: number): C[] {
  return Array.from({ length: inflight }, (_, op) => ({ kind: ADVANCE, op }) as C);
}

export interface ScopeOptions {
  /** Start each phased operation and advance those in flight too (default true); false: atomic only. */
  readonly interleavings?: boolean;
}

export function vfioExploreScope(
  layout: VfioWorldLayout,
  options: ScopeOptions = {},
): ExploreScope<VfioState, VfioCommand> {
  const interleavings = options.interleavings ?? true;
  const atomic = templatesFor(layout);
  const templates = interleavings ? [...atomic, ...startedTemplates(atomic)] : atomic;
  const symmetry = layout.noiommu ? noiommuFrameSymmetry : vfioFrameSymmetry;
  return {
    description: `VFIO, ${layout.name}: one-page MAP/UNMAP at iova pages 0-1, device or driver accesses, VMM memory changes (${templates.length} commands per state${interleavings ? ', the phased ones also started, and an advance of each operation in flight' : ''}; frames renamed in order of first appearance)`,
    templates: (state) =>
      interleavings && state.inflight.length > 0
        ? [...templates, ...advanceTemplates<VfioCommand>(state.inflight.length)]
        : templates,
    key: (state) => symmetry.key(vfioFrameSplit(state)),
    fingerprint: (state) => symmetry.fingerprint(vfioFrameSplit(state)),
  };
}

/**
 * The fields of a VFIO state that hold a frame number (see the header): a page's, a translation's,
 * an external pin's, a channel program's, another owner's and an operation's `mfn`, a started
 * MAP_DMA's `mfns`, a started driver pin's `firstMfn`, the zero page's `zeroMfn`, and a page fault
 * record's `freeListBefore`. In a noiommu world a device's address is a frame too: a started
 * device DMA's `addressPage`.
 */
export const vfioFrameFields: readonly string[] = ['mfn', 'mfns', 'firstMfn', 'zeroMfn', 'freeListBefore'];
const vfioFrameSymmetry = new FrameSymmetry(vfioFrameFields);
const noiommuFrameSymmetry = new FrameSymmetry([...vfioFrameFields, 'addressPage']);

/** A VFIO state as the frame renaming takes it: its host memory, and the rest. */
export function vfioFrameSplit(state: VfioState): FrameSplit {
  const { memory, ...view } = state;
  return { view, memory };
}
