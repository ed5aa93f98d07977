/**
 * A user's own vGPU `dma_unmap` op on KVMGT, written against the package's entry point alone
 * (`src/index.ts`): the op is a function of VFIO's call returning what it does, checked by the
 * built-in invariants. The compiler checks it: the `@ts-expect-error` lines below fail `tsc` (run
 * by `npm test`) the day they stop being errors.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, kvmgtDesign, releaseShadows } from '../../src/index.js';
import type {
  Design,
  KvmgtCommand,
  KvmgtState,
  KvmgtTemplate,
  KvmgtUnmapAction,
  KvmgtUnmapCallback,
} from '../../src/index.js';
import { expectNothingFound } from '../helpers.js';

/** Every shadow user of the range pointed at scratch first, then every page released: a sound op. */
const scratchAllThenRelease: KvmgtUnmapCallback = ({ entries }) => [
  ...entries.map((entry): KvmgtUnmapAction => ({ kind: 'scratchShadowUsers', dmaAddr: entry.dmaAddr })),
  ...entries.map((entry): KvmgtUnmapAction => ({ kind: 'removeCacheEntry', gfn: entry.gfn })),
];

/** The shadow users pointed at scratch, the pages kept pinned (the op forgets to release them). */
const scratchOnly: KvmgtUnmapCallback = (call) =>
  releaseShadows(call).filter((action) => action.kind === 'scratchShadowUsers');

const sound = kvmgtDesign({
  id: 'mine/scratch-all-then-release',
  unmapCallback: scratchAllThenRelease,
  expected: 'holds',
  description: "the vGPU's dma_unmap op points every shadow user of the range at scratch, then releases the pages",
});

const keepsPins: Design<KvmgtState, KvmgtCommand, KvmgtTemplate> = kvmgtDesign({
  id: 'mine/scratch-only',
  unmapCallback: scratchOnly,
  expected: 'violates',
  breaks: ['no-kernel-crash', 'cache-kref-matches-shadow-users', 'failed-op-leaves-state-unchanged'],
  description: "the vGPU's dma_unmap op points the shadow users at scratch and keeps the pages pinned",
});

/** Never called: what the compiler refuses about an op. */
export function refusedByTheCompiler(): void {
  // @ts-expect-error: the op answers with its calls, not with a new state
  const stateful: KvmgtUnmapCallback = ({ state }) => state;
  // @ts-expect-error: a call the op cannot make
  const unpin: KvmgtUnmapAction = { kind: 'vfioUnpinPages', gfn: 0 };
  // @ts-expect-error: the built-in ops are 'release-shadows' and 'drop-cache'
  kvmgtDesign({ id: 'x', expected: 'holds', description: 'x', unmapCallback: 'release' });
  void [stateful, unpin];
}

describe("a user's KVMGT dma_unmap op, through the public API only", () => {
  test('a sound op written as a function: nothing breaks', () => {
    expectNothingFound(checkDesign(sound, { seed: 3, runs: 100 }));
  });

  test('an op that keeps its pins is caught: UNMAP_DMA retries and the kernel BUG_ONs', () => {
    const check = checkDesign(keepsPins, { seed: 1, runs: 300, report: keepsPins.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.met).toBe(true);
    // The VMM's UNMAP_DMA of RAM the vGPU uses from the start: the op scratched the shadow entries
    // but left their cache references, and the pins make UNMAP_DMA retry until BUG_ON.
    expect(check.violations.map((found) => [found.invariant, found.length])).toEqual([
      ['no-kernel-crash', 1],
      ['cache-kref-matches-shadow-users', 1],
      ['failed-op-leaves-state-unchanged', 1],
    ]);
  });
});
