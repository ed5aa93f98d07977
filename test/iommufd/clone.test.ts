/**
 * The iommufd model's written-out copy (`models/iommufd/clone.ts`, issue 23), as
 * test/vfio/clone.test.ts holds VFIO's: along seeded walks of the explore scopes of the stacks over
 * iommufd, every state a step receives is deep-frozen first, so a step that writes into its input —
 * or into a part it shares with its input without unsharing it — throws (ES modules run in strict
 * mode); and a copy of each iommufd state equals it, and holds no field the copy does not know (a
 * field added to a type of `types.ts` and forgotten by the copy fails here: `fields.ts`).
 */
import { describe, expect, test } from 'vitest';
import { deepEqual } from '../../models/deep-equal.js';
import { cloneIommufdState } from '../../models/iommufd/clone.js';
import type { IommufdState } from '../../models/iommufd/types.js';
import type { IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { Type1IommufdPairState } from '../../models/iommufd-pt/pair.js';
import { findDesign } from '../../properties/registry.js';
import { frozenWalk } from '../frozen-walk.js';
import { unknownIommufdFields } from './fields.js';

const walk = (id: string, steps: number, seed: number, visit: (state: unknown) => void): void =>
  frozenWalk(id, steps, seed, visit, 10);

function checkCopy(iommufd: IommufdState): void {
  expect(unknownIommufdFields(iommufd)).toEqual([]);
  expect(deepEqual(cloneIommufdState(iommufd), iommufd)).toBe(true);
}

describe('a step of a stack over iommufd never writes its input, and copies equal what they copy', () => {
  test.each(['iommufd/passthrough', 'iommufd/lazy-held'])('%s', (id) => {
    let hwpts = 0;
    walk(id, 300, 7, (state) => {
      const iommufd = (state as IommufdPtState).iommufd;
      hwpts += Object.values(iommufd.objects).filter((object) => object.type === 'hwpt_paging').length;
      checkCopy(iommufd);
    });
    // The walk goes through states with a domain (the shared translations are exercised).
    expect(hwpts).toBeGreaterThan(0);
  });

  test('iommufd/differential', () => {
    walk('iommufd/differential', 300, 7, (state) => checkCopy((state as Type1IommufdPairState).iommufd.iommufd));
  });
});

describe('the guard knows what a forgotten field looks like', () => {
  test('a field the copy does not write out is reported, and the copy differs', () => {
    const design = findDesign('iommufd/passthrough');
    if (design === undefined) throw new Error('no iommufd/passthrough');
    const iommufd = structuredClone((design.init() as IommufdPtState).iommufd);
    const ioas = Object.values(iommufd.objects).find((object) => object.type === 'ioas');
    if (ioas === undefined) throw new Error('no IOAS at start');
    Object.assign(ioas, { dirtyTracking: true });
    expect(unknownIommufdFields(iommufd)).toEqual(['ioas.dirtyTracking']);
    expect(deepEqual(cloneIommufdState(iommufd), iommufd)).toBe(false);
  });
});
