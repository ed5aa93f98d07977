/**
 * Generators of the passthrough stack over iommufd: the VMM's /dev/iommu ioctls and VFIO cdev
 * operations, the emulated device's driver (access pin / unpin / rw and its DMA into what it
 * pinned), the assigned devices' DMA, the VMM's mmap/munmap, and another VM taking freed frames —
 * over small universes so operations collide: object ids 1..6, IOVA pages 0..7, lengths of 1..3
 * pages, the guest's RAM vaddr pages (and the read-only region, and an unmapped page). A few
 * arguments are deliberately invalid (unaligned, past 2^64, unmap-all).
 */
import fc from 'fast-check';
import type { IommufdPtCommand } from '../../models/iommufd-pt/types.js';
import type { CommandSpace } from '../../src/design.js';
import { commandSpaceOf } from '../generic/command-space.js';
import {
  ACCESS_ID,
  IOAS_ID,
  IOVA_PAGES,
  MAX_OBJECT_ID,
  RAM_PAGES,
  RAM_VADDR_PAGE,
  ROM_VADDR_PAGE,
  iommufdPtDevices,
} from './world.js';

const PAGE = 4096n;
const LEAF_TABLE_LAST_PAGE = 511;
export const U64_MAX = '18446744073709551615';

const objectId = fc.integer({ min: 1, max: MAX_OBJECT_ID });
/** An id that is mostly the object the world set up (`IOAS_ID`, `ACCESS_ID`), else any small id. */
const mostly = (id: number): fc.Arbitrary<number> =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(id) }, { weight: 2, arbitrary: objectId });
const ioasId = mostly(IOAS_ID);
const accessId = mostly(ACCESS_ID);
const deviceIndex = fc.integer({ min: 0, max: iommufdPtDevices.length - 1 });
/**
 * IOVA pages: mostly the small universe, its first two pages most (a pin, an unpin and a DMA land
 * where a map did often enough for one run to hold pins across an unmap), sometimes 511 (the last
 * page of the first 512-entry leaf table of VT-d's page table: a map or unmap of two or more pages
 * there crosses into the next one).
 */
const iovaPage = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: 1 }) },
  { weight: 8, arbitrary: fc.integer({ min: 0, max: IOVA_PAGES - 1 }) },
  { weight: 1, arbitrary: fc.constant(LEAF_TABLE_LAST_PAGE) },
);
const npages = fc.integer({ min: 1, max: 3 });
/** An access pin's length: one to three pages, as often one as more (an unpin names a pin the driver holds; a pin may straddle two areas). */
const pinPages = fc.constantFrom(1, 1, 2, 2, 3);
const bytes = (page: number): string => (BigInt(page) * PAGE).toString();

/** An IOVA in bytes: mostly a small page, sometimes unaligned or near 2^64. */
const iova = fc.oneof(
  { weight: 12, arbitrary: iovaPage.map(bytes) },
  { weight: 1, arbitrary: fc.constantFrom('100', (2n ** 64n - PAGE).toString()) },
);
const length = fc.oneof(
  { weight: 12, arbitrary: npages.map(bytes) },
  { weight: 1, arbitrary: fc.constantFrom('0', '2048', U64_MAX) },
);
/**
 * The VMM's vaddr pages: mostly its RAM, the first two pages most (as the IOVA pages: a munmap or
 * an access lands where a map took its pages often enough for a run to unmap, free and reuse what
 * a device still reaches), sometimes the read-only region or an unmapped page.
 */
const vaddrPage = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + 1 }) },
  { weight: 8, arbitrary: fc.integer({ min: RAM_VADDR_PAGE, max: RAM_VADDR_PAGE + RAM_PAGES - 1 }) },
  { weight: 1, arbitrary: fc.constantFrom(ROM_VADDR_PAGE, 60) },
);
/** IOMMU_IOAS_MAP flags: READABLE | WRITEABLE (6) mostly, read-only (4), with FIXED_IOVA (1) mostly. */
const mapFlags = fc.constantFrom(7, 7, 7, 5, 6, 1);

