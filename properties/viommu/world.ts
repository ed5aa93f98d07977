/**
 * The world of the vIOMMU stack, set up the way the VMM does before the guest runs: the VFIO
 * passthrough world (one IOMMU group with the assigned vfio-pci device; the guest's 8 RAM pages in
 * the VMM process, backed by contiguous frames; another VM holding a frame; 16 frames, LIFO reuse)
 * with its host IOMMU domain in the VT-d model.
 *
 * shadow: a VFIO_TYPE1v2_IOMMU container with nothing mapped; the VMM maps on trapped
 * invalidations. nested: a VFIO_TYPE1_NESTING_IOMMU container (its domain is a nesting parent)
 * with every RAM page mapped at IOVA = GPA, one MAP_DMA per page (so that a balloon request can
 * unmap one page), and the device moved onto a nested domain on it that walks the guest's table.
 *
 * Limits: RLIMIT_MEMLOCK and dma_entry_limit are 16 pages and mappings, above anything either
 * design needs (nested pins the 8 RAM pages; shadow one page per mapped GIOVA page), so the
 * designs are compared on their mechanisms, not on running out of either.
 */
import type { IommuCaps } from '../../models/iommu/types.js';
import type { AllocPolicy } from '../../models/memory/frames.js';
import {
  applyPassthroughCommand,
  clonePassthroughState,
  createPassthroughState,
} from '../../models/passthrough/step.js';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import { VFIO_TYPE1_NESTING_IOMMU, VFIO_TYPE1v2_IOMMU } from '../../models/vfio/container.js';
import { createVfioState } from '../../models/vfio/state.js';
import type { ViommuConfig, ViommuState } from '../../models/viommu/types.js';
import { ASSIGNED_DEVICE, bindGuestFirstLevel, mapGuestPage } from '../../models/viommu/vmm.js';
import { RAM_PAGES, RAM_VADDR_PAGE, vfioWorldSpec } from '../vfio/world.js';

/** A small IOTLB, so that eviction happens in short runs. */
export const viommuIommuCaps: Partial<IommuCaps> = { iotlbEntries: 8 };
export const VIOMMU_LIMIT = 16;

export function initViommuWorld(config: ViommuConfig, policy?: AllocPolicy): ViommuState {
  const base = vfioWorldSpec('passthrough', policy, { contiguousRam: true });
  const spec = {
    ...base,
    process: { ...base.process, memlockLimitPages: VIOMMU_LIMIT },
    params: { ...base.params, dmaEntryLimit: VIOMMU_LIMIT },
  };
  const host = createPassthroughState(createVfioState(spec), viommuIommuCaps);
  const nested = config.mode === 'nested';
  const setup: PassthroughCommand[] = [
    { kind: 'groupSetContainer', groupId: 0 },
    { kind: 'setIommu', type: nested ? VFIO_TYPE1_NESTING_IOMMU : VFIO_TYPE1v2_IOMMU },
    { kind: 'openDevice', deviceId: ASSIGNED_DEVICE },
  ];
  if (nested) {
    for (let gpaPage = 0; gpaPage < RAM_PAGES; gpaPage++)
      setup.push(mapGuestPage(RAM_VADDR_PAGE + gpaPage, gpaPage, true));
  }
  for (const command of setup) {
    const result = applyPassthroughCommand(host, config.host, command);
    if (!result.ok) throw new Error(`vIOMMU world setup: ${command.kind} refused with ${String(result.error)}`);
  }
  const nestedDid = nested ? bindGuestFirstLevel(host) : null;
  return {
    host: clonePassthroughState(host),
    guest: { table: {}, ballooned: [] },
    guestRam: { vaddrPage: RAM_VADDR_PAGE, pages: RAM_PAGES },
    nestedDid,
  };
}
