/**
 * The vIOMMU stack step by step: what each design does with the guest's table writes, its
 * invalidations (correct, skipped, misdirected) and its balloon requests, where the device's DMA
 * lands, and what each step costs. A guest that breaks the rules hurts itself only: the device
 * faults, or still reaches a frame the guest owns and VFIO pins.
 */
import { describe, expect, test } from 'vitest';
import { stepViommu } from '../../../models/viommu/step.js';
import { GUEST_DID } from '../../../models/viommu/types.js';
import type {
  ViommuCommand,
  ViommuConfig,
  ViommuMode,
  ViommuResult,
  ViommuState,
} from '../../../models/viommu/types.js';
import { pinnedFrames, viommuReach } from '../../../models/viommu/views.js';
import { viommuConfig } from '../../../properties/viommu/design.js';
import { initViommuWorld } from '../../../properties/viommu/world.js';

/** Guest RAM: GPA page p is backed by mfn p at the start (contiguous frames from 0). */
interface World {
  state: ViommuState;
  readonly config: ViommuConfig;
  run(command: ViommuCommand): ViommuResult;
}

function world(mode: ViommuMode): World {
  const config = viommuConfig(mode);
  const self: World = {
    state: initViommuWorld(config),
    config,
    run(command) {
      const step = stepViommu(self.state, config, command);
      self.state = step.state;
      return step.result;
    },
  };
  return self;
}

const map = (giovaPage: number, gpaPage: number, write = true): ViommuCommand => ({
  kind: 'guestMap',
  giovaPage,
  gpaPage,
  write,
});
const unmap = (giovaPage: number): ViommuCommand => ({ kind: 'guestUnmap', giovaPage });
const invalidate = (giovaPage: number, did = GUEST_DID, mask = 0): ViommuCommand => ({
  kind: 'guestInvalidate',
  granularity: 'page',
  did,
  giovaPage,
  mask,
});
const dma = (giovaPage: number, write = false): ViommuCommand => ({ kind: 'deviceDma', giovaPage, write });

/** Where a DMA landed: the mfn, or `fault`. */
function landing(result: ViommuResult): number | 'fault' {
  expect(result.ok).toBe(true);
  const access = result.accesses[0];
  return access?.outcome === 'landed' && access.mfn !== null ? access.mfn : 'fault';
}

function ownerOf(state: ViommuState, mfn: number): number | null {
  return state.host.vfio.memory.frames[mfn]?.owner ?? null;
}

describe('shadow', () => {
  test('the host learns of a map only from its invalidation: one exit, one MAP_DMA, one pin', () => {
    const w = world('shadow');
    expect(w.run(map(0, 2)).costs).toMatchObject({ vmExits: 0, vfioIoctls: 0 });
    expect(landing(w.run(dma(0)))).toBe('fault');
    expect(w.run(invalidate(0)).costs).toMatchObject({ vmExits: 1, vfioIoctls: 1, pins: 1 });
    expect(landing(w.run(dma(0, true)))).toBe(2);
    expect(pinnedFrames(w.state)).toEqual([2]);
  });

  test('an unmap the guest does not invalidate still reaches its own, pinned frame; the invalidation ends it', () => {
    const w = world('shadow');
    w.run(map(0, 2));
    w.run(invalidate(0));
    w.run(unmap(0));
    expect(landing(w.run(dma(0)))).toBe(2);
    const result = w.run(invalidate(0));
    expect(result.costs).toMatchObject({ vmExits: 1, vfioIoctls: 1, hostIotlbInvalidations: 1 });
    expect(landing(w.run(dma(0)))).toBe('fault');
    expect(w.state.host.iommu.iotlb).toEqual([]);
  });

  test('a misdirected invalidation traps and changes nothing', () => {
    const w = world('shadow');
    w.run(map(0, 2));
    const before = w.state.host;
    expect(w.run(invalidate(0, GUEST_DID + 1)).costs).toMatchObject({ vmExits: 1, vfioIoctls: 0 });
    expect(w.state.host).toBe(before);
  });

  test('a changed entry is unmapped, then mapped again; a domain invalidation replays every page', () => {
    const w = world('shadow');
    w.run(map(0, 2));
    w.run(map(1, 3));
    w.run({ kind: 'guestInvalidate', granularity: 'domain', did: GUEST_DID, giovaPage: 0, mask: 0 });
    expect([landing(w.run(dma(0))), landing(w.run(dma(1)))]).toEqual([2, 3]);
    w.run(map(0, 4));
    expect(w.run(invalidate(0)).detail).toMatchObject({ mappedPages: 1, unmappedPages: 1 });
    expect(landing(w.run(dma(0)))).toBe(4);
  });

  test('ballooning out a page the guest still maps: VFIO keeps the frame, nobody else gets it', () => {
    const w = world('shadow');
    w.run(map(0, 2));
    w.run(invalidate(0));
    expect(w.run({ kind: 'guestBalloonOut', gpaPage: 2 }).ok).toBe(true);
    expect(w.run({ kind: 'allocateToOther', owner: 2 }).detail?.['mfn']).not.toBe(2);
    expect(landing(w.run(dma(0)))).toBe(2);
    expect(ownerOf(w.state, 2)).toBe(w.state.host.vfio.process.owner);
  });
});

