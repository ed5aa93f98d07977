/**
 * The container's query ioctls against Linux v6.12 (docs/reference/vfio-type1.md §1.17):
 * VFIO_IOMMU_GET_INFO's refusals, sizes and capability values (vfio_iommu_type1_get_info and the
 * build_caps helpers) and VFIO_CHECK_EXTENSION's value per extension (container.c
 * vfio_container_ioctl_check_extension, vfio_noiommu_ioctl, vfio_iommu_type1_check_extension);
 * the hooks change the answers where the flawed designs say, and the query invariants see it.
 */
import { describe, expect, test } from 'vitest';
import type { VfioConfig } from '../../models/vfio/config.js';
import {
  groupSetContainer,
  groupUnsetContainer,
  closeDevice,
  VFIO_NOIOMMU_IOMMU,
} from '../../models/vfio/container.js';
import { injectFault } from '../../models/vfio/fault.js';
import { checkExtension, getInfo } from '../../models/vfio/query.js';
import type { VfioState } from '../../models/vfio/types.js';
import { queryAnswersMatchState, queryReplyWithinArgsz } from '../../properties/vfio/invariants/query.js';
import { vfioGetInfoOverflowsArgsz, vfioUpdateVaddrWithMdev } from '../../properties/vfio/memory-designs.js';
import {
  GROUP_A,
  GROUP_MDEV,
  GROUP_NOIOMMU,
  PCI_A,
  PCI_NOIOMMU,
  RAM,
  config,
  expectOk,
  expectRefused,
  map,
  mediatedWorld,
  passthroughWorld,
  setUp,
  world,
} from '../models/vfio/world.js';

/** sizeof(info) 24 + migration 32 + DMA_AVAIL 16 + IOVA_RANGE 16 + 16 per range. */
const NEEDED_TWO_RANGES = 24 + 32 + 16 + 16 + 2 * 16;
const NEEDED_NO_RANGES = 24 + 32 + 16;

function info(state: VfioState, argsz: number, withConfig: VfioConfig = config) {
  return expectOk(getInfo(state, withConfig, { argsz }));
}

function extension(state: VfioState, value: number, withConfig: VfioConfig = config): unknown {
  return expectOk(checkExtension(state, withConfig, { extension: value }))['value'];
}

describe('VFIO_IOMMU_GET_INFO refusals', () => {
  test('no backend: EINVAL (the container answers unrecognised ioctls without a driver)', () => {
    const state = world();
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expectRefused(state, 'EINVAL', (copy) => getInfo(copy, config, { argsz: 4096 }));
  });
  test('the noiommu backend: ENOTTY (vfio_noiommu_ioctl)', () => {
    const state = setUp(world(), [GROUP_NOIOMMU], [PCI_NOIOMMU], VFIO_NOIOMMU_IOMMU);
    expectRefused(state, 'ENOTTY', (copy) => getInfo(copy, config, { argsz: 4096 }));
  });
  test('argsz below offsetofend(iova_pgsizes) = 16: EINVAL', () => {
    expectRefused(passthroughWorld(), 'EINVAL', (copy) => getInfo(copy, config, { argsz: 15 }));
  });
  test('a failed capability allocation: ENOMEM, nothing changed', () => {
    const state = passthroughWorld();
    expectOk(injectFault(state, config, { point: 'alloc', nth: 3 }));
    expectRefused(state, 'ENOMEM', (copy) => getInfo(copy, config, { argsz: 4096 }));
  });
});

describe('VFIO_IOMMU_GET_INFO answers', () => {
  test('argsz 16: the first 16 bytes, no cap_offset, argsz raised to what the chain needs', () => {
    const answer = info(passthroughWorld(), 16);
    expect(answer).toMatchObject({ argsz: NEEDED_TWO_RANGES, flags: 3, capOffset: null, writtenBytes: 16 });
    expect(answer['dmaAvail']).toBeNull();
  });
  test('argsz = sizeof(info): the struct with cap_offset 0 and the size needed, no capability copied', () => {
    const answer = info(passthroughWorld(), 24);
    expect(answer).toMatchObject({ argsz: NEEDED_TWO_RANGES, capOffset: 0, writtenBytes: 24, iovaRanges: null });
  });
  test('room for the chain: cap_offset 24, DMA_AVAIL, IOVA_RANGE without the MSI window, migration page size', () => {
    const state = passthroughWorld();
    const answer = info(state, NEEDED_TWO_RANGES);
    expect(answer).toMatchObject({
      argsz: NEEDED_TWO_RANGES,
      flags: 3,
      iovaPgsizes: String(0x40201000),
      capOffset: 24,
      capsBytes: NEEDED_TWO_RANGES - 24,
      writtenBytes: NEEDED_TWO_RANGES,
      migrationPgsize: '4096',
      maxDirtyBitmapSize: 268435456,
      dmaAvail: 4,
      nrIovas: 2,
      iovaRanges: '0x0-0xfedfffff 0xfef00000-0xffffffffffff',
    });
  });
  test('DMA_AVAIL is dma_entry_limit less the mappings', () => {
    const state = passthroughWorld();
    map(state, { vaddrPage: RAM, iovaPage: 0, npages: 1 });
    map(state, { vaddrPage: RAM + 1, iovaPage: 4, npages: 1 });
    expect(info(state, 4096)['dmaAvail']).toBe(2);
  });
  test('emulated groups only: pgsize_bitmap PAGE_MASK and no IOVA_RANGE (iova_list empty)', () => {
    const answer = info(mediatedWorld(), 4096);
    expect(answer).toMatchObject({
      argsz: 4096,
      iovaPgsizes: '18446744073709547520',
      capsBytes: NEEDED_NO_RANGES - 24,
      nrIovas: null,
      iovaRanges: null,
      dmaAvail: 4,
    });
  });
});

