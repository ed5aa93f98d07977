/**
 * Page walks without coherency (`models/iommu/coherency.ts`, docs/reference/vtd.md §3.13): with
 * `ecap.C` = 0 a PTE write reaches the IOMMU's walk only once written back (`domain_flush_cache`);
 * the software walk (`iova_to_phys`) reads the CPU's view. Coherent walks stay the default.
 */
import { describe, expect, it } from 'vitest';
import { unmapSkipsWriteBack, writeBackLines } from '../../../models/iommu/coherency.js';
import type { CacheLine, WriteBackHook } from '../../../models/iommu/coherency.js';
import type { IommuConfig } from '../../../models/iommu/config.js';
import { releaseDomain } from '../../../models/iommu/domain.js';
import { lookupLeaf } from '../../../models/iommu/page-table.js';
import { cloneIommuState, restoreIommuState } from '../../../models/iommu/state.js';
import { staleIotlbOutsideFlushQueue } from '../../../models/iommu/views.js';
import { DID, K4, dmaAt, landing, mapOk, unmapOk, world } from './world.js';

const noncoherent = { coherentWalks: false };
const withHook = (writeBack: WriteBackHook): IommuConfig => ({ bugs: [], writeBack });

describe('coherent walks (the default)', () => {
  it('records nothing: every write is seen at once', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
    unmapOk(state, 0, K4);
    expect(state).not.toHaveProperty('unflushed');
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
  });
});

describe('walks without coherency (ecap.C = 0)', () => {
  it('a map that writes back its PTEs (domain_flush_cache) is walked at once', () => {
    const state = world(noncoherent);
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
    expect(state.unflushed ?? {}).toEqual({});
    expect(landing(dmaAt(state, 0))).toBe(7);
  });

  it('a PTE not written back is not seen by the IOMMU, though the software walk finds it', () => {
    const state = world(noncoherent);
    let written: readonly CacheLine[] = [];
    mapOk(
      state,
      { iova: 0, frame: 7, sizeBytes: K4 },
      withHook((_path, lines) => ((written = lines), [])),
    );
    expect(written.length).toBeGreaterThan(0);
    expect(lookupLeaf(state, state.domains[DID]!, 0)?.frame).toBe(7);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
    writeBackLines(state, written);
    expect(landing(dmaAt(state, 0))).toBe(7);
  });

  it('an unmap that skips the write-back leaves memory holding the leaf: the DMA after the IOTLB flush walks it', () => {
    const state = world(noncoherent);
    const config = withHook(unmapSkipsWriteBack);
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 }, config);
    expect(landing(dmaAt(state, 0))).toBe(7);
    unmapOk(state, 0, K4, config);
    expect(state.iotlb).toEqual([]);
    expect(lookupLeaf(state, state.domains[DID]!, 0)).toBeNull();
    expect(landing(dmaAt(state, 0))).toBe(7);
    expect(staleIotlbOutsideFlushQueue(state).map((stale) => stale.entry.iovaPage)).toEqual([0]);
  });

  it('the sound unmap writes its clears back: the DMA after it faults', () => {
    const state = world(noncoherent);
    mapOk(state, { iova: 0, frame: 7, sizeBytes: K4 });
    dmaAt(state, 0);
    unmapOk(state, 0, K4);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
    expect(staleIotlbOutsideFlushQueue(state)).toEqual([]);
  });

  it('is copied by cloneIommuState, put back by restoreIommuState, and freed with the domain', () => {
    const state = world(noncoherent);
    mapOk(
      state,
      { iova: 0, frame: 7, sizeBytes: K4 },
      withHook(() => []),
    );
    const snapshot = cloneIommuState(state);
    writeBackLines(
      state,
      Object.entries(state.unflushed ?? {}).flatMap(([tableId, kept]) =>
        Object.keys(kept).map((index) => ({ tableId: Number(tableId), index: Number(index) })),
      ),
    );
    expect(state.unflushed).toEqual({});
    expect(Object.keys(snapshot.unflushed ?? {}).length).toBeGreaterThan(0);
    restoreIommuState(state, snapshot);
    expect(landing(dmaAt(state, 0))).toBe('fault:not-present');
    releaseDomain(state, DID);
    expect(state.unflushed).toEqual({});
  });
});
