/**
 * Generators of the passthrough stack over VT-d: the VFIO commands of the world (`world.ts`), with
 * IOVAs across a leaf-table boundary, and the flush-queue timer. The device's DMA and the VMM's
 * discards and munmaps mostly pick what the device reaches (`resolve.ts`); device ids, groups,
 * frames and RAM pages are the world's.
 */
import fc from 'fast-check';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandSpace } from '../../src/design.js';
import { preferOr } from '../prefer.js';
import { phasedSpace } from '../generic/interleave.js';
import { oneOf, vaddrPageIn, vfioArbitraries, vfioConflicts, vfioKindWeight, vfioPhases } from '../vfio/generators.js';
import { RAM_VADDR_PAGE } from '../vfio/world.js';
import type { VfioWorldLayout } from '../vfio/world.js';
import {
  VFIO_NOIOMMU_IOMMU,
  VFIO_TYPE1_IOMMU,
  VFIO_TYPE1v2_IOMMU,
  VFIO_UNMAP_ALL,
} from '../../models/vfio/container.js';
import type { PassthroughPickUniverse, PassthroughTemplate } from './resolve.js';
import { passthroughIovaBasePage } from './world.js';

/** The raw values a pick of this world falls back to: its IOVA universe and its RAM pages. */
export function passthroughPickUniverse(layout: VfioWorldLayout): PassthroughPickUniverse {
  return {
    iovaBasePage: passthroughIovaBasePage(layout),
    iovaPages: layout.ramPages,
    ramVaddrPage: RAM_VADDR_PAGE,
    ramPages: layout.ramPages,
  };
}

/**
 * PASIDs 1 and 2 (two PASIDs of a device, so one can be torn down while the other stays), now and
 * then 0 (`IOMMU_NO_PASID`) or 2^20 (beyond the PASID width), which attach refuses with EINVAL.
 */
const pasidArbitrary = fc.oneof(
  { weight: 12, arbitrary: fc.constantFrom(1, 2) },
  { weight: 1, arbitrary: fc.constantFrom(0, 2 ** 20) },
);

/**
 * A device's PASID attached to its VFIO domain, or detached; a detach (like a DMA with a PASID)
 * mostly picks a PASID the device has (`resolve.ts`).
 */
function pasidAttachment(layout: VfioWorldLayout): Record<string, fc.Arbitrary<PassthroughTemplate>> {
  const device = oneOf(layout.pciDevices);
  return {
    attachPasid: fc
      .record({ deviceId: device, pasid: pasidArbitrary })
      .map((fields): PassthroughTemplate => ({ kind: 'attachPasid', ...fields })),
    detachPasid: fc
      .record({ deviceId: device, pasid: preferOr(pasidArbitrary) })
      .map((fields): PassthroughTemplate => ({ kind: 'detachPasid', ...fields })),
  };
}

/** The kinds whose address is a pick: the devices' DMA, and the VMM giving memory back. */
function picked(layout: VfioWorldLayout): Record<string, fc.Arbitrary<PassthroughTemplate>> {
  const base = passthroughIovaBasePage(layout);
  const iovaPage = fc.integer({ min: base, max: base + layout.ramPages - 1 });
  const ramRange = fc.record({ vaddrPage: preferOr(vaddrPageIn(layout)), npages: fc.integer({ min: 1, max: 2 }) });
  return {
    deviceDma: fc
      .record({ deviceId: oneOf(layout.pciDevices), addressPage: preferOr(iovaPage), write: fc.boolean() })
      .map((args): PassthroughTemplate => ({ kind: 'deviceDma', ...args })),
    pasidDma: fc
      .record({
        deviceId: oneOf(layout.pciDevices),
        pasid: preferOr(pasidArbitrary),
        addressPage: preferOr(iovaPage),
        write: fc.boolean(),
      })
      .map((args): PassthroughTemplate => ({ kind: 'pasidDma', ...args })),
    discard: ramRange.map((args): PassthroughTemplate => ({ kind: 'discard', ...args })),
    munmap: ramRange.map((args): PassthroughTemplate => ({ kind: 'munmap', ...args })),
  };
}

/**
 * Relative frequencies: the guest's DMA traffic (map, DMA, unmap) dominates; another owner takes
 * free frames often (a freed frame's reuse is the exploit) and gives them back half as often; the
 * VMM's own memory changes, which mostly make later maps fail, are rarer; the timer, which retires
 * every stale IOTLB entry, fires now and then; closing the device, releasing the container and
 * fault injection (`vfioKindWeight`'s rare kinds), which end a run's DMA, least.
 */
const weights: Readonly<Record<string, number>> = {
  mapDma: 16,
  unmapDma: 12,
  deviceDma: 16,
  allocateToOther: 8,
  releaseFromOther: 4,
  drainFlushQueue: 2,
  // A PASID's life: attached, used by DMA (filling the PASID cache), torn down (`pasid.ts`); light,
  // so that the traffic without PASID, which the other designs' bugs need, keeps its share.
  attachPasid: 2,
  pasidDma: 3,
  detachPasid: 1,
  munmap: 2,
  mmap: 2,
  discard: 4,
  touch: 4,
};

