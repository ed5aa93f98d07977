/**
 * Differential property: random sequences of map / unmap / DMA / invalidation / flush-queue drains
 * over IOVAs clustered at page-table boundaries keep the radix tree equal to the flat reference map
 * (`pageTableMatchesFlat`) and well formed (`pageTableWellFormed`) after every step; refused
 * requests leave the state unchanged; and no stale IOTLB entry exists that a queued lazy unmap does
 * not account for (§3.7 inv. 3–5).
 *
 * Over 10,000 sequences (seed 20240611) the generators reach, in this share of sequences: a map
 * across a leaf-table boundary 54%, an unmap while the flush queue holds entries 6.7%, a partial
 * unmap of a superpage 5.2% (the driver removes the whole superpage and reports its size; §3.2
 * describes no split, and the model follows it). The test fails if any falls to 4% or below.
 */
import { isDeepStrictEqual } from 'node:util';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEEP } from '../../helpers.js';
import { pageTableMatchesFlat, pageTableWellFormed } from '../../../models/iommu/check.js';
import { attachDevice, createDomain } from '../../../models/iommu/domain.js';
import { dma } from '../../../models/iommu/dma.js';
import { drainFlushQueue } from '../../../models/iommu/flush-queue.js';
import { invalidateGlobal, invalidatePage } from '../../../models/iommu/invalidate.js';
import { map } from '../../../models/iommu/map.js';
import { cloneIommuState, createIommuState } from '../../../models/iommu/state.js';
import type { IommuCaps, IommuState } from '../../../models/iommu/types.js';
import { unmap } from '../../../models/iommu/unmap.js';
import { staleIotlbOutsideFlushQueue } from '../../../models/iommu/views.js';
import type { OpResult } from '../../../models/result.js';
import { K4, config } from './world.js';

/** IOVA pages at and around the 2M, 1G and 512G boundaries. */
const IOVA_PAGES = [0, 1, 510, 511, 512, 513, 1023, 1024, 1536, 262_143, 262_144, 262_656, 2 ** 27 - 1, 2 ** 27];
const SIZE_PAGES = [0, 1, 2, 3, 511, 512, 513];
const FRAMES = [0, 1, 3, 512, 1024];

type Command =
  | { kind: 'map'; domainId: number; iovaPage: number; frame: number; pages: number; read: boolean; write: boolean }
  | { kind: 'unmap'; domainId: number; iovaPage: number; pages: number }
  | { kind: 'dma'; deviceId: number; iovaPage: number; write: boolean }
  | { kind: 'invalidate'; domainId: number; iovaPage: number; pages: number }
  | { kind: 'global' }
  | { kind: 'drain'; domainId: number };

// Domain 1 is the lazy one when the world has a flush queue: it gets most of the traffic.
const domainId = fc.constantFrom(1, 1, 2);
const iovaPage = fc.oneof(
  fc.constantFrom(...IOVA_PAGES),
  fc.constantFrom(...IOVA_PAGES).map((page) => page + 2),
);
// Superpage-sized requests are drawn often, so 2M leaves exist for the partial unmaps to cut into.
const pages = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SIZE_PAGES) },
  { weight: 1, arbitrary: fc.constant(512) },
);

/** A map that the driver turns into 2M (or 1G) leaves: aligned IOVA and frame, whole superpages. */
const superpageMap = fc.record({
  kind: fc.constant('map' as const),
  domainId,
  iovaPage: fc.constantFrom(0, 512, 1024, 262_144),
  frame: fc.constantFrom(0, 512, 1024),
  pages: fc.constantFrom(512, 1024),
  read: fc.constant(true),
  write: fc.boolean(),
});

/** An unmap of part of a 2M block: the driver removes the whole superpage if one is there. */
const partialUnmap = fc.record({
  kind: fc.constant('unmap' as const),
  domainId,
  iovaPage: fc.constantFrom(0, 2, 512, 514, 1024, 1300),
  pages: fc.constantFrom(1, 2, 256),
});

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 3, arbitrary: superpageMap },
  { weight: 3, arbitrary: partialUnmap },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('map' as const),
      domainId,
      iovaPage,
      frame: fc.oneof(fc.constantFrom(...FRAMES), fc.constantFrom(0, 512, 1024)),
      pages,
      read: fc.boolean(),
      write: fc.boolean(),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('unmap' as const), domainId, iovaPage, pages }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('dma' as const),
      deviceId: fc.constantFrom(1, 2),
      iovaPage,
      write: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('invalidate' as const), domainId, iovaPage, pages }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('global' as const) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('drain' as const), domainId }) },
);

const worldSpec = fc.record({
  superpageLevels: fc.constantFrom<IommuCaps['superpageLevels']>(0, 1, 2),
  cachingMode: fc.boolean(),
  lazy: fc.boolean(),
  tablePages: fc.constantFrom(12, 64),
  iotlbEntries: fc.constantFrom(2, 8),
  maxAddressMaskValue: fc.constantFrom(4, 18),
});

