/**
 * Generators of the passthrough stack over VT-d: the VFIO passthrough commands with IOVAs across
 * a leaf-table boundary (`world.ts`), and the flush-queue timer.
 */
import fc from 'fast-check';
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandSpace } from '../../src/design.js';
import { vfioArbitraries, vfioKindWeight } from '../vfio/generators.js';
import { PASSTHROUGH_IOVA_BASE_PAGE } from './world.js';

/**
 * Relative frequencies: the guest's DMA traffic (map, DMA, unmap) dominates; the VMM's own memory
 * changes, which mostly make later maps fail, are rarer; the timer fires now and then.
 */
const weights: Readonly<Record<string, number>> = {
  mapDma: 8,
  unmapDma: 6,
  deviceDma: 8,
  drainFlushQueue: 2,
  munmap: 1,
  mmap: 1,
  discard: 2,
  touch: 2,
};

/** `withFlushQueue`: the lazy modes, whose domains have a flush queue and so a timer. */
export function passthroughCommandSpace(withFlushQueue: boolean): CommandSpace<PassthroughCommand> {
  const table: Record<string, fc.Arbitrary<PassthroughCommand>> = {
    ...vfioArbitraries('passthrough', { iovaBasePage: PASSTHROUGH_IOVA_BASE_PAGE }),
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
