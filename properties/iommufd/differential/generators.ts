/**
 * Generators of the type1 ↔ iommufd differential: a VMM program over the differential world —
 * the VMM's start-up (in one, or ioctl by ioctl), MAP_DMA / UNMAP_DMA over IOVA pages 0..7 of the guest's RAM (and the
 * lazily faulted region), with edge values (the MSI window, 2^64, unaligned, no READ/WRITE,
 * UNMAP_ALL), GET_INFO and CHECK_EXTENSION of every extension the two answer, mmap/munmap of RAM
 * pages, and the device's DMA.
 */
import fc from 'fast-check';
import type { VmmOp } from '../../../models/iommufd-pt/pair.js';
import type { CommandSpace } from '../../../src/design.js';
import { commandSpaceOf } from '../../generic/command-space.js';
import { RAM_VADDR_PAGE } from '../../vfio/world.js';
import { DIFF_RAM_PAGES, diffVfioLayout } from './world.js';

const PAGE = 4096n;
const bytes = (page: number | bigint): string => (BigInt(page) * PAGE).toString();
const iovaPage = fc.integer({ min: 0, max: 7 });
const npages = fc.integer({ min: 1, max: 3 });

const iova = fc.oneof(
  { weight: 18, arbitrary: iovaPage.map(bytes) },
  { weight: 3, arbitrary: fc.constantFrom(bytes(0xfee00), (2n ** 64n - PAGE).toString(), '100') },
);
const size = fc.oneof(
  { weight: 18, arbitrary: npages.map(bytes) },
  { weight: 3, arbitrary: fc.constantFrom('0', '2048', (2n ** 64n - PAGE).toString()) },
);
const vaddr = fc.oneof(
  { weight: 10, arbitrary: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + DIFF_RAM_PAGES - 1 }).map(bytes) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(bytes(diffVfioLayout.lazyVaddrPage), bytes(diffVfioLayout.unmappedVaddrPage)),
  },
);

const table: Readonly<Record<string, fc.Arbitrary<VmmOp>>> = {
  startVm: fc
    .record({ type: fc.constantFrom(3, 3, 1), steps: fc.constantFrom(3, 3, 3, 3, 2, 1) })
    .map((args): VmmOp => ({ kind: 'startVm', ...args })),
  setContainer: fc.constant<VmmOp>({ kind: 'setContainer' }),
  setIommu: fc.constantFrom(3, 3, 1, 6, 2).map((type): VmmOp => ({ kind: 'setIommu', type })),
  openDevice: fc.constant<VmmOp>({ kind: 'openDevice' }),
  mapDma: fc
    .record({ flags: fc.constantFrom(3, 3, 3, 3, 1, 0), vaddr, iova, sizeBytes: size })
    .map((args): VmmOp => ({ kind: 'mapDma', argsz: 32, ...args })),
  unmapDma: fc
    .oneof(
      { weight: 8, arbitrary: fc.record({ flags: fc.constant(0), iova, sizeBytes: size }) },
      {
        weight: 1,
        arbitrary: fc.record({ flags: fc.constant(2), iova: fc.constant('0'), sizeBytes: fc.constant('0') }),
      },
    )
    .map((args): VmmOp => ({ kind: 'unmapDma', argsz: 24, ...args })),
  getInfo: fc.constantFrom(8, 16, 512, 512).map((argsz): VmmOp => ({ kind: 'getInfo', argsz })),
  checkExtension: fc
    .constantFrom(1, 2, 3, 4, 6, 9, 10)
    .map((extension): VmmOp => ({ kind: 'checkExtension', extension })),
  mmap: fc
    .record({
      vaddrPage: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + DIFF_RAM_PAGES - 1 }),
      npages: fc.constant(1),
      writable: fc.boolean(),
    })
    .map((args): VmmOp => ({ kind: 'mmap', ...args })),
  munmap: fc
    .record({
      vaddrPage: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + DIFF_RAM_PAGES - 1 }),
      npages: fc.constant(1),
    })
    .map((args): VmmOp => ({ kind: 'munmap', ...args })),
  dma: fc.record({ iovaPage, write: fc.boolean() }).map((args): VmmOp => ({ kind: 'dma', ...args })),
};

const weights: Readonly<Record<string, number>> = {
  mapDma: 10,
  dma: 10,
  unmapDma: 8,
  startVm: 10,
  setContainer: 6,
  setIommu: 6,
  openDevice: 4,
  checkExtension: 4,
  getInfo: 3,
  munmap: 2,
  mmap: 2,
};

export function type1IommufdCommandSpace(): CommandSpace<VmmOp> {
  return commandSpaceOf('type1 ↔ iommufd differential', table, weights);
}