describe('nested', () => {
  test('a map is visible at once, without an exit; stage 2 was pinned at setup', () => {
    const w = world('nested');
    expect(pinnedFrames(w.state)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    w.run(map(0, 2));
    expect(landing(w.run(dma(0, true)))).toBe(2);
    expect(w.state.host.iommu.iotlb).toMatchObject([{ kind: 'nested', iovaPage: 0, gpaPage: 2, frame: 2 }]);
  });

  test('an unmap the guest does not invalidate leaves a combined entry to its own frame; the forwarded invalidation drops it', () => {
    const w = world('nested');
    w.run(map(0, 2));
    w.run(dma(0));
    w.run(unmap(0));
    expect(landing(w.run(dma(0)))).toBe(2);
    expect(w.run(invalidate(0)).costs).toMatchObject({ vmExits: 1, invalidateIoctls: 1, vfioIoctls: 0 });
    expect(landing(w.run(dma(0)))).toBe('fault');
  });

  test('ballooning out a page the guest still maps unmaps it from stage 2 and flushes the combined entry', () => {
    const w = world('nested');
    w.run(map(0, 2));
    w.run(dma(0));
    const result = w.run({ kind: 'guestBalloonOut', gpaPage: 2 });
    expect(result.costs).toMatchObject({ vmExits: 1, vfioIoctls: 1, hostIotlbInvalidations: 1 });
    expect(ownerOf(w.state, 2)).toBeNull();
    expect(w.run({ kind: 'allocateToOther', owner: 2 }).detail?.['mfn']).toBe(2);
    expect(landing(w.run(dma(0)))).toBe('fault');
    expect(viommuReach(w.state)).toEqual([]);
  });

  test('ballooning the page back in maps a fresh frame into stage 2', () => {
    const w = world('nested');
    w.run(map(0, 2));
    w.run({ kind: 'guestBalloonOut', gpaPage: 2 });
    w.run({ kind: 'allocateToOther', owner: 2 });
    expect(w.run({ kind: 'guestBalloonIn', gpaPage: 2 }).costs).toMatchObject({ vmExits: 1, vfioIoctls: 1, pins: 1 });
    const mfn = landing(w.run(dma(0)));
    expect(mfn).not.toBe(2);
    expect(ownerOf(w.state, mfn as number)).toBe(w.state.host.vfio.process.owner);
  });
});

describe('refusals change nothing', () => {
  test.for<[string, ViommuCommand, string]>([
    ['unmap of a GIOVA page the table does not map', unmap(1), 'ENOENT'],
    ['an invalidation address not aligned to its mask', invalidate(1, GUEST_DID, 1), 'EINVAL'],
    ['a mask above MAMV', invalidate(0, GUEST_DID, 19), 'EINVAL'],
    [
      'an address on a domain invalidation',
      { kind: 'guestInvalidate', granularity: 'domain', did: GUEST_DID, giovaPage: 4, mask: 0 },
      'EINVAL',
    ],
    ['balloon in of a page the balloon does not hold', { kind: 'guestBalloonIn', gpaPage: 1 }, 'EINVAL'],
    ['balloon out of a page beyond guest RAM', { kind: 'guestBalloonOut', gpaPage: 8 }, 'EINVAL'],
  ])('%s: %s', ([, command, errno]) => {
    for (const mode of ['shadow', 'nested'] as const) {
      const w = world(mode);
      const before = w.state;
      expect(w.run(command)).toMatchObject({ ok: false, error: errno });
      expect(w.state).toBe(before);
    }
  });
});
