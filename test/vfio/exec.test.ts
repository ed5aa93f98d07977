/**
 * The VMM's live update across execve against Linux v6.12 (docs/reference/vfio-type1.md §1.20;
 * vfio_iommu_type1.c vfio_dma_do_map's VADDR path, vfio_change_dma_owner, vfio_lock_acct,
 * vfio_pin_page_external; fs/exec.c exec_mmap): the new mm starts uncharged and the old one is
 * dead; a VADDR update needs an invalidated mapping of exactly that iova and size and moves the
 * mapping's charge to the new mm (ENOMEM past its RLIMIT_MEMLOCK); an uncharge on a dead mm is
 * lost (-ESRCH), a driver's pin through it -ENODEV; the hooks change exactly those decisions.
 */
import { describe, expect, test } from 'vitest';
import type { VfioConfig } from '../../models/vfio/config.js';
import { execProcess } from '../../models/vfio/exec.js';
import { mapDma, mapDmaArgs } from '../../models/vfio/map-dma.js';
import { mdevPinPages } from '../../models/vfio/mdev.js';
import { stepVfio } from '../../models/vfio/step.js';
import type { VfioState } from '../../models/vfio/types.js';
import { unmapDma, unmapDmaArgs } from '../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../models/vfio/views.js';
import { vfioExecChargeNotMoved, vfioExecLockedVmUnderflow } from '../../properties/vfio/exec-designs.js';
import { resupplyVaddrCommand } from '../../properties/vfio/resolve.js';
import { validateVfioTemplate } from '../../properties/vfio/schema.js';
import {
  MDEV,
  RAM,
  config,
  dmaAt,
  expectErrno,
  expectOk,
  expectRefused,
  map,
  mediatedWorld,
  mfnAt,
  passthroughWorld,
} from '../models/vfio/world.js';

const invalidate = (iovaPage: number, npages: number) => unmapDmaArgs({ iovaPage, npages, invalidateVaddr: true });
const resupply = (iovaPage: number, npages: number, vaddrPage: number) =>
  mapDmaArgs({ updateVaddr: true, iovaPage, npages, vaddrPage });

/** Two pages of RAM mapped at iova 0 (pinned and charged), then invalidated: the protocol's first half. */
function invalidated(withConfig: VfioConfig = config): VfioState {
  const state = passthroughWorld();
  map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, withConfig);
  expectOk(unmapDma(state, withConfig, invalidate(0, 2)));
  return state;
}

function exec(state: VfioState, shiftPages = 0, withConfig: VfioConfig = config): void {
  expectOk(execProcess(state, withConfig, { shiftPages }));
}

describe('exec: a new mm (exec_mmap)', () => {
  test('the new mm starts with locked_vm 0; pinned frames stay pinned; the memfd is mapped again shiftPages higher', () => {
    const state = invalidated();
    const frames = [mfnAt(state, RAM), mfnAt(state, RAM + 1)];
    expect(state.process.lockedVmPages).toBe(2);
    exec(state, 4);
    expect(state.process.mm).toBe(1);
    expect(state.process.lockedVmPages).toBe(0);
    expect([mfnAt(state, RAM + 4), mfnAt(state, RAM + 5)]).toEqual(frames);
    for (const mfn of frames) expect(state.memory.frames[mfn]?.refcount).toBe(2);
    expect(frameRefcountMismatches(state)).toEqual([]);
    // The mapping still names the dead mm, which keeps its charge.
    expect(dmaAt(state, 0).mm ?? 0).toBe(0);
    expect(dmaAt(state, 0).lockedVmPages).toBe(2);
  });

  test('a shift past the top of the address space is refused ENOMEM, nothing changed', () => {
    const state = invalidated();
    expectRefused(state, 'ENOMEM', (copy) => execProcess(copy, config, { shiftPages: 2 ** 52 - 1 }));
  });

  test('a shift that is not a page count is refused EINVAL', () => {
    expectRefused(invalidated(), 'EINVAL', (copy) => execProcess(copy, config, { shiftPages: -1 }));
  });
});

