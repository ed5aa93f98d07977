/**
 * Each deliberate bug of config.ts, driven through a scenario where it matters, is exposed by the
 * view `views.ts` names for it; the same scenario on the correct model leaves that view clean.
 */
import { describe, expect, it } from 'vitest';
import type { VfioBug, VfioConfig } from '../../../models/vfio/config.js';
import { mapDma, mapDmaArgs } from '../../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import { cloneVfioState } from '../../../models/vfio/state.js';
import { unmapAllArgs, unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import {
  frameRefcountMismatches,
  kernelCrash,
  lockedVmAccounting,
  overlappingMappings,
  translationDisagreements,
} from '../../../models/vfio/views.js';
import {
  MDEV,
  RAM,
  config,
  expectErrno,
  expectOk,
  frame,
  map,
  mediatedWorld,
  mfnAt,
  passthroughWorld,
} from './world.js';

function withBug(bug: VfioBug): VfioConfig {
  return { bugs: [bug] };
}

describe('unmap-skips-unpin', () => {
  function run(bugs: VfioConfig) {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, bugs);
    expectOk(unmapDma(state, bugs, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
    return state;
  }

  it('leaves a reference no structure accounts for (frameRefcountMismatches)', () => {
    const state = run(withBug('unmap-skips-unpin'));
    expect(frameRefcountMismatches(state).map((m) => [m.mfn, m.refcount, m.holders.length])).toEqual([
      [mfnAt(state, RAM + 1), 2, 1],
      [mfnAt(state, RAM), 2, 1],
    ]);
    expect(frameRefcountMismatches(run(config))).toEqual([]);
  });
});

describe('map-failure-leaks-pins', () => {
  function run(bugs: VfioConfig) {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 6 }, bugs);
    const before = cloneVfioState(state);
    const result = mapDma(state, bugs, mapDmaArgs({ vaddrPage: RAM + 5, iovaPage: 10, npages: 3 }));
    expectErrno(result, 'ENOMEM');
    return { state, before };
  }

  it('a failed map changes the state: its pins stay (frameRefcountMismatches)', () => {
    const buggy = run(withBug('map-failure-leaks-pins'));
    expect(buggy.state).not.toEqual(buggy.before);
    expect(frameRefcountMismatches(buggy.state).map((m) => m.refcount - m.holders.length)).toEqual([1, 1]);
    expect(lockedVmAccounting(buggy.state).processPages).toBe(6);
    const correct = run(config);
    expect(correct.state).toEqual(correct.before);
    expect(frameRefcountMismatches(correct.state)).toEqual([]);
  });
});

describe('locked-vm-not-uncharged', () => {
  function run(bugs: VfioConfig) {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 5 }, bugs);
    expectOk(unmapDma(state, bugs, unmapAllArgs()));
    return state;
  }

  it('mm->locked_vm stays above the pages charged (lockedVmAccounting), and a later map fails', () => {
    const state = run(withBug('locked-vm-not-uncharged'));
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 5, expectedPages: 0 });
    expectErrno(mapDma(state, config, mapDmaArgs({ vaddrPage: RAM, iovaPage: 0, npages: 4 })), 'ENOMEM');
    expect(lockedVmAccounting(run(config))).toMatchObject({ processPages: 0, perMappingPages: 0, expectedPages: 0 });
  });
});

describe('mdev-ignores-unmap', () => {
  function run(bugs: VfioConfig) {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, bugs);
    expectOk(mdevPinPages(state, bugs, { deviceId: MDEV, iovaPage: 1, npage: 1, read: true, write: true }));
    const result = unmapDma(state, bugs, unmapAllArgs());
    return { state, result };
  }

  it('the unmap of the pinned range crashes the host (kernelCrash)', () => {
    const buggy = run(withBug('mdev-ignores-unmap'));
    expectErrno(buggy.result, 'BUG_ON');
    expect(kernelCrash(buggy.state)).not.toBeNull();
    const correct = run(config);
    expectOk(correct.result);
    expect(kernelCrash(correct.state)).toBeNull();
  });
});

describe('overlap-not-checked', () => {
  function run(bugs: VfioConfig) {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 }, bugs);
    const result = mapDma(state, bugs, mapDmaArgs({ vaddrPage: RAM + 4, iovaPage: 0, npages: 2 }));
    return { state, result };
  }

  it('a second mapping over the same IOVA is accepted (overlappingMappings) and orphans a pin', () => {
    const buggy = run(withBug('overlap-not-checked'));
    expectOk(buggy.result);
    expect(overlappingMappings(buggy.state)).toEqual([{ first: 0, second: 0 }]);
    expect(frameRefcountMismatches(buggy.state).map((m) => m.mfn)).toEqual([
      mfnAt(buggy.state, RAM + 4),
      mfnAt(buggy.state, RAM),
    ]);
    expect(translationDisagreements(buggy.state)).toEqual([]);
    // Unmapping both leaves the first mapping's frame pinned forever.
    expectOk(unmapDma(buggy.state, withBug('overlap-not-checked'), unmapAllArgs()));
    expect(frame(buggy.state, mfnAt(buggy.state, RAM)).refcount).toBe(2);
    const correct = run(config);
    expectErrno(correct.result, 'EEXIST');
    expect(overlappingMappings(correct.state)).toEqual([]);
  });
});