function table(withFlushQueue: boolean): Record<string, fc.Arbitrary<IommufdPtCommand>> {
  const commands: Record<string, fc.Arbitrary<IommufdPtCommand>> = {
    mmap: fc
      .record({ vaddrPage, npages, writable: fc.boolean() })
      .map((args): IommufdPtCommand => ({ kind: 'mmap', ...args })),
    munmap: fc.record({ vaddrPage, npages }).map((args): IommufdPtCommand => ({ kind: 'munmap', ...args })),
    destroy: objectId.map((id): IommufdPtCommand => ({ kind: 'destroy', id })),
    ioasAlloc: fc.constant<IommufdPtCommand>({ kind: 'ioasAlloc', flags: 0 }),
    ioasMap: fc
      .record({ ioasId, flags: mapFlags, userVa: vaddrPage.map(bytes), iova, length })
      .map((args): IommufdPtCommand => ({ kind: 'ioasMap', ...args })),
    ioasUnmap: fc
      .oneof(
        { weight: 6, arbitrary: fc.record({ ioasId, iova, length }) },
        { weight: 1, arbitrary: fc.record({ ioasId, iova: fc.constant('0'), length: fc.constant(U64_MAX) }) },
      )
      .map((args): IommufdPtCommand => ({ kind: 'ioasUnmap', ...args })),
    ioasCopy: fc
      .record({ dstIoasId: ioasId, srcIoasId: ioasId, flags: mapFlags, dstIova: iova, srcIova: iova, length })
      .map((args): IommufdPtCommand => ({ kind: 'ioasCopy', ...args })),
    hwptAlloc: fc
      .record({ devId: objectId, ptId: ioasId })
      .map((args): IommufdPtCommand => ({ kind: 'hwptAlloc', ...args, flags: 0, dataType: 0, dataLen: 0 })),
    deviceBind: deviceIndex.map((index): IommufdPtCommand => ({ kind: 'deviceBind', deviceIndex: index, flags: 0 })),
    deviceUnbind: deviceIndex.map((index): IommufdPtCommand => ({ kind: 'deviceUnbind', deviceIndex: index })),
    vmmExit: fc.constant<IommufdPtCommand>({ kind: 'vmmExit' }),
    deviceAttach: fc
      .record({ deviceIndex, ptId: ioasId })
      .map((args): IommufdPtCommand => ({ kind: 'deviceAttach', ...args, flags: 0 })),
    deviceDetach: deviceIndex.map((index): IommufdPtCommand => ({
      kind: 'deviceDetach',
      deviceIndex: index,
      flags: 0,
    })),
    accessCreate: fc.constant<IommufdPtCommand>({ kind: 'accessCreate', needsPinPages: true }),
    accessAttach: fc.record({ accessId, ioasId }).map((args): IommufdPtCommand => ({ kind: 'accessAttach', ...args })),
    accessDetach: accessId.map((id): IommufdPtCommand => ({ kind: 'accessDetach', accessId: id })),
    accessDestroy: accessId.map((id): IommufdPtCommand => ({ kind: 'accessDestroy', accessId: id })),
    accessPinPages: fc
      .record({ accessId, iova: iovaPage.map(bytes), length: pinPages.map(bytes), write: fc.boolean() })
      .map((args): IommufdPtCommand => ({ kind: 'accessPinPages', ...args })),
    // A driver unpins what it pinned (an unpin of a range it does not hold is a driver bug the
    // kernel WARNs on, and the model refuses EINVAL: pinned by unit tests, not generated).
    accessUnpinHeld: fc
      .record({ accessId, pin: fc.integer({ min: 0, max: 3 }) })
      .map((args): IommufdPtCommand => ({ kind: 'accessUnpinHeld', ...args })),
    accessRw: fc
      .record({ accessId, iova: iovaPage.map(bytes), length: npages.map(bytes), write: fc.boolean() })
      .map((args): IommufdPtCommand => ({ kind: 'accessRw', ...args })),
    deviceDma: fc
      .record({ deviceIndex, iovaPage, write: fc.boolean() })
      .map((args): IommufdPtCommand => ({ kind: 'deviceDma', ...args })),
    accessDma: fc
      .record({ accessId, iovaPage, write: fc.boolean() })
      .map((args): IommufdPtCommand => ({ kind: 'accessDma', ...args })),
    allocateToOther: fc.constant<IommufdPtCommand>({ kind: 'allocateToOther' }),
    releaseFromOther: fc.constant<IommufdPtCommand>({ kind: 'releaseFromOther' }),
  };
  if (withFlushQueue) commands['drainFlushQueue'] = fc.constant<IommufdPtCommand>({ kind: 'drainFlushQueue' });
  return commands;
}

/**
 * Use is common, teardown rare (weight 4, the kinds not listed), the VMM's exit rarer still
 * (weight 1: it closes every object, and a run must rebuild them before anything can collide
 * again): a run must keep its objects long enough to collide.
 */
const weights: Readonly<Record<string, number>> = {
  ...Object.fromEntries(Object.keys(table(true)).map((kind) => [kind, 4])),
  ioasMap: 96,
  deviceDma: 80,
  accessPinPages: 80,
  accessDma: 64,
  ioasUnmap: 48,
  accessUnpinHeld: 32,
  allocateToOther: 24,
  drainFlushQueue: 8,
  munmap: 20,
  ioasCopy: 16,
  accessRw: 16,
  deviceAttach: 12,
  mmap: 8,
  releaseFromOther: 8,
  vmmExit: 1,
};

export function iommufdPtCommandSpace(withFlushQueue: boolean): CommandSpace<IommufdPtCommand> {
  return commandSpaceOf('iommufd passthrough', table(withFlushQueue), weights);
}
