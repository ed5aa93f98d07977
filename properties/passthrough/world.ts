/**
 * The world of the passthrough stack over VT-d: the VFIO passthrough world (one IOMMU group with a
 * vfio-pci device, the guest's RAM in the VMM process, another VM holding a frame) with its IOMMU
 * domain allocated in the VT-d model, set up the way the VMM does before the guest runs.
 *
 * The guest's RAM is backed by contiguous frames, so that MAP_DMA of several pages maps one
 * physically contiguous run with one `iommu_map`, as VFIO does.
 * Generated IOVAs sit at pages 508..515, across the boundary between the first two last-level
 * tables (page 512), so that one MAP_DMA can fill two leaf tables.
 */
import type { IommuCaps } from '../../models/iommu/types.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import {
  applyPassthroughCommand,
  clonePassthroughState,
  createPassthroughState,
} from '../../models/passthrough/step.js';
import type { PassthroughConfig, PassthroughState } from '../../models/passthrough/types.js';
import { createVfioState } from '../../models/vfio/state.js';
import { setupCommands, vfioWorldSpec } from '../vfio/world.js';

export const PASSTHROUGH_IOVA_BASE_PAGE = 508;

/** A small IOTLB and flush queue so that eviction and queue-full flushes happen in short runs. */
export const passthroughIommuCaps: Partial<IommuCaps> = { iotlbEntries: 8, flushQueueEntries: 4 };

export function initPassthroughWorld(config: PassthroughConfig, policy?: AllocPolicy): PassthroughState {
  const spec = vfioWorldSpec('passthrough', policy, { contiguousRam: true });
  const state = createPassthroughState(createVfioState(spec), passthroughIommuCaps);
  for (const command of setupCommands('passthrough', spec.devices.length)) {
    const result = applyPassthroughCommand(state, config, command);
    if (!result.ok) throw new Error(`passthrough world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  return clonePassthroughState(state);
}