describe('MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR after exec (vfio_dma_do_map, vfio_change_dma_owner)', () => {
  test('the re-supplied vaddr moves the mapping and its charge to the new mm', () => {
    const state = invalidated();
    exec(state, 4);
    expectOk(mapDma(state, config, resupply(0, 2, RAM + 4)));
    const dma = dmaAt(state, 0);
    expect([dma.vaddrPage, dma.vaddrInvalid, dma.mm, dma.lockedVmPages]).toEqual([RAM + 4, false, 1, 2]);
    expect(state.process.lockedVmPages).toBe(2);
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 2, perMappingPages: 2, expectedPages: 2 });
  });

  test('no mapping at the iova: ENOENT', () => {
    const state = invalidated();
    exec(state);
    expectRefused(state, 'ENOENT', (copy) => mapDma(copy, config, resupply(8, 1, RAM)));
  });

  test('a mapping whose vaddr is valid: EINVAL', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    exec(state);
    expectRefused(state, 'EINVAL', (copy) => mapDma(copy, config, resupply(0, 2, RAM)));
  });

  test('a size that differs from the mapping: EINVAL', () => {
    const state = invalidated();
    exec(state);
    expectRefused(state, 'EINVAL', (copy) => mapDma(copy, config, resupply(0, 1, RAM)));
  });

  test('an iova that differs from the mapping (inside it): EINVAL', () => {
    const state = invalidated();
    exec(state);
    expectRefused(state, 'EINVAL', (copy) => mapDma(copy, config, resupply(1, 1, RAM + 1)));
  });

  test("the charge would pass the new mm's RLIMIT_MEMLOCK: ENOMEM, the mapping still invalid", () => {
    const state = invalidated();
    exec(state);
    // The new program pins 7 pages of its own first (RLIMIT_MEMLOCK is 8).
    map(state, { vaddrPage: RAM + 2, iovaPage: 16, npages: 6 });
    map(state, { vaddrPage: RAM + 6, iovaPage: 24, npages: 1 });
    expect(state.process.lockedVmPages).toBe(7);
    expectRefused(state, 'ENOMEM', (copy) => mapDma(copy, config, resupply(0, 2, RAM)));
  });

  test('from the same mm (no exec) nothing moves', () => {
    const state = invalidated();
    expectOk(mapDma(state, config, resupply(0, 2, RAM)));
    expect(state.process.lockedVmPages).toBe(2);
    expect(dmaAt(state, 0).mm).toBeUndefined();
  });
});

describe('accounting on a dead mm (vfio_lock_acct async: mmget_not_zero)', () => {
  test('unmapping a mapping of the dead mm uncharges nothing: the new mm stays at 0', () => {
    const state = invalidated();
    exec(state);
    expectOk(unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });

  test("a driver's vfio_pin_pages through a mapping of the dead mm: ENODEV", () => {
    const state = mediatedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    exec(state);
    expectRefused(state, 'ENODEV', (copy) =>
      mdevPinPages(copy, config, { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: false }),
    );
  });
});

describe('the hooks', () => {
  test('lockAcctMm = the task mm (before 046eca5018f8): the unmap takes the pages off the new mm', () => {
    const flawed = vfioExecLockedVmUnderflow.config;
    const state = invalidated(flawed);
    exec(state, 0, flawed);
    expectOk(unmapDma(state, flawed, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
    expect(state.process.lockedVmPages).toBe(-2);
  });

  test('vaddrUpdateMovesCharge = never (before 90fdd158a695): the charge stays with the dead mm', () => {
    const flawed = vfioExecChargeNotMoved.config;
    const state = invalidated(flawed);
    exec(state, 0, flawed);
    expectOk(mapDma(state, flawed, resupply(0, 2, RAM)));
    expect(state.process.lockedVmPages).toBe(0);
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 0, perMappingPages: 0, expectedPages: 2 });
  });
});

describe("the generators' re-supply (resolve.ts)", () => {
  test('aims at the invalidated mapping, its vaddr moved as far as the exec moved the RAM', () => {
    const state = invalidated();
    exec(state, 1);
    const command = resupplyVaddrCommand(state, 5);
    expect(command).toEqual({ kind: 'mapDma', ...resupply(0, 2, RAM + 1) });
    expectOk(stepVfio(state, config, command).result);
    expect(validateVfioTemplate({ kind: 'mapDma', resupplyVaddr: { pick: 3 } })).toBeNull();
    expect(validateVfioTemplate({ kind: 'mapDma', resupplyVaddr: { pick: 3 }, phased: true })).toBeNull();
    expect(validateVfioTemplate({ kind: 'mapDma', resupplyVaddr: { pick: -1 } })).not.toBeNull();
    expect(validateVfioTemplate({ kind: 'mapDma', resupplyVaddr: { pick: 1 }, vaddr: '0' })).not.toBeNull();
  });

  test('with no invalidated mapping the request is refused as the kernel refuses it', () => {
    const state = passthroughWorld();
    expectErrno(stepVfio(state, config, resupplyVaddrCommand(state, 2)).result, 'ENOENT');
  });
});
