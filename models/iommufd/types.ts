/**
 * Plain-data state of the iommufd model (Linux v6.12 drivers/iommu/iommufd/): one iommufd context
 * (`struct iommufd_ctx`, one open of /dev/iommu or of /dev/vfio/vfio) with its object table, the
 * `iopt_pages` its areas share, the igroups of bound devices, and the VMM process whose memory the
 * pages are pinned from. All JSON-serializable.
 * Reference: docs/reference/iommufd.md §1 (state).
 *
 * Sources (v6.12): iommufd_private.h (struct iommufd_ctx, iommufd_object, iommufd_ioas,
 * iommufd_hwpt_paging, iommufd_hwpt_nested, iommufd_device, iommufd_access, iommufd_group),
 * io_pagetable.h (struct io_pagetable, iopt_area, iopt_pages).
 *
 * Units: addresses are 4 KiB page numbers (`iovaPage`, `vaddrPage`), lengths page counts
 * (`npages`); ioctl arguments stay u64 decimal strings (models/vfio/u64.ts) until checked. IOVA
 * intervals are inclusive `[firstPage, lastPage]`, as the source's interval trees are
 * `[start, last]`. The host memory and the process's memory are the type1 model's own types
 * (models/memory/frames.ts, models/vfio/types.ts `VmmProcess`), so a stack can give iommufd,
 * type1 and VT-d the same frames.
 *
 * Left out: sub-page areas (the source allows byte-granular IOVA while iova_alignment is 1; the
 * model refuses anything not page aligned, see ioas.ts), file-backed maps (IOMMU_IOAS_MAP_FILE is
 * v6.13), dirty tracking, fault objects, vIOMMU/vDEVICE (v6.13), PASID attach, huge pages and the
 * storage_domain read-back (a pinned page's frame is recorded in the iopt_pages itself).
 */
import type { HostMemory } from '../memory/frames.js';
import type { ResultDetail } from '../result.js';
import type { Translation, TranslationEffect, VmmProcess } from '../vfio/types.js';

export type { Translation };

/** Inclusive page interval `[firstPage, lastPage]` (an interval-tree node). */
export interface PageInterval {
  readonly firstPage: number;
  readonly lastPage: number;
}

/** An inclusive byte range as userspace gives it (`struct iommu_iova_range`), u64 decimal strings. */
export interface IovaRange {
  readonly start: string;
  readonly last: string;
}

/** `enum iopt_pages_account_mode` (pages.c `iopt_pages_update_pinned`). */
export type IoptPagesAccountMode = 'none' | 'user' | 'mm';

/**
 * `struct iopt_pages`: the user VA range an IOAS_MAP named, pinned lazily, shared by every area
 * IOMMU_IOAS_COPY makes of it (kref). A page index is pinned while some area over it is stored in
 * a domain (its IOAS has a domain) or some access has it pinned; it is pinned once however many
 * users it has, holding one frame reference and one page of accounting.
 */
export interface IoptPages {
  readonly id: number;
  /** `uptr` in pages: index 0 is this vaddr page. */
  readonly vaddrPage: number;
  readonly npages: number;
  /** `pages->writable`: pinned FOLL_WRITE; an area with IOMMU_WRITE needs it (iopt_insert_area). */
  readonly writable: boolean;
  readonly accountMode: IoptPagesAccountMode;
  /** kref: the areas that point at it. */
  users: number;
  /** Pinned page index → frame (the pin's reference). Keys are decimal indexes. */
  pinned: Record<string, number>;
  /** `access_itree`: page index → number of access pins over it. */
  accessUsers: Record<string, number>;
}

/** `struct iopt_area`: `[iovaPage, iovaPage + npages)` → pages indexes from `pageIndex`. */
export interface IoptArea {
  readonly iovaPage: number;
  readonly npages: number;
  readonly pagesId: number;
  /** `pages_node.start`: the first page index of the pages this area maps. */
  readonly pageIndex: number;
  /** `iommu_prot` IOMMU_READ / IOMMU_WRITE (IOMMU_CACHE is always set). */
  readonly read: boolean;
  readonly write: boolean;
  /** `num_accesses`: access pin calls over this area not yet unpinned. */
  numAccesses: number;
  /** Set by an unmap waiting for accesses: new access pins and reads are refused EINVAL. */
  preventAccess: boolean;
}

/** `struct iopt_reserved`: reserved IOVA and who reserved it. */
export interface ReservedRange extends PageInterval {
  /** `device:<object id>` (a device's reserved regions) or `hwpt:<object id>` (an aperture). */
  readonly owner: string;
}

interface ObjectBase {
  readonly id: number;
  /** `obj->users`: the xarray's reference plus every holder's. */
  users: number;
}

/** IOMMUFD_OBJ_IOAS with its `struct io_pagetable`. */
export interface IoasObject extends ObjectBase {
  readonly type: 'ioas';
  /** `area_itree`, sorted by `iovaPage`, disjoint. */
  areas: IoptArea[];
  /** `allowed_itree` (IOMMU_IOAS_ALLOW_IOVAS), byte-exact; empty: everything allowed. */
  allowed: IovaRange[];
  /** `reserved_itree`. */
  reserved: ReservedRange[];
  /** `iopt->domains` in xarray order (ids of hwpt_paging objects filled from this IOAS). */
  domainHwptIds: number[];
  /** `hwpt_list`, in list order (auto-domain search order). */
  hwptIds: number[];
  /** `iopt->access_list`: attached access object ids. */
  accessIds: number[];
  /** `iopt->disable_large_pages` (IOMMU_OPTION_HUGE_PAGES 0, or VFIO_SET_IOMMU TYPE1). */
  disableLargePages: boolean;
}

