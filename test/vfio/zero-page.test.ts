/**
 * The shared zero page against Linux v6.12 (docs/reference/vfio-type1.md §1.19): a read fault of a
 * page never written maps it with no reference (do_anonymous_page); a write breaks COW; MAP_DMA's
 * long-term pin never pins it — FOLL_WRITE breaks COW, a read-only pin unshares (gup_must_unshare
 * in a COW mapping) — and a failed MAP_DMA leaves the page as it found it; the zero page is never
 * freed. The hook `longtermPinUnsharesZeroPage` pins the zero page instead.
 */
import { describe, expect, test } from 'vitest';
import type { VfioConfig } from '../../models/vfio/config.js';
import { mapDma, mapDmaArgs } from '../../models/vfio/map-dma.js';
import { releaseFromOther } from '../../models/vfio/other-owner.js';
import { discardRange, munmapRegion, touchPage } from '../../models/vfio/process-memory.js';
import type { VfioState } from '../../models/vfio/types.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../models/vfio/views.js';
import { vfioPinsZeroPage } from '../../properties/vfio/memory-designs.js';
import {
  GROUP_A,
  LAZY,
  PCI_A,
  config,
  expectOk,
  expectRefused,
  setUp,
  world,
  worldSpec,
} from '../models/vfio/world.js';

function zeroWorld(): VfioState {
  const spec = worldSpec();
  return setUp(world({ process: { ...spec.process, zeroPage: true } }), [GROUP_A], [PCI_A]);
}

function zeroMfn(state: VfioState): number {
  const mfn = state.process.zeroMfn;
  if (mfn === undefined) throw new Error('no zero page');
  return mfn;
}

function readOnlyMap(state: VfioState, vaddrPage: number, npages = 1, withConfig: VfioConfig = config) {
  return mapDma(state, withConfig, mapDmaArgs({ vaddrPage, iovaPage: 0, npages, write: false }));
}

function translated(state: VfioState, iovaPage = 0): number | undefined {
  const backend = state.container.backend;
  return backend?.kind === 'type1' ? backend.domains[0]?.translations[iovaPage]?.mfn : undefined;
}

describe('the zero page in the VMM', () => {
  test('a read of a page never written maps the zero page, with no reference', () => {
    const state = zeroWorld();
    const refcount = state.memory.frames[zeroMfn(state)]?.refcount;
    expect(expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }))['mfn']).toBe(zeroMfn(state));
    expect(state.memory.frames[zeroMfn(state)]?.refcount).toBe(refcount);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });
  test('a write breaks COW: a fresh frame of the guest', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }));
    const mfn = expectOk(touchPage(state, config, { vaddrPage: LAZY, write: true }))['mfn'];
    expect(mfn).not.toBe(zeroMfn(state));
    expect(state.memory.frames[mfn as number]?.owner).toBe(state.process.owner);
  });
  test('munmap and MADV_DONTNEED of a zero-mapped page put nothing; the zero page is never freed (EPERM)', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }));
    expectOk(touchPage(state, config, { vaddrPage: LAZY + 1, write: false }));
    expect(expectOk(discardRange(state, config, { vaddrPage: LAZY, npages: 1 }))['freedFrames']).toBe(0);
    expect(expectOk(munmapRegion(state, config, { vaddrPage: LAZY + 1, npages: 1 }))['freedFrames']).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
    expectRefused(state, 'EPERM', (copy) => releaseFromOther(copy, config, { mfn: zeroMfn(copy) }));
  });
});

describe('MAP_DMA never pins the zero page', () => {
  test('read-only, of a zero-mapped page: unshared first (gup_must_unshare), the fresh page pinned and charged', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }));
    expectOk(readOnlyMap(state, LAZY));
    const mfn = translated(state);
    expect(mfn).not.toBe(zeroMfn(state));
    expect(state.process.pages[LAZY]?.mfn).toBe(mfn);
    expect(state.process.lockedVmPages).toBe(1);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });
  test('read-only, of a page never touched: unshared too', () => {
    const state = zeroWorld();
    expectOk(readOnlyMap(state, LAZY));
    expect(translated(state)).not.toBe(zeroMfn(state));
    expect(state.process.pages[LAZY]?.mfn).toBe(translated(state));
  });
  test('with WRITE, of a zero-mapped page: FOLL_WRITE breaks COW', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }));
    expectOk(mapDma(state, config, mapDmaArgs({ vaddrPage: LAZY, iovaPage: 0, npages: 1 })));
    expect(translated(state)).not.toBe(zeroMfn(state));
    expect(state.process.pages[LAZY]?.mfn).toBe(translated(state));
  });
  test('a MAP_DMA that fails after unsharing leaves the page on the zero page, as it found it', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY + 1, write: false }));
    // The second page (LAZY + 2) has no VMA: EFAULT after the first was unshared and pinned.
    expectRefused(state, 'EFAULT', (copy) => readOnlyMap(copy, LAZY + 1, 2));
  });
});

describe('the hook longtermPinUnsharesZeroPage', () => {
  test('the flawed design maps the zero page itself; the guest’s next write moves its vaddr away from it', () => {
    const state = zeroWorld();
    expectOk(touchPage(state, config, { vaddrPage: LAZY, write: false }));
    expectOk(readOnlyMap(state, LAZY, 1, vfioPinsZeroPage.config));
    expect(translated(state)).toBe(zeroMfn(state));
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 0, expectedPages: 0 });
    const written = expectOk(touchPage(state, config, { vaddrPage: LAZY, write: true }))['mfn'];
    expect(written).not.toBe(translated(state));
  });
});
