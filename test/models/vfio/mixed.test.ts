/**
 * A container holding an IOMMU-backed group and an emulated one (docs/reference/vfio-type1.md
 * §1.9, §1.11, §1.8): the IOMMU path pins and charges every mapped page; a driver's
 * vfio_pin_pages of such a page takes a page pin of its own and no charge (`do_accounting` is off
 * while an IOMMU domain exists); UNMAP_DMA first asks the drivers to unpin, then unmaps from the
 * domain, syncs and drops the IOMMU-path pins, uncharging every page it unpinned (a page a leaking
 * driver still pins too). The bug `unmap-skips-unpin-with-emulated-group` keeps those pins, and
 * only while an emulated group is attached.
 */
import { describe, expect, it } from 'vitest';
import { closeDevice, groupUnsetContainer } from '../../../models/vfio/container.js';
import type { VfioConfig } from '../../../models/vfio/config.js';
import { mdevPinPages } from '../../../models/vfio/mdev.js';
import type { VfioState } from '../../../models/vfio/types.js';
import { unmapDma, unmapDmaArgs } from '../../../models/vfio/unmap-dma.js';
import { frameRefcountMismatches, lockedVmAccounting } from '../../../models/vfio/views.js';
import {
  CCW,
  GROUP_A,
  GROUP_MDEV,
  MDEV,
  PCI_A,
  RAM,
  backendOf,
  config,
  dmaAt,
  expectOk,
  frame,
  map,
  mfnAt,
  setUp,
  world,
} from './world.js';

const skipsUnpin: VfioConfig = { bugs: ['unmap-skips-unpin-with-emulated-group'] };

/** Group A (IOMMU, device open) and the emulated group (mdev and ccw open) in one v2 container. */
function mixedWorld(): VfioState {
  return setUp(world(), [GROUP_A, GROUP_MDEV], [PCI_A, MDEV, CCW]);
}

describe('a mixed container', () => {
  it('holds one IOMMU domain and the emulated group; only the emulated devices are registered', () => {
    const backend = backendOf(mixedWorld());
    expect(backend.domains.map((domain) => domain.groupIds)).toEqual([[GROUP_A]]);
    expect(backend.emulatedGroupIds).toEqual([GROUP_MDEV]);
    expect(backend.deviceIds).toEqual([MDEV, CCW]);
  });

  it("a driver's pin of an IOMMU-pinned page is a second page pin, not charged", () => {
    const state = mixedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    const mfn = mfnAt(state, RAM);
    expect(frame(state, mfn).refcount).toBe(2);
    expect(state.process.lockedVmPages).toBe(2);
    expectOk(mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: true }));
    expect(frame(state, mfn).refcount).toBe(3);
    expect(dmaAt(state, 0).externalPins[0]).toEqual({ mfn, refCount: 1 });
    expect(lockedVmAccounting(state)).toMatchObject({ processPages: 2, perMappingPages: 2, expectedPages: 2 });
  });

  it('UNMAP_DMA: the drivers unpin in dma_unmap, then the domain is unmapped and synced before the IOMMU-path unpin', () => {
    const state = mixedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 });
    expectOk(mdevPinPages(state, config, { deviceId: MDEV, iovaPage: 1, npage: 1, read: true, write: true }));
    const result = unmapDma(state, config, unmapDmaArgs({ iovaPage: 0, npages: 2 }));
    expect(expectOk(result)).toMatchObject({ removed: 1, callbacks: 1 });
    expect(result.effects.map((effect) => effect.kind)).toEqual(['unmap', 'unmap', 'iotlb-sync']);
    expect(state.devices[MDEV]?.pins).toEqual({});
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(1);
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(1);
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(state)).toEqual([]);
  });
});

describe('a leaked external pin when the last IOMMU group leaves (§1.10)', () => {
  it("stays pinned, but its page is uncharged with the IOMMU path's pins (vfio_lock_acct(dma, -unlocked))", () => {
    const keepsPins: VfioConfig = { bugs: ['close-keeps-pins'] };
    const state = mixedWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, keepsPins);
    expectOk(mdevPinPages(state, keepsPins, { deviceId: MDEV, iovaPage: 0, npage: 1, read: true, write: true }));
    for (const deviceId of [MDEV, CCW]) expectOk(closeDevice(state, keepsPins, { deviceId }));
    expectOk(groupUnsetContainer(state, keepsPins, { groupId: GROUP_MDEV }));
    expectOk(closeDevice(state, keepsPins, { deviceId: PCI_A }));
    expectOk(groupUnsetContainer(state, keepsPins, { groupId: GROUP_A }));
    expect(state.container.backend).toBeNull();
    expect(state.process.lockedVmPages).toBe(0);
    expect(frame(state, mfnAt(state, RAM)).refcount).toBe(2);
    expect(frame(state, mfnAt(state, RAM + 1)).refcount).toBe(1);
  });
});

describe('unmap-skips-unpin-with-emulated-group', () => {
  function unmapAfterMap(state: VfioState, bugs: VfioConfig): VfioState {
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, bugs);
    expectOk(unmapDma(state, bugs, unmapDmaArgs({ iovaPage: 0, npages: 2 })));
    return state;
  }

  it('keeps the IOMMU-path pins of an UNMAP_DMA while the emulated group is attached; their charge goes', () => {
    const state = unmapAfterMap(mixedWorld(), skipsUnpin);
    expect(frameRefcountMismatches(state).map((found) => [found.refcount, found.holders.length])).toEqual([
      [2, 1],
      [2, 1],
    ]);
    expect(state.process.lockedVmPages).toBe(0);
    expect(frameRefcountMismatches(unmapAfterMap(mixedWorld(), config))).toEqual([]);
  });

  it('changes nothing once the emulated group has left: the same container unpins', () => {
    const state = mixedWorld();
    expectOk(closeDevice(state, skipsUnpin, { deviceId: MDEV }));
    expectOk(closeDevice(state, skipsUnpin, { deviceId: CCW }));
    expectOk(groupUnsetContainer(state, skipsUnpin, { groupId: GROUP_MDEV }));
    expect(frameRefcountMismatches(unmapAfterMap(state, skipsUnpin))).toEqual([]);
  });

  it('does not touch the reaccounting when the IOMMU group leaves first, nor the release after it', () => {
    const state = setUp(world(), [GROUP_MDEV, GROUP_A], []);
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 2 }, skipsUnpin);
    expectOk(groupUnsetContainer(state, skipsUnpin, { groupId: GROUP_A }));
    expectOk(groupUnsetContainer(state, skipsUnpin, { groupId: GROUP_MDEV }));
    expect(state.container.backend).toBeNull();
    expect(frameRefcountMismatches(state)).toEqual([]);
  });
});