/** IOMMUFD_OBJ_HWPT_PAGING: an iommu_domain filled from an IOAS. */
export interface HwptPagingObject extends ObjectBase {
  readonly type: 'hwpt_paging';
  readonly ioasId: number;
  /** The IOMMU driver (`domain->owner`) of the device it was allocated for. */
  readonly iommu: string;
  readonly autoDomain: boolean;
  readonly nestParent: boolean;
  /** `enforce_cache_coherency` (VFIO_DMA_CC_IOMMU reads it). */
  readonly enforceCacheCoherency: boolean;
  /** The domain's `pgsize_bitmap` (the lowest bit drives `iova_alignment`). */
  readonly pgsizeBitmap: number;
  /** The domain's aperture (`geometry`), reserved outside in the IOAS. */
  readonly aperture: PageInterval;
  /**
   * The domain's content: iova page → translation, what iommu_map programmed. A stack forwards
   * its changes to an IOMMU model the way models/passthrough/forward.ts does for type1. Shared
   * between copies of the state until one writes it: a step edits it only through
   * `writableTranslations` (clone.ts).
   */
  translations: Readonly<Record<string, Translation>>;
}

/** IOMMUFD_OBJ_HWPT_NESTED: a stage-1 domain over a NEST_PARENT hwpt (selftest mock data). */
export interface HwptNestedObject extends ObjectBase {
  readonly type: 'hwpt_nested';
  readonly parentId: number;
  readonly iommu: string;
  /** IOMMU_HWPT_DATA_SELFTEST `iotlb`: the mock's stage-1 state, opaque here. */
  readonly iotlb: number;
}

export type HwptObject = HwptPagingObject | HwptNestedObject;

/** IOMMUFD_OBJ_DEVICE: a physical device bound through its VFIO cdev. */
export interface DeviceObject extends ObjectBase {
  readonly type: 'device';
  /** Index of the device in `IommufdConfig.devices`. */
  readonly deviceIndex: number;
}

/** One `iommufd_access_pin_pages` call the emulated device's driver holds. */
export interface AccessPin {
  readonly iovaPage: number;
  readonly npages: number;
  readonly write: boolean;
  /** The frames `out_pages` returned, in IOVA order: what the emulated device reads and writes. */
  readonly mfns: readonly number[];
}

/** IOMMUFD_OBJ_ACCESS: an emulated device (mdev) reaching an IOAS through the CPU. */
export interface AccessObject extends ObjectBase {
  readonly type: 'access';
  /** `ops->needs_pin_pages`: forces iova_alignment PAGE_SIZE. */
  readonly needsPinPages: boolean;
  /** `access->ioas` (also `ioas_unpin`); null: not attached. */
  ioasId: number | null;
  /** The driver's own record of what it pinned (the selftest mock keeps the same list). */
  pins: AccessPin[];
}

export type IommufdObject = IoasObject | HwptPagingObject | HwptNestedObject | DeviceObject | AccessObject;
export type IommufdObjectType = IommufdObject['type'];

/** `struct iommufd_group`: the hwpt a group is attached to and its attached devices. */
export interface IommufdGroup {
  hwptId: number | null;
  /** `device_list`: attached device object ids, in attach order. */
  deviceIds: number[];
}

export interface IommufdState {
  memory: HostMemory;
  process: VmmProcess;
  /** `ictx->account_mode` (IOMMU_OPTION_RLIMIT_MODE; MM when opened as /dev/vfio/vfio). */
  accountMode: 'user' | 'mm';
  /** The context was opened through /dev/vfio/vfio (the compatibility container). */
  readonly openedAsVfio: boolean;
  /** `user->locked_vm` of the process's user, in pages (ACCOUNT_USER). */
  userLockedVmPages: number;
  /** `mm->pinned_vm`, in pages (every mode). */
  pinnedVmPages: number;
  /** `ictx->objects`: object id → object; keys are decimal ids. */
  objects: Record<string, IommufdObject>;
  /** Every live `iopt_pages`, by its model id (no uAPI id). */
  pages: Record<string, IoptPages>;
  nextPagesId: number;
  /** `ictx->vfio_ioas`: the IOAS the compatibility ioctls act on. */
  vfioIoasId: number | null;
  /** `ictx->groups` by IOMMU group id. */
  groups: Record<string, IommufdGroup>;
  /** Device index → its device object id while its cdev is bound. */
  boundDevices: Record<string, number>;
}

/** A step's answer: the next state and the result (ok, errno name, detail). */
export interface IommufdStepResult {
  readonly state: IommufdState;
  readonly result: { readonly ok: boolean; readonly error?: string; readonly detail?: ResultDetail };
  /** The translation changes, in source order (effects.ts). */
  readonly effects: readonly TranslationEffect[];
}
