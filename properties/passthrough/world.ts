/**
 * The world of the passthrough stack over VT-d: a VFIO world (`../vfio/world.ts`) with at least
 * one IOMMU-backed group (by default the `passthrough` preset: one IOMMU group with a vfio-pci
 * device, the guest's RAM in the VMM process, another VM holding a frame), each VFIO domain
 * allocated in the VT-d model, set up the way the VMM does before the guest runs. Emulated groups
 * may share the container (the `mixed` preset): their drivers pin through VFIO, and only the
 * vfio-pci devices' DMA goes through the IOMMU. A VFIO_NO_IOMMU world has no IOMMU to run over.
 *
 * The guest's RAM is backed by contiguous frames, so that MAP_DMA of several pages maps one
 * physically contiguous run with one `iommu_map`, as VFIO does.
 * Generated IOVAs sit around page 512 (508..515 for 8 RAM pages), across the boundary between the
 * first two last-level tables, so that one MAP_DMA can fill two leaf tables.
 */
import type { IommuCaps } from '../../models/iommu/types.js';
import { PAGE_SIZE_BYTES } from '../../models/iommu/address.js';
import { createDomain } from '../../models/iommu/domain.js';
import { copyContextEntry } from '../../models/iommu/kdump.js';
import { map } from '../../models/iommu/map.js';
import { sourceIdOf } from '../../models/passthrough/forward.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import {
  applyPassthroughCommand,
  clonePassthroughState,
  createPassthroughState,
  startLifecycle,
} from '../../models/passthrough/step.js';
import type { PassthroughConfig, PassthroughState } from '../../models/passthrough/types.js';
import { createVfioState } from '../../models/vfio/state.js';
import { OTHER_OWNER, setupCommands, vfioWorldLayout, vfioWorldSpec } from '../vfio/world.js';
import type { VfioWorld, VfioWorldLayout } from '../vfio/world.js';

/** The first page of the second last-level table: generated IOVAs straddle it. */
export const LEAF_TABLE_BOUNDARY_PAGE = 512;

/** The first generated IOVA page: half the IOVA universe (as many pages as RAM) below the boundary. */
export function passthroughIovaBasePage(layout: VfioWorldLayout): number {
  return LEAF_TABLE_BOUNDARY_PAGE - Math.floor(layout.ramPages / 2);
}

/** A small IOTLB, flush queue and PASID cache so that eviction and queue-full flushes happen in short runs. */
export const passthroughIommuCaps: Partial<IommuCaps> = { iotlbEntries: 8, flushQueueEntries: 4, pasidCacheEntries: 4 };

/** A world's layout for the passthrough stack; throws when the world has no IOMMU-backed group. */
export function passthroughWorldLayout(world: VfioWorld): VfioWorldLayout {
  const layout = vfioWorldLayout(world);
  if (!layout.groups.some((group) => group.kind === 'iommu')) {
    throw new Error(
      `passthrough world: ${layout.name} has no IOMMU-backed group, so nothing would run over the VT-d model (vfioDesign checks such a world on VFIO alone)`,
    );
  }
  return layout;
}

/**
 * `caps`: the IOMMU's capabilities over `passthroughIommuCaps` (e.g. `coherentWalks: false`, an
 * IOMMU whose walks do not snoop the CPU's caches).
 */
export function initPassthroughWorld(
  config: PassthroughConfig,
  policy?: AllocPolicy,
  world: VfioWorld | VfioWorldLayout = 'passthrough',
  caps: Partial<IommuCaps> = {},
): PassthroughState {
  const layout = typeof world === 'object' && 'deviceIds' in world ? world : passthroughWorldLayout(world);
  const spec = vfioWorldSpec(layout, policy, { contiguousRam: true });
  const state = createPassthroughState(createVfioState(spec), { ...passthroughIommuCaps, ...caps });
  if (config.kdump !== undefined) return bootKdump(state, config, layout);
  // With the lifecycle, each group starts in its default domain; setup claims it for VFIO.
  if (config.lifecycle !== undefined) startLifecycle(state);
  for (const command of setupCommands(layout)) {
    const result = applyPassthroughCommand(state, config, command);
    if (!result.ok) throw new Error(`passthrough world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  return clonePassthroughState(state);
}

/**
 * A kdump kernel's world (`models/passthrough/kdump.ts`): the crashed kernel's domain maps the
 * generated IOVA range to the other VM's frames (memory the new kernel gives the device none of),
 * every vfio-pci device's context entry is a copy naming it, and the boot probes each device: its
 * default domain's attach is left at the window of the copied entry's teardown. VFIO has not yet
 * taken any group: the VMM issues its setup ioctls once the boot has probed every device (the last
 * `finishCopiedAttach`); until then the device is closed and released.
 */
function bootKdump(state: PassthroughState, config: PassthroughConfig, layout: VfioWorldLayout): PassthroughState {
  if (config.lifecycle === undefined || config.kdump === undefined) {
    throw new Error('passthrough world: a kdump kernel needs the group lifecycle (its probe attaches default domains)');
  }
  const created = createDomain(state.iommu, { type: 'unmanaged' });
  const didOld = created.detail?.['domainId'];
  const foreign = state.vfio.memory.frames.filter((frame) => frame.owner === OTHER_OWNER).map((frame) => frame.mfn);
  if (typeof didOld !== 'number' || foreign.length === 0) {
    throw new Error(
      `passthrough world: a kdump kernel needs another owner's frames for the crashed kernel's domain (${layout.name})`,
    );
  }
  const base = passthroughIovaBasePage(layout);
  for (let page = 0; page < layout.ramPages; page++) {
    const frame = foreign[page % foreign.length] ?? 0;
    const iova = (base + page) * PAGE_SIZE_BYTES;
    map(state.iommu, config.iommu, {
      domainId: didOld,
      iova,
      frame,
      sizeBytes: PAGE_SIZE_BYTES,
      read: true,
      write: true,
    });
  }
  for (const deviceId of layout.pciDevices)
    copyContextEntry(state.iommu, { deviceId: sourceIdOf(deviceId), domainId: didOld });
  startLifecycle(state, config.kdump.tearDown);
  state.vmmSetup = setupCommands(layout);
  return clonePassthroughState(state);
}
