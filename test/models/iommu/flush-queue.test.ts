/**
 * Strict vs lazy DMA mode (docs/reference/vtd.md §3.5, §3.7 inv. 3–4): in strict mode an unmap invalidates
 * before it returns; in lazy mode (`dma-fq`) it queues the invalidation, DMA through a stale IOTLB
 * entry reaches the old frame until the queue is drained, and cleared table pages stay allocated
 * until then. A full queue is flushed by the unmap that finds it full.
 */
import { describe, expect, it } from 'vitest';
import { drainFlushQueue } from '../../../models/iommu/flush-queue.js';
import { cloneIommuState } from '../../../models/iommu/state.js';
import { unmap } from '../../../models/iommu/unmap.js';
import {
  flushQueueEntriesReleased,
  pendingFlushFrames,
  staleIotlbEntries,
  staleIotlbOutsideFlushQueue,
} from '../../../models/iommu/views.js';
import {
  DID,
  K4,
  M2,
  config,
  dmaAt,
  expectConsistent,
  expectOk,
  expectRefused,
  landing,
  mapOk,
  unmapOk,
  world,
} from './world.js';

describe('strict mode', () => {
  it.each(['unmanaged', 'dma'] as const)('a %s domain invalidates on unmap: no stale entry, DMA faults', (type) => {
    const state = world({}, type);
    mapOk(state, { iova: 0, frame: 7 });
    dmaAt(state, 0);
    const detail = expectOk(unmap(state, config, { domainId: DID, iova: 0, sizeBytes: K4 }));
    expect(detail).toMatchObject({ queued: false, invalidation: 'psi' });
    expect(staleIotlbEntries(state)).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });
});

describe('lazy mode (flush queue)', () => {
  it('an unmap clears the PTE but queues the invalidation: DMA still reaches the old frame', () => {
    const state = world({}, 'dma-fq');
    mapOk(state, { iova: 0, frame: 7 });
    dmaAt(state, 0);
    const detail = expectOk(unmap(state, config, { domainId: DID, iova: 0, sizeBytes: K4 }));
    expect(detail).toMatchObject({ unmappedBytes: K4, queued: true, invalidation: 'none' });
    expect(state.domains[DID]!.flushQueue).toEqual([
      {
        seq: 0,
        iovaPage: 0,
        pages: 1,
        leaves: [{ iovaPage: 0, frame: 7, pages: 1, read: true, write: true }],
        freedTableIds: [],
      },
    ]);
    expect(dmaAt(state, 0)).toMatchObject({ landed: 'frame', frame: 7, via: 'iotlb' });
    expectConsistent(state);
  });

  it('the stale entry is reported as awaiting the flush, and its frame as pending', () => {
    const state = world({}, 'dma-fq');
    mapOk(state, { iova: 0, frame: 7 });
    dmaAt(state, 0);
    unmapOk(state, 0, K4);
    expect(staleIotlbEntries(state)).toMatchObject([{ index: 0, reason: 'unmapped', awaitingFlush: true }]);
    expect(staleIotlbOutsideFlushQueue(state)).toEqual([]);
    expect(pendingFlushFrames(state)).toEqual([{ domainId: DID, seq: 0, iovaPage: 0, frame: 7, pages: 1 }]);
  });

  it('draining the queue invalidates the domain: the stale entry is gone and DMA faults', () => {
    const state = world({}, 'dma-fq');
    mapOk(state, { iova: 0, frame: 7 });
    dmaAt(state, 0);
    unmapOk(state, 0, K4);
    const before = cloneIommuState(state);
    const detail = expectOk(drainFlushQueue(state, config, { domainId: DID }));
    expect(detail).toEqual({ invalidation: 'dsi', releasedEntries: 1, releasedPages: 1 });
    expect(state.domains[DID]!.flushQueue).toEqual([]);
    expect(staleIotlbEntries(state)).toEqual([]);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
    expect(flushQueueEntriesReleased(before, state).map(({ entry }) => entry.seq)).toEqual([0]);
    expect(pendingFlushFrames(state)).toEqual([]);
  });

  it('a DMA that had not cached the translation faults at once (the window needs a cached entry)', () => {
    const state = world({}, 'dma-fq');
    mapOk(state, { iova: 0, frame: 7 });
    unmapOk(state, 0, K4);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });

  it('cleared table pages stay allocated until the flush, then are freed', () => {
    const state = world({ superpageLevels: 0 }, 'dma-fq');
    mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
    const tables = Object.keys(state.tables).length;
    unmapOk(state, 0, M2);
    const queued = state.domains[DID]!.flushQueue[0]!;
    expect(queued.freedTableIds).toHaveLength(1);
    expect(Object.keys(state.tables)).toHaveLength(tables);
    expectConsistent(state);
    expectOk(drainFlushQueue(state, config, { domainId: DID }));
    expect(Object.keys(state.tables)).toHaveLength(tables - 1);
    expectConsistent(state);
  });

  it('an unmap that finds the queue full flushes it first, then queues itself', () => {
    const state = world({ flushQueueEntries: 2 }, 'dma-fq');
    mapOk(state, { iova: 0, frame: 0, sizeBytes: 3 * K4 });
    dmaAt(state, 0);
    unmapOk(state, 0, K4);
    unmapOk(state, K4, K4);
    expect(dmaAt(state, 0).via).toBe('iotlb');
    const detail = expectOk(unmap(state, config, { domainId: DID, iova: 2 * K4, sizeBytes: K4 }));
    expect(detail).toMatchObject({ queued: true, releasedEntries: 2 });
    expect(state.domains[DID]!.flushQueue.map((entry) => entry.seq)).toEqual([2]);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });

  it('a drain with an empty queue still flushes the domain (the timer does)', () => {
    const state = world({}, 'dma-fq');
    mapOk(state);
    dmaAt(state, 0);
    expect(expectOk(drainFlushQueue(state, config, { domainId: DID })).releasedEntries).toBe(0);
    expect(state.iotlb).toEqual([]);
  });

  it('refuses to drain an unknown domain (ENOENT) or one without a flush queue (EINVAL)', () => {
    expectRefused(world({}, 'dma-fq'), 'ENOENT', (copy) => drainFlushQueue(copy, config, { domainId: 4 }));
    expectRefused(world({}, 'unmanaged'), 'EINVAL', (copy) => drainFlushQueue(copy, config, { domainId: DID }));
  });
});