describe('VFIO_CHECK_EXTENSION values', () => {
  test('type1 backend: the type1 types and UNMAP_ALL, DMA_CC, UPDATE_VADDR (no emulated group); nothing else', () => {
    const state = passthroughWorld();
    const answers = Object.fromEntries([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11].map((n) => [n, extension(state, n)]));
    expect(answers).toEqual({ 0: 0, 1: 1, 2: 0, 3: 1, 4: 1, 5: 0, 6: 1, 7: 0, 8: 0, 9: 1, 10: 1, 11: 0 });
  });
  test('VFIO_UPDATE_VADDR is 0 while an emulated-IOMMU group is attached', () => {
    expect(extension(mediatedWorld(), 10)).toBe(0);
    expect(extension(setUp(world(), [GROUP_A, GROUP_MDEV], [PCI_A]), 10)).toBe(0);
  });
  test('no backend: every allowed driver is polled with no iommu — UPDATE_VADDR and DMA_CC are 0', () => {
    const state = passthroughWorld();
    expectOk(closeDevice(state, config, { deviceId: PCI_A }));
    expectOk(groupUnsetContainer(state, config, { groupId: GROUP_A }));
    expect([1, 3, 4, 8, 9, 10].map((n) => extension(state, n))).toEqual([1, 1, 0, 1, 1, 0]);
    // A container of IOMMU groups may not use vfio-noiommu, and the reverse.
    expectOk(groupSetContainer(state, config, { groupId: GROUP_A }));
    expect([1, 8].map((n) => extension(state, n))).toEqual([1, 0]);
  });
  test('the noiommu backend answers only VFIO_NOIOMMU_IOMMU', () => {
    const state = setUp(world(), [GROUP_NOIOMMU], [PCI_NOIOMMU], VFIO_NOIOMMU_IOMMU);
    expect([1, 3, 8, 9, 10].map((n) => extension(state, n))).toEqual([0, 0, 1, 0, 0]);
  });
});

describe('the hooks and the query invariants', () => {
  const transition = (
    state: VfioState,
    command: Parameters<typeof queryAnswersMatchState.check>[0]['command'],
    result: ReturnType<typeof getInfo>,
  ) => ({
    before: state,
    command,
    result,
    after: state,
  });

  test('updateVaddrOffered: the flawed design offers UPDATE_VADDR with an mdev, and the answer disagrees with the state', () => {
    const state = mediatedWorld();
    const command = { kind: 'checkExtension', extension: 10 } as const;
    const sound = checkExtension(state, config, command);
    const flawed = checkExtension(state, vfioUpdateVaddrWithMdev.config, command);
    expect(flawed.detail?.['value']).toBe(1);
    expect(queryAnswersMatchState.check(transition(state, command, sound))).toBeNull();
    expect(queryAnswersMatchState.check(transition(state, command, flawed))?.actual).toBe('CHECK_EXTENSION 10 1');
  });

  test('infoCapsFit: the flawed design writes the chain past argsz = sizeof(info)', () => {
    const state = passthroughWorld();
    const command = { kind: 'getInfo', argsz: 24 } as const;
    const sound = getInfo(state, config, command);
    const flawed = getInfo(state, vfioGetInfoOverflowsArgsz.config, command);
    expect(flawed.detail?.['writtenBytes']).toBe(NEEDED_TWO_RANGES);
    expect(queryReplyWithinArgsz.check(transition(state, command, sound))).toBeNull();
    expect(queryReplyWithinArgsz.check(transition(state, command, flawed))?.actual).toBe(
      `${NEEDED_TWO_RANGES} bytes written`,
    );
  });

  test('a DMA_AVAIL that is not the limit less the mappings is a violation', () => {
    const state = passthroughWorld();
    const command = { kind: 'getInfo', argsz: 4096 } as const;
    const answer = getInfo(state, config, command);
    const lying = { ...answer, detail: { ...answer.detail, dmaAvail: 3 } };
    expect(queryAnswersMatchState.check(transition(state, command, lying))?.expected).toBe('GET_INFO DMA_AVAIL 4');
  });
});
