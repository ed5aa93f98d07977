/**
 * docs/reference/vtd.md §3.8 "Rejected inputs (VT-d via Linux API)": one test per row the model covers,
 * each asserting the error name and that the state is deep-equal to before. Rows about nested
 * translation (nested alloc data type, nested invalidate entries, stage-1 width/features) belong to
 * the later nested model; the PASID row is here and in domain.test.ts. Also the order of checks of
 * §3.2 where two inputs are wrong, and the model's own refusals (unknown domain, malformed numbers).
 */
import { describe, expect, it } from 'vitest';
import { attachDevicePasid, createDomain } from '../../../models/iommu/domain.js';
import { map, mapPages } from '../../../models/iommu/map.js';
import type { MapPagesArgs } from '../../../models/iommu/map.js';
import { createIommuState } from '../../../models/iommu/state.js';
import type { DomainType, IommuState } from '../../../models/iommu/types.js';
import { unmap } from '../../../models/iommu/unmap.js';
import {
  DEV,
  DID,
  G1,
  K4,
  M2,
  config,
  dmaAt,
  expectOk,
  expectRefused,
  landing,
  mapArgs,
  mapOk,
  world,
} from './world.js';

const WIDTH_END = 2 ** 48;

/** A world with some mappings, so that "unchanged" covers tables, flat map and IOTLB. */
function busyWorld(): IommuState {
  const state = world();
  mapOk(state, { iova: 0, frame: 0, sizeBytes: M2 });
  mapOk(state, { iova: M2 + K4, frame: 600, sizeBytes: 2 * K4 });
  dmaAt(state, K4);
  return state;
}

function pagesArgs(overrides: Partial<MapPagesArgs> = {}): MapPagesArgs {
  return { domainId: DID, iova: 0, frame: 0, pgsizeBytes: K4, pgcount: 1, read: true, write: true, ...overrides };
}

describe('§3.8 rows', () => {
  it.each<DomainType>(['identity', 'blocked'])('map on a non-paging (%s) domain: EINVAL', (type) => {
    const state = createIommuState();
    expectOk(createDomain(state, { type }));
    expectRefused(state, 'EINVAL', (copy) => map(copy, config, mapArgs({ domainId: 1 })));
  });

  it.each([
    ['iova', { iova: K4 + 512 }],
    ['size', { sizeBytes: K4 + 1 }],
  ])('map with %s not aligned to the minimum page size: EINVAL', (_, overrides) => {
    expectRefused(busyWorld(), 'EINVAL', (copy) => map(copy, config, mapArgs({ iova: 8 * M2, ...overrides })));
  });

  it.each([
    ['iova', 100, K4],
    ['size', 8 * M2, 100],
  ])('unmap with %s not aligned to the minimum page size: returns 0', (_, iova, sizeBytes) => {
    const result = expectRefused(busyWorld(), 'EINVAL', (copy) =>
      unmap(copy, config, { domainId: DID, iova, sizeBytes }),
    );
    expect(result.detail?.unmappedBytes).toBe(0);
  });

  it.each([8 * K4, 3 * M2, 2 * G1, 0])('driver map_pages with page size %s (not 4K/2M/1G): EINVAL', (pgsizeBytes) => {
    expectRefused(busyWorld(), 'EINVAL', (copy) => mapPages(copy, config, pagesArgs({ pgsizeBytes })));
  });

  it('driver map_pages with iova or paddr not aligned to the page size: EINVAL', () => {
    const state = busyWorld();
    expectRefused(state, 'EINVAL', (copy) => mapPages(copy, config, pagesArgs({ iova: K4, pgsizeBytes: M2 })));
    expectRefused(state, 'EINVAL', (copy) =>
      mapPages(copy, config, pagesArgs({ iova: 4 * M2, frame: 1, pgsizeBytes: M2 })),
    );
  });

  it('map beyond the domain address width: EFAULT', () => {
    expectRefused(busyWorld(), 'EFAULT', (copy) => map(copy, config, mapArgs({ iova: WIDTH_END })));
    expectRefused(busyWorld(), 'EFAULT', (copy) => map(copy, config, mapArgs({ iova: 2 ** 60 })));
  });

  it('map straddling the end of the address width: EFAULT, and the chunks below it are undone', () => {
    const state = busyWorld();
    const iova = WIDTH_END - 2 * K4;
    expectRefused(state, 'EFAULT', (copy) => map(copy, config, mapArgs({ iova, sizeBytes: 4 * K4 })));
    // The same range ending exactly at the width is fine.
    mapOk(state, { iova, frame: 50, sizeBytes: 2 * K4 });
  });

  it('map with neither read nor write permission: EINVAL', () => {
    expectRefused(busyWorld(), 'EINVAL', (copy) =>
      map(copy, config, mapArgs({ iova: 8 * M2, read: false, write: false })),
    );
  });

  it('read-only map on a nesting-parent domain: EINVAL (erratum); writable and write-only maps are fine', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'unmanaged', nestingParent: true }));
    expectRefused(state, 'EINVAL', (copy) => map(copy, config, mapArgs({ domainId: 1, write: false })));
    expectOk(map(state, config, mapArgs({ domainId: 1 })));
    expectOk(map(state, config, mapArgs({ domainId: 1, iova: K4, read: false })));
  });

  it('map over an existing PTE: no error, WARN counted, old PTE kept', () => {
    const state = busyWorld();
    const detail = mapOk(state, { iova: M2 + K4, frame: 9 });
    expect(detail.alreadySet).toBe(1);
    expect(landing(dmaAt(state, M2 + K4))).toBe(600);
  });

  it('PASID entry already present: EBUSY', () => {
    const state = busyWorld();
    expectOk(attachDevicePasid(state, { deviceId: DEV, pasid: 9, domainId: DID }));
    expectRefused(state, 'EBUSY', (copy) => attachDevicePasid(copy, { deviceId: DEV, pasid: 9, domainId: DID }));
  });

  it('page-table page allocation failure: ENOMEM, with every table allocated on the way given back', () => {
    const state = world({ tablePages: 4 });
    mapOk(state, { iova: 0, frame: 0 });
    // The first page fits the existing last-level table; the second needs a new one.
    expectRefused(state, 'ENOMEM', (copy) =>
      map(copy, config, mapArgs({ iova: M2 - K4, frame: 5, sizeBytes: 2 * K4 })),
    );
    expectRefused(state, 'ENOMEM', (copy) => map(copy, config, mapArgs({ iova: 2 ** 39, frame: 5 })));
  });
});

