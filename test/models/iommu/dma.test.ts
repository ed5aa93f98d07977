/**
 * Where a DMA lands (docs/reference/vtd.md §3.1, §3.3): fault reasons (no context, blocked, beyond the
 * width, not present, permission), identity pass-through, offsets inside superpages, and the
 * pure `translate` that does not fill the IOTLB.
 */
import { describe, expect, it } from 'vitest';
import { attachDevice, createDomain } from '../../../models/iommu/domain.js';
import { dma, translate } from '../../../models/iommu/dma.js';
import { createIommuState } from '../../../models/iommu/state.js';
import type { DomainType, IommuState } from '../../../models/iommu/types.js';
import {
  DEV,
  DEV2,
  DID,
  G1,
  K4,
  M2,
  PAGES_1G,
  dmaAt,
  expectOk,
  expectRefused,
  landing,
  mapOk,
  world,
} from './world.js';

function soleDomain(type: DomainType): IommuState {
  const state = createIommuState();
  expectOk(createDomain(state, { type }));
  expectOk(attachDevice(state, { deviceId: DEV, domainId: 1 }));
  return state;
}

describe('DMA outcomes', () => {
  it('a device without a context entry faults (no context)', () => {
    const state = world();
    mapOk(state);
    expect(dmaAt(state, 0, { deviceId: DEV2 })).toMatchObject({
      landed: 'fault',
      reason: 'no-context',
      domainId: null,
    });
  });

  it('a device attached to a blocked domain faults (blocked)', () => {
    expect(landing(dmaAt(soleDomain('blocked'), 0))).toBe('fault:blocked');
  });

  it('a device attached to an identity domain reaches frame = IOVA page', () => {
    expect(dmaAt(soleDomain('identity'), 5 * K4 + 17)).toMatchObject({ landed: 'frame', frame: 5, via: 'identity' });
  });

  it('an IOVA beyond the 48-bit width faults', () => {
    expect(landing(dmaAt(world(), 2 ** 48))).toBe('fault:beyond-width');
  });

  it('a non-present IOVA faults (not present)', () => {
    const state = world();
    mapOk(state, { iova: 0 });
    expect(dmaAt(state, K4)).toMatchObject({ landed: 'fault', reason: 'not-present', via: 'walk' });
  });

  it('a write to a read-only page faults (no-write); a read lands', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3, write: false });
    expect(landing(dmaAt(state, 0, { write: true }))).toBe('fault:no-write');
    expect(landing(dmaAt(state, 0))).toBe(3);
    expect(landing(dmaAt(state, 0, { write: true }))).toBe('fault:no-write');
  });

  it('a read of a write-only page faults (no-read); a write lands', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3, read: false });
    expect(landing(dmaAt(state, 0))).toBe('fault:no-read');
    expect(landing(dmaAt(state, 0, { write: true }))).toBe(3);
  });

  it('lands at the right frame inside a 1G superpage', () => {
    const state = world();
    mapOk(state, { iova: G1, frame: PAGES_1G, sizeBytes: G1 });
    expect(landing(dmaAt(state, G1 + 3 * M2 + 7 * K4 + 100))).toBe(PAGES_1G + 3 * 512 + 7);
  });

  it('reports the request with the outcome', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3 });
    expect(dmaAt(state, 0, { write: true })).toEqual({
      deviceId: DEV,
      pasid: null,
      iovaPage: 0,
      write: true,
      domainId: DID,
      via: 'walk',
      landed: 'frame',
      frame: 3,
      reason: null,
    });
  });

  it.each([
    ['source-id', { deviceId: 0x10000 }],
    ['PASID', { pasid: 0 }],
    ['IOVA', { iova: -1 }],
  ])('refuses a malformed %s with EINVAL', (_, overrides) => {
    expectRefused(world(), 'EINVAL', (copy) =>
      dma(copy, { deviceId: DEV, pasid: null, iova: 0, write: false, ...overrides }),
    );
  });
});

describe('translate', () => {
  it('answers like a DMA without filling the IOTLB', () => {
    const state = world();
    mapOk(state, { iova: 0, frame: 3 });
    const before = structuredClone(state);
    expect(translate(state, { deviceId: DEV, pasid: null, iova: 0, write: false })).toEqual({
      landed: 'frame',
      frame: 3,
      domainId: DID,
      via: 'walk',
    });
    expect(state).toEqual(before);
  });

  it('is total: a malformed request is a no-context fault', () => {
    expect(translate(world(), { deviceId: -4, pasid: null, iova: 0, write: false })).toMatchObject({
      landed: 'fault',
      reason: 'no-context',
    });
  });
});
