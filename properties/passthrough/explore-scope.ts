/**
 * The small scope of VFIO over VT-d for `dmaprop explore`.
 *
 * Covered, from every state, in this order: MAP_DMA of one page at iova pages 511 and 512 (the last
 * page of the first leaf table and the first of the next) from the guest's first two RAM pages,
 * and of two pages at 511 (across the boundary); UNMAP_DMA of one page at 511 and 512, and
 * UNMAP_DMA ALL; device DMA reads by the world's first vfio-pci device at 511 and 512; the
 * flush-queue timer (lazy modes); in a world with emulated devices, their drivers' pins, unpins,
 * channel programs and closes at 511 and 512 (`driverTemplates`); the VMM discarding and
 * munmapping its first two RAM pages; another owner taking a free frame.
 *
 * Interleavings: each MAP_DMA, UNMAP_DMA, device DMA and vfio_pin_pages template also started, and
 * an advance of each operation in flight (`../vfio/explore-scope.ts`); the key holds the operations
 * in flight with the rest of the state.
 *
 * In a world of several IOMMU groups, the lifecycle too (`lifecycleTemplates`): devices closed,
 * groups out and back, every device's reads, and the first device's PASID 1 attached, read with
 * and detached. The first-level designs (`firstLevelOnly`) have those PASID commands in a one-group
 * world too (`pasids`); the designs with a context cache (`detachWindow`) a one-group world's way
 * out: the device closed, the group out, atomic and started phased.
 *
 * Left out: malformed ioctl arguments, DMA writes, read-only mappings, fault injection, the
 * container lifecycle of one-group worlds (VFIO_SET_IOMMU, opening devices).
 *
 * No symmetry reduction: the key is the whole state. Host frames are not interchangeable here, as
 * they are on VFIO alone (`../vfio/explore-scope.ts`), because the IOMMU behind VFIO sees where
 * they sit. `models/passthrough/forward.ts` (type1's `vfio_unmap_unpin`, `batch_to_domain`) turns
 * VFIO's page-by-page effects into one IOMMU map or unmap per run of consecutive IOVA pages on
 * physically consecutive frames (`extends_`: `mfn === run.mfn + run.pages`), and this scope has
 * runs of two: the two-page MAP_DMA at 511 and UNMAP_DMA ALL. Whether RAM pages 0 and 1 sit on
 * adjacent frames therefore decides how many unmaps the IOMMU gets, so how many flush-queue entries
 * a lazy domain queues (and when its queue is full), which range each invalidation covers, and
 * which frames `lazy-held` holds per entry; the IOMMU's leaves and reference map store a run by its
 * first frame and a page count (`models/iommu/views.ts` counts `frame + k`), and a superpage needs
 * 512 aligned consecutive frames. A renaming that moves a frame next to another changes those
 * outcomes; the only renamings that keep every adjacency are the identity and shifts, which save no
 * states. IOVA pages are addresses (the leaf-table boundary at 512 is the point of the scope), and
 * devices, groups and PASIDs are named by the templates.
 *
 * The fingerprint is written from the state's own words (`./state-words.ts`, issue 23: the generic
 * walk was a third of the search), with the same partition as `stableFingerprint(state)`: the key's.
 */
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import { unmapAllArgs, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { advanceTemplates, driverTemplates, startedTemplates } from '../vfio/explore-scope.js';
import type { ScopeOptions } from '../vfio/explore-scope.js';
import { OTHER_OWNER, RAM_VADDR_PAGE } from '../vfio/world.js';
import { passthroughStateFingerprint } from './state-words.js';
import type { VfioWorldLayout } from '../vfio/world.js';

const iovaPages = [511, 512];
const ramOffsets = [0, 1];

function templatesFor(layout: VfioWorldLayout, withFlushQueue: boolean, pasids: boolean): PassthroughCommand[] {
  const deviceId = layout.pciDevices[0] ?? 0;
  const lifecycle = lifecycleTemplates(layout);
  return [
    ...iovaPages.flatMap((iovaPage) =>
      ramOffsets.map((offset): PassthroughCommand => ({
        kind: 'mapDma',
        ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE + offset, iovaPage, npages: 1 }),
      })),
    ),
    { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: RAM_VADDR_PAGE, iovaPage: 511, npages: 2 }) },
    ...iovaPages.map((iovaPage): PassthroughCommand => ({
      kind: 'unmapDma',
      ...unmapDmaArgs({ iovaPage, npages: 1 }),
    })),
    { kind: 'unmapDma', ...unmapAllArgs() },
    ...iovaPages.map((addressPage): PassthroughCommand => ({
      kind: 'deviceDma',
      deviceId,
      addressPage,
      write: false,
    })),
    ...(withFlushQueue ? [{ kind: 'drainFlushQueue' } as const] : []),
    ...driverTemplates(layout, iovaPages),
    ...ramOffsets.map((offset): PassthroughCommand => ({
      kind: 'discard',
      vaddrPage: RAM_VADDR_PAGE + offset,
      npages: 1,
    })),
    ...ramOffsets.map((offset): PassthroughCommand => ({
      kind: 'munmap',
      vaddrPage: RAM_VADDR_PAGE + offset,
      npages: 1,
    })),
    { kind: 'allocateToOther', owner: OTHER_OWNER },
    ...lifecycle,
    // A one-group world's PASIDs, when the design asks (its domains first-level: §3.12).
    ...(pasids && lifecycle.length === 0 ? pasidTemplates(deviceId) : []),
  ];
}