describe('order of checks', () => {
  it('an unknown domain is reported before misaligned arguments (ENOENT, not EINVAL)', () => {
    expectRefused(busyWorld(), 'ENOENT', (copy) => map(copy, config, mapArgs({ domainId: 5, iova: 3 })));
  });

  it('beyond the width with no permission: EFAULT (the width check comes first)', () => {
    expectRefused(busyWorld(), 'EFAULT', (copy) =>
      map(copy, config, mapArgs({ iova: WIDTH_END, read: false, write: false })),
    );
  });

  it('misaligned and beyond the width: EINVAL (core alignment before the driver)', () => {
    expectRefused(busyWorld(), 'EINVAL', (copy) => map(copy, config, mapArgs({ iova: WIDTH_END + 1 })));
  });
});

describe('model-level refusals', () => {
  it('an unknown domain id: ENOENT for map and unmap', () => {
    const state = busyWorld();
    expectRefused(state, 'ENOENT', (copy) => map(copy, config, mapArgs({ domainId: 5 })));
    expectRefused(state, 'ENOENT', (copy) => unmap(copy, config, { domainId: 5, iova: 0, sizeBytes: K4 }));
  });

  it.each([
    ['negative iova', { iova: -K4 }],
    ['fractional frame', { frame: 1.5 }],
    ['NaN size', { sizeBytes: Number.NaN }],
  ])('map with a %s: EINVAL', (_, overrides) => {
    expectRefused(busyWorld(), 'EINVAL', (copy) => map(copy, config, mapArgs(overrides)));
  });

  it('unmap on a non-paging domain: returns 0 (WARN)', () => {
    const state = createIommuState();
    expectOk(createDomain(state, { type: 'identity' }));
    const result = expectRefused(state, 'EINVAL', (copy) =>
      unmap(copy, config, { domainId: 1, iova: 0, sizeBytes: K4 }),
    );
    expect(result.detail?.unmappedBytes).toBe(0);
  });
});