/**
 * On an IOMMU with first-level translation only, a PASID's life is the traffic the world is there
 * for (its designs' flaws are in PASID teardown and cache tags): it counts as much as the DMA
 * without PASID, and its teardown as a group's way out.
 */
const firstLevelWeights: Readonly<Record<string, number>> = { attachPasid: 6, pasidDma: 12, detachPasid: 3 };

/** A kdump kernel's probe's end (`world.ts`): rarer than the DMA that may fall into its window. */
const kdumpWeights: Readonly<Record<string, number>> = { finishCopiedAttach: 4 };

/**
 * In a world of several devices the DMA traffic above outweighs a group's way out of the container
 * and back in (every device of it closed, the group out, then in): these count twice there.
 */
const lifecycle: ReadonlySet<string> = new Set([
  'closeDevice',
  'openDevice',
  'groupUnsetContainer',
  'groupSetContainer',
]);

/**
 * VFIO_SET_IOMMU as the passthrough VMM issues it: mostly type1v2, sometimes type1 or a type no
 * driver opens here (noiommu, the UNMAP_ALL extension, 0). Not VFIO_TYPE1_NESTING_IOMMU: its
 * domains are VT-d nesting parents, which refuse read-only maps (an erratum) that the VFIO model
 * does not know about, and the forwarding leaves the IOMMU's own refusals out (`forward.ts`).
 */
const passthroughSetIommu: fc.Arbitrary<PassthroughTemplate> = fc
  .oneof(
    { weight: 6, arbitrary: fc.constant(VFIO_TYPE1v2_IOMMU) },
    { weight: 1, arbitrary: fc.constantFrom(VFIO_TYPE1_IOMMU, VFIO_NOIOMMU_IOMMU, VFIO_UNMAP_ALL, 0) },
  )
  .map((type): PassthroughTemplate => ({ kind: 'setIommu', type }));

/**
 * `withFlushQueue`: the lazy modes, whose domains have a flush queue and so a timer. `firstLevelOnly`:
 * PASID traffic weighted up (`firstLevelWeights`). `detachWindow`:
 * VFIO_GROUP_UNSET_CONTAINER is phased too (an IOMMU with a context cache): type1's
 * `iommu_detach_group`, then the rest of its detach, with the device's DMA in between. `kdump`: a
 * kdump kernel's world, whose probes are left at their window (`finishCopiedAttach` ends one).
 */
export function passthroughCommandSpace(
  layout: VfioWorldLayout,
  withFlushQueue: boolean,
  detachWindow = false,
  firstLevelOnly = false,
  kdump = false,
): CommandSpace<PassthroughTemplate> {
  const kindWeights = {
    ...weights,
    ...(firstLevelOnly ? firstLevelWeights : {}),
    ...(kdump ? kdumpWeights : {}),
  };
  const table: Record<string, fc.Arbitrary<PassthroughTemplate>> = {
    ...vfioArbitraries(layout, { iovaBasePage: passthroughIovaBasePage(layout) }),
    ...picked(layout),
    ...pasidAttachment(layout),
  };
  if (withFlushQueue) table['drainFlushQueue'] = fc.constant<PassthroughCommand>({ kind: 'drainFlushQueue' });
  // A kdump kernel: the probe goes on past its attach's window (`models/passthrough/kdump.ts`).
  if (kdump) {
    table['finishCopiedAttach'] = oneOf(layout.pciDevices).map((deviceId): PassthroughTemplate => ({
      kind: 'finishCopiedAttach',
      deviceId,
    }));
  }
  // The whole cycle: a one-group world's group out (its backend released), back in, VFIO_SET_IOMMU
  // (a new domain, its DID the lowest free one: the one just given back). Several groups reconfigure
  // by one group leaving and coming back into the live backend (the replay).
  if (layout.groupIds.length === 1) table['setIommu'] = passthroughSetIommu;
  return {
    kinds: Object.keys(table),
    // An UNMAP_DMA's window also meets the flush queue's timer.
    interleaving: phasedSpace<PassthroughTemplate>(
      detachWindow ? { ...vfioPhases, groupUnsetContainer: 2 } : vfioPhases,
      {
        ...vfioConflicts,
        unmapDma: [...(vfioConflicts['unmapDma'] ?? []), 'drainFlushQueue'],
        // The detach's window meets the device's DMA, which walks what the detach left.
        ...(detachWindow ? { groupUnsetContainer: ['deviceDma'] } : {}),
      },
    ),
    weight: (kind) => kindWeights[kind] ?? vfioKindWeight(kind, layout) * (lifecycle.has(kind) ? 2 : 1),
    arbitrary(kind) {
      const arbitrary = table[kind];
      if (arbitrary === undefined) throw new Error(`passthrough: no generator for command kind '${kind}'`);
      return arbitrary;
    },
  };
}
