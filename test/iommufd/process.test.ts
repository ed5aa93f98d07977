/**
 * The VMM process under iommufd (models/iommufd/process.ts): mmap and munmap of huge ranges answer
 * at once (they walk the pages that exist, not the range), and mmap past RLIMIT_AS is ENOMEM, as
 * type1's model answers it.
 */
import { describe, expect, test } from 'vitest';
import { defaultIommufdConfig } from '../../models/iommufd/config.js';
import { createIommufdState } from '../../models/iommufd/process.js';
import { iommufdStep } from '../../models/iommufd/step.js';

const world = createIommufdState({
  memory: { frameCount: 8, policy: 'lifo', randomSeed: 'process' },
  owner: 1,
  memlockLimitPages: 64,
  capIpcLock: false,
  openedAsVfio: false,
  regions: [{ vaddrPage: 16, npages: 4, writable: true }],
  addressSpaceLimitPages: 8,
});
const config = defaultIommufdConfig([]);

describe('the VMM process under iommufd', () => {
  test('munmap of 2^32 pages drops the mapped ones and answers at once', () => {
    const step = iommufdStep(world, config, { kind: 'munmap', vaddrPage: 0, npages: 2 ** 32 });
    expect(step.result.ok).toBe(true);
    expect(Object.keys(step.state.process.pages)).toEqual([]);
  });

  test('mmap past RLIMIT_AS is ENOMEM and changes nothing; within it, it maps', () => {
    const huge = iommufdStep(world, config, { kind: 'mmap', vaddrPage: 100, npages: 2 ** 32, writable: true });
    expect(huge.result.error).toBe('ENOMEM');
    expect(huge.state).toEqual(world);
    const fits = iommufdStep(world, config, { kind: 'mmap', vaddrPage: 100, npages: 4, writable: true });
    expect(fits.result.ok).toBe(true);
    const over = iommufdStep(fits.state, config, { kind: 'mmap', vaddrPage: 200, npages: 1, writable: true });
    expect(over.result.error).toBe('ENOMEM');
  });

  test('mmap over a mapped page is EEXIST', () => {
    expect(iommufdStep(world, config, { kind: 'mmap', vaddrPage: 18, npages: 4, writable: true }).result.error).toBe(
      'EEXIST',
    );
  });
});
