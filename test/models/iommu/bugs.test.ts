/**
 * The deliberate bugs of the VT-d model (config.ts): for each, a short scenario after which an
 * exported check reports it, while the same scenario on the correct model passes the check.
 */
import { describe, expect, it } from 'vitest';
import { pageTableMatchesFlat } from '../../../models/iommu/check.js';
import { iommuBugs } from '../../../models/iommu/config.js';
import type { IommuBug, IommuConfig } from '../../../models/iommu/config.js';
import { attachDevice, createDomain } from '../../../models/iommu/domain.js';
import { dma } from '../../../models/iommu/dma.js';
import { drainFlushQueue } from '../../../models/iommu/flush-queue.js';
import { createNestedDomain } from '../../../models/iommu/nested.js';
import { createIommuState } from '../../../models/iommu/state.js';
import type { IommuState } from '../../../models/iommu/types.js';
import { iotlbSync, unmapFast } from '../../../models/iommu/unmap.js';
import { staleIotlbOutsideFlushQueue } from '../../../models/iommu/views.js';
import { DEV, DID, K4, M2, dmaAt, expectOk, mapOk, unmapOk, world } from './world.js';

interface BugCase {
  /** Runs the scenario under `bugs` and returns the state it ends in. */
  readonly scenario: (bugs: IommuConfig) => IommuState;
  /** The exported check that must report the bug: a message / list, or null / empty when sound. */
  readonly check: (state: IommuState) => string | null;
}

function staleCheck(state: IommuState): string | null {
  const stale = staleIotlbOutsideFlushQueue(state);
  return stale.length === 0 ? null : `stale IOTLB entries: ${stale.map((entry) => entry.reason).join(', ')}`;
}

const cases: Record<IommuBug, BugCase> = {
  'unmap-skips-iotlb-invalidate': {
    scenario: (bugs) => {
      const state = world();
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      dmaAt(state, 0);
      unmapOk(state, 0, K4, bugs);
      return state;
    },
    check: staleCheck,
  },
  'flush-queue-skips-iotlb': {
    scenario: (bugs) => {
      const state = world({}, 'dma-fq');
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      dmaAt(state, 0);
      unmapOk(state, 0, K4, bugs);
      expectOk(drainFlushQueue(state, bugs, { domainId: DID }));
      return state;
    },
    check: staleCheck,
  },
  'fq-queues-before-pte-clear': {
    scenario: (bugs) => {
      // unmap_fast, the flush-queue timer, a DMA, then the sync: the timer must not retire the unmap.
      const state = world({}, 'dma-fq');
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      expectOk(unmapFast(state, bugs, { domainId: DID, iova: 0, sizeBytes: K4 }));
      expectOk(drainFlushQueue(state, bugs, { domainId: DID }));
      dmaAt(state, 0);
      iotlbSync(state, bugs, DID);
      return state;
    },
    check: staleCheck,
  },
  'psi-mask-too-small': {
    scenario: (bugs) => {
      const state = world();
      mapOk(state, { iova: M2 - K4, frame: 3, sizeBytes: 2 * K4 }, bugs);
      dmaAt(state, M2 - K4);
      dmaAt(state, M2);
      unmapOk(state, M2 - K4, 2 * K4, bugs);
      return state;
    },
    check: staleCheck,
  },
  'caching-mode-map-skips-flush': {
    scenario: (bugs) => {
      const state = world({ cachingMode: true });
      dmaAt(state, 0);
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      return state;
    },
    check: staleCheck,
  },
  'map-ignores-existing': {
    scenario: (bugs) => {
      const state = world();
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      mapOk(state, { iova: 0, frame: 4 }, bugs);
      return state;
    },
    check: pageTableMatchesFlat,
  },
  'partial-unmap-keeps-superpage': {
    scenario: (bugs) => {
      const state = world();
      mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 }, bugs);
      unmapOk(state, 0, K4, bugs);
      return state;
    },
    check: pageTableMatchesFlat,
  },
  'unmap-stops-at-table-boundary': {
    scenario: (bugs) => {
      const state = world();
      mapOk(state, { iova: M2 - K4, frame: 3, sizeBytes: 2 * K4 }, bugs);
      unmapOk(state, M2 - K4, 2 * K4, bugs);
      return state;
    },
    check: pageTableMatchesFlat,
  },
  'stage2-flush-skips-nested-tags': {
    scenario: (bugs) => {
      // A nesting parent (DID 1, GPA page 0 → frame 3) under a nested domain (DID 2) the device uses.
      const state = createIommuState();
      expectOk(createDomain(state, { type: 'unmanaged', nestingParent: true }));
      mapOk(state, { iova: 0, frame: 3 }, bugs);
      expectOk(createNestedDomain(state, { parentDomainId: DID }));
      expectOk(attachDevice(state, { deviceId: DEV, domainId: 2 }));
      expectOk(
        dma(state, { deviceId: DEV, pasid: null, iova: 5 * K4, write: false }, { 5: { gpaPage: 0, write: true } }),
      );
      unmapOk(state, 0, K4, bugs);
      return state;
    },
    check: staleCheck,
  },
};

describe('deliberate bugs', () => {
  it('every bug in iommuBugs has a detection case', () => {
    expect(Object.keys(cases).sort()).toEqual([...iommuBugs].sort());
  });

  describe.each(iommuBugs)('%s', (bug) => {
    const { scenario, check } = cases[bug];

    it('the scenario passes the check on the correct model', () => {
      expect(check(scenario({ bugs: [] }))).toBeNull();
    });

    it('the check reports the bug', () => {
      expect(check(scenario({ bugs: [bug] }))).not.toBeNull();
    });
  });
});
