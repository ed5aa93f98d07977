/**
 * The commands of the iommufd model: one per ioctl (or kernel API call, for access objects and the
 * VFIO cdev), JSON-safe, a discriminated union on `kind`. u64 arguments are decimal strings.
 * Reference: docs/reference/iommufd.md §7 (commands).
 */
import type {
  IoasAllowIovasArgs,
  IoasCopyArgs,
  IoasIovaRangesArgs,
  IoasMapArgs,
  IoasUnmapArgs,
  OptionArgs,
} from './ioas.js';
import type { HwptAllocArgs } from './hwpt.js';
import type { AccessRangeArgs } from './access.js';
import type { CompatMapDmaArgs, CompatUnmapDmaArgs } from './vfio-compat.js';

export type IommufdCommand =
  // The process
  | { readonly kind: 'mmap'; readonly vaddrPage: number; readonly npages: number; readonly writable: boolean }
  | { readonly kind: 'munmap'; readonly vaddrPage: number; readonly npages: number }
  // /dev/iommu ioctls
  | { readonly kind: 'destroy'; readonly id: number }
  | { readonly kind: 'ioasAlloc'; readonly flags: number }
  | ({ readonly kind: 'ioasMap' } & IoasMapArgs)
  | ({ readonly kind: 'ioasUnmap' } & IoasUnmapArgs)
  | ({ readonly kind: 'ioasCopy' } & IoasCopyArgs)
  | ({ readonly kind: 'ioasIovaRanges' } & IoasIovaRangesArgs)
  | ({ readonly kind: 'ioasAllowIovas' } & IoasAllowIovasArgs)
  | ({ readonly kind: 'option' } & OptionArgs)
  | ({ readonly kind: 'hwptAlloc' } & HwptAllocArgs)
  | { readonly kind: 'vfioIoas'; readonly op: 'get' | 'set' | 'clear'; readonly ioasId: number }
  // VFIO device cdev
  | { readonly kind: 'deviceBind'; readonly deviceIndex: number; readonly flags: number }
  | { readonly kind: 'deviceUnbind'; readonly deviceIndex: number }
  // The VMM exits: its device cdevs, its emulated devices' accesses and /dev/iommu all close
  | { readonly kind: 'vmmExit' }
  | { readonly kind: 'deviceAttach'; readonly deviceIndex: number; readonly ptId: number; readonly flags: number }
  | { readonly kind: 'deviceDetach'; readonly deviceIndex: number; readonly flags: number }
  // Access objects (the emulated device's driver)
  | { readonly kind: 'accessCreate'; readonly needsPinPages: boolean }
  | { readonly kind: 'accessAttach'; readonly accessId: number; readonly ioasId: number }
  | { readonly kind: 'accessReplace'; readonly accessId: number; readonly ioasId: number }
  | { readonly kind: 'accessDetach'; readonly accessId: number }
  | { readonly kind: 'accessDestroy'; readonly accessId: number }
  | ({ readonly kind: 'accessPinPages' } & AccessRangeArgs)
  | { readonly kind: 'accessUnpinPages'; readonly accessId: number; readonly iova: string; readonly length: string }
  /**
   * The driver unpins a pin it holds, as drivers call iommufd_access_unpin_pages (vfio_unpin_pages
   * through the cdev): with the iova and length of a pin of theirs, its `pin`-th oldest (modulo how
   * many it holds). The kernel sees an accessUnpinPages of that pin.
   */
  | { readonly kind: 'accessUnpinHeld'; readonly accessId: number; readonly pin: number }
  | ({ readonly kind: 'accessRw' } & AccessRangeArgs)
  // The VFIO container compatibility layer (/dev/vfio/vfio)
  | { readonly kind: 'vfioGroupSetContainer' }
  | { readonly kind: 'vfioGroupOpenDevice'; readonly deviceIndex: number }
  | { readonly kind: 'vfioCheckExtension'; readonly extension: number }
  | { readonly kind: 'vfioSetIommu'; readonly type: number }
  | ({ readonly kind: 'vfioMapDma' } & CompatMapDmaArgs)
  | ({ readonly kind: 'vfioUnmapDma' } & CompatUnmapDmaArgs)
  | { readonly kind: 'vfioGetInfo'; readonly argsz: number }
  | { readonly kind: 'vfioDirtyPages' }
  // The selftest's IOMMU_TEST_OP_ADD_RESERVED (CONFIG_IOMMUFD_TEST)
  | { readonly kind: 'testAddReserved'; readonly ioasId: number; readonly start: string; readonly length: string };

export type IommufdCommandKind = IommufdCommand['kind'];