/**
 * The lifecycle scope, in a world of several IOMMU groups (a group can leave with the guest's
 * memory still mapped for another): every vfio-pci device closed, each group out of the container
 * and back, and the other devices' reads at iova pages 511 and 512 (the first device's are above).
 */
function lifecycleTemplates(layout: VfioWorldLayout): PassthroughCommand[] {
  if (layout.groups.filter((group) => group.kind === 'iommu').length < 2) return [];
  return [
    ...layout.pciDevices.slice(1).flatMap((deviceId) =>
      iovaPages.map((addressPage): PassthroughCommand => ({
        kind: 'deviceDma',
        deviceId,
        addressPage,
        write: false,
      })),
    ),
    // The first device's PASID 1 (§3.12): attached, a read with it at iova page 511, detached.
    ...pasidTemplates(layout.pciDevices[0] ?? 0),
    ...layout.pciDevices.map((deviceId): PassthroughCommand => ({ kind: 'closeDevice', deviceId })),
    ...layout.groupIds.map((groupId): PassthroughCommand => ({ kind: 'groupUnsetContainer', groupId })),
    ...layout.groupIds.map((groupId): PassthroughCommand => ({ kind: 'groupSetContainer', groupId })),
  ];
}

function pasidTemplates(deviceId: number): PassthroughCommand[] {
  return [
    { kind: 'attachPasid', deviceId, pasid: 1 },
    { kind: 'pasidDma', deviceId, pasid: 1, addressPage: 511, write: false },
    { kind: 'detachPasid', deviceId, pasid: 1 },
  ];
}

/**
 * The scope's options: VFIO's, `pasids` (the first device's PASID 1 in a one-group world too) and
 * `detachWindow` (an IOMMU with a context cache: in a one-group world the first device closed and
 * the group out of the container, atomic and started phased, `groupWindowTemplates`) and `kdump`
 * (a kdump kernel's world: each device's probe ends, `models/passthrough/kdump.ts`).
 */
export interface PassthroughScopeOptions extends ScopeOptions {
  readonly pasids?: boolean;
  readonly detachWindow?: boolean;
  /** A kdump kernel's world: the probe's end (`finishCopiedAttach`) for each vfio-pci device. */
  readonly kdump?: boolean;
}

/**
 * A one-group world's way out (`detachWindow`): the first vfio-pci device closed, the group out of
 * the container, and (with interleavings) the same started phased — type1's `iommu_detach_group`,
 * then the rest of its detach — with the device's reads in between.
 */
function groupWindowTemplates(layout: VfioWorldLayout, interleavings: boolean): PassthroughCommand[] {
  if (layout.groups.filter((group) => group.kind === 'iommu').length >= 2) return [];
  const groupId = layout.groupIds[0] ?? 0;
  return [
    { kind: 'closeDevice', deviceId: layout.pciDevices[0] ?? 0 },
    { kind: 'groupUnsetContainer', groupId },
    ...(interleavings ? [{ kind: 'groupUnsetContainer', groupId, phased: true } as const] : []),
  ];
}

export function passthroughExploreScope(
  layout: VfioWorldLayout,
  withFlushQueue: boolean,
  options: PassthroughScopeOptions = {},
): ExploreScope<PassthroughState, PassthroughCommand> {
  const interleavings = options.interleavings ?? true;
  const atomic = templatesFor(layout, withFlushQueue, options.pasids ?? false);
  const window = [
    ...(options.detachWindow === true ? groupWindowTemplates(layout, interleavings) : []),
    ...(options.kdump === true
      ? layout.pciDevices.map((deviceId): PassthroughCommand => ({ kind: 'finishCopiedAttach', deviceId }))
      : []),
  ];
  const templates = interleavings ? [...atomic, ...startedTemplates(atomic), ...window] : [...atomic, ...window];
  return {
    description: `VFIO over VT-d: one- and two-page MAP/UNMAP around the leaf-table boundary (iova pages 511-512), device reads, ${withFlushQueue ? 'the flush-queue timer, ' : ''}VMM memory changes (${templates.length} commands per state${interleavings ? ', the phased ones also started, and an advance of each operation in flight' : ''}; no symmetry reduction: the IOMMU sees physically contiguous runs)`,
    templates: (state) =>
      interleavings && state.vfio.inflight.length > 0
        ? [...templates, ...advanceTemplates<PassthroughCommand>(state.vfio.inflight.length)]
        : templates,
    key: (state) => stableJson(state),
    // The same partition as `stableFingerprint(state)`, from compact words (`./state-words.ts`).
    fingerprint: (state) => passthroughStateFingerprint(state),
  };
}
