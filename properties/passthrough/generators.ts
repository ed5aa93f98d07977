/**
 * Generators of the passthrough stack over VT-d: the VFIO passthrough commands with IOVAs across
 * a leaf-table boundary (`world.ts`), and the flush-queue timer. The device's DMA and the VMM's
 * discards and munmaps mostly pick what the device reaches (`resolve.ts`).
 */
import fc from 'fast-check';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandSpace } from '../../src/design.js';
import { preferOr } from '../prefer.js';
import { IOVA_PAGES, vaddrPage, vfioArbitraries, vfioKindWeight } from '../vfio/generators.js';
import { RAM_PAGES, RAM_VADDR_PAGE } from '../vfio/world.js';
import type { PassthroughPickUniverse, PassthroughTemplate } from './resolve.js';
import { PASSTHROUGH_IOVA_BASE_PAGE } from './world.js';

export const passthroughPickUniverse: PassthroughPickUniverse = {
  iovaBasePage: PASSTHROUGH_IOVA_BASE_PAGE,
  iovaPages: IOVA_PAGES,
  ramVaddrPage: RAM_VADDR_PAGE,
  ramPages: RAM_PAGES,
};

const iovaPage = fc.integer({ min: PASSTHROUGH_IOVA_BASE_PAGE, max: PASSTHROUGH_IOVA_BASE_PAGE + IOVA_PAGES - 1 });
const ramRange = fc.record({ vaddrPage: preferOr(vaddrPage), npages: fc.integer({ min: 1, max: 2 }) });

/** The kinds whose address is a pick: the device's DMA, and the VMM giving memory back. */
const picked: Readonly<Record<string, fc.Arbitrary<PassthroughTemplate>>> = {
  deviceDma: fc
    .record({ addressPage: preferOr(iovaPage), write: fc.boolean() })
    // Device 0: the world's one assigned vfio-pci device.
    .map((args): PassthroughTemplate => ({ kind: 'deviceDma', deviceId: 0, ...args })),
  discard: ramRange.map((args): PassthroughTemplate => ({ kind: 'discard', ...args })),
  munmap: ramRange.map((args): PassthroughTemplate => ({ kind: 'munmap', ...args })),
};

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
  munmap: 2,
  mmap: 2,
  discard: 4,
  touch: 4,
};

/** `withFlushQueue`: the lazy modes, whose domains have a flush queue and so a timer. */
export function passthroughCommandSpace(withFlushQueue: boolean): CommandSpace<PassthroughTemplate> {
  const table: Record<string, fc.Arbitrary<PassthroughTemplate>> = {
    ...vfioArbitraries('passthrough', { iovaBasePage: PASSTHROUGH_IOVA_BASE_PAGE }),
    ...picked,
  };
  if (withFlushQueue) table['drainFlushQueue'] = fc.constant<PassthroughCommand>({ kind: 'drainFlushQueue' });
  return {
    kinds: Object.keys(table),
    weight: (kind) => weights[kind] ?? vfioKindWeight(kind),
    arbitrary(kind) {
      const arbitrary = table[kind];
      if (arbitrary === undefined) throw new Error(`passthrough: no generator for command kind '${kind}'`);
      return arbitrary;
    },
  };
}
