/**
 * The copies a step makes (issue 23): field-by-field copies and parts shared copy-on-write
 * (`models/copy-on-write.ts`). Along seeded walks of the explore scopes of the stacks over VFIO,
 * every state a step receives is deep-frozen first, so a step that writes into its input — or into
 * a part it shares with its input without unsharing it — throws (ES modules run in strict mode);
 * and a copy of each state equals it (a field a written-out copy forgot would differ).
 */
import { describe, expect, test } from 'vitest';
import { deepEqual } from '../../models/deep-equal.js';
import { cloneIommuState } from '../../models/iommu/state.js';
import type { IommuState } from '../../models/iommu/types.js';
import { cloneVfioState } from '../../models/vfio/state.js';
import type { VfioState } from '../../models/vfio/types.js';
import { frozenWalk } from '../frozen-walk.js';

const walk = (id: string, steps: number, seed: number, visit: (state: unknown) => void): void =>
  frozenWalk(id, steps, seed, visit);

const stacks = ['iommu/lazy-held', 'iommu/strict', 'gvt/write-protect', 'vfio/type1', 'mdev/unmap-callback'];
/** Stacks over Xen, whose host memory is shared the same way (`models/memory/frames.ts`). */
const xenStacks = ['xen/map', 'xen/lookup-then-map'];

describe('a step never writes its input, and copies equal what they copy', () => {
  test.each(stacks)('%s', (id) => {
    walk(id, 300, 7, (state) => {
      const parts = state as { vfio?: VfioState; iommu?: IommuState };
      const vfio = parts.vfio ?? (state as VfioState);
      expect(deepEqual(cloneVfioState(vfio), vfio)).toBe(true);
      if (parts.iommu !== undefined) expect(deepEqual(cloneIommuState(parts.iommu), parts.iommu)).toBe(true);
    });
  });
});

describe('over Xen too, a step never writes its input', () => {
  test.each(xenStacks)('%s', (id) => {
    let states = 0;
    walk(id, 300, 11, () => (states += 1));
    expect(states).toBe(300);
  });
});