function buildWorld(spec: typeof worldSpec extends fc.Arbitrary<infer T> ? T : never): IommuState {
  const { lazy, ...caps } = spec;
  const state = createIommuState({ ...caps, flushQueueEntries: 3 });
  createDomain(state, { type: lazy ? 'dma-fq' : 'unmanaged' });
  createDomain(state, { type: 'unmanaged' });
  attachDevice(state, { deviceId: 1, domainId: 1 });
  attachDevice(state, { deviceId: 2, domainId: 2 });
  return state;
}

function run(state: IommuState, step: Command): OpResult {
  switch (step.kind) {
    case 'map':
      return map(state, config, {
        domainId: step.domainId,
        iova: step.iovaPage * K4,
        frame: step.frame,
        sizeBytes: step.pages * K4,
        read: step.read,
        write: step.write,
      });
    case 'unmap':
      return unmap(state, config, { domainId: step.domainId, iova: step.iovaPage * K4, sizeBytes: step.pages * K4 });
    case 'dma':
      return dma(state, { deviceId: step.deviceId, pasid: null, iova: step.iovaPage * K4, write: step.write });
    case 'invalidate':
      return invalidatePage(state, config, {
        domainId: step.domainId,
        iova: step.iovaPage * K4,
        sizeBytes: step.pages * K4,
      });
    case 'global':
      return invalidateGlobal(state);
    case 'drain':
      return drainFlushQueue(state, config, { domainId: step.domainId });
  }
}

/** What a sequence reached, for the reach shares below. */
interface Reached {
  mapAcrossLeafTable: boolean;
  partialSuperpageUnmap: boolean;
  unmapWithQueuedFlush: boolean;
}

const LEAF_TABLE_PAGES = 512;

function noteReach(before: IommuState, step: Command, result: OpResult, reached: Reached): void {
  if (!result.ok) return;
  if (step.kind === 'map' && step.pages > 1) {
    const last = step.iovaPage + step.pages - 1;
    if (Math.floor(step.iovaPage / LEAF_TABLE_PAGES) !== Math.floor(last / LEAF_TABLE_PAGES))
      reached.mapAcrossLeafTable = true;
  }
  if (step.kind === 'unmap') {
    const unmapped = result.detail?.['unmappedBytes'];
    // The driver rounds a partial unmap of a superpage up to the whole superpage (§3.2).
    const superpage = (before.flat[step.domainId] ?? []).some(
      (leaf) =>
        leaf.pages > 1 &&
        leaf.iovaPage < step.iovaPage + step.pages &&
        step.iovaPage < leaf.iovaPage + leaf.pages &&
        (leaf.iovaPage < step.iovaPage || leaf.iovaPage + leaf.pages > step.iovaPage + step.pages),
    );
    if (superpage && typeof unmapped === 'number' && unmapped > step.pages * K4) reached.partialSuperpageUnmap = true;
    if ((before.domains[step.domainId]?.flushQueue.length ?? 0) > 0 && typeof unmapped === 'number' && unmapped > 0)
      reached.unmapWithQueuedFlush = true;
  }
}

/**
 * 800 sequences in the suite (3,000 in the deeper tier). The property held over 10,000 when it was written (issue 3); run
 * that many again with `DMAPROP_DIFFERENTIAL_SEQUENCES=10000 npx vitest run test/models/iommu`.
 */
const SEQUENCES = Number(process.env['DMAPROP_DIFFERENTIAL_SEQUENCES'] ?? (DEEP ? 3_000 : 800));

describe('page table vs flat reference map', () => {
  it('agree, stay well formed and leave no unaccounted stale IOTLB entry under random sequences', () => {
    const counts = { mapAcrossLeafTable: 0, partialSuperpageUnmap: 0, unmapWithQueuedFlush: 0 };
    fc.assert(
      fc.property(worldSpec, fc.array(command, { minLength: 1, maxLength: 10 }), (spec, steps) => {
        const state = buildWorld(spec);
        const reached: Reached = {
          mapAcrossLeafTable: false,
          partialSuperpageUnmap: false,
          unmapWithQueuedFlush: false,
        };
        for (const step of steps) {
          const before = cloneIommuState(state);
          const result = run(state, step);
          noteReach(before, step, result, reached);
          // isDeepStrictEqual is much cheaper than toEqual; toEqual only runs to show a difference.
          if (!result.ok && !isDeepStrictEqual(state, before)) expect(state).toEqual(before);
          expect(pageTableMatchesFlat(state)).toBeNull();
          expect(pageTableWellFormed(state)).toBeNull();
          expect(staleIotlbOutsideFlushQueue(state)).toEqual([]);
        }
        for (const key of Object.keys(counts) as (keyof Reached)[]) if (reached[key]) counts[key] += 1;
      }),
      { numRuns: SEQUENCES, seed: 20_240_611 },
    );
    // The sequences reach the cases the property is about, each in a non-trivial share.
    for (const [what, sequences] of Object.entries(counts)) {
      expect(sequences / SEQUENCES, what).toBeGreaterThan(0.04);
    }
  });
});
