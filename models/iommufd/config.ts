/**
 * Configuration of the iommufd model: the physical devices a VFIO cdev can bind (their IOMMU
 * group, IOMMU driver, reserved regions, aperture), the module parameters, and the hooks — the
 * decision points where real bugs lived, as typed functions whose defaults are the v6.12 code.
 * Reference: docs/reference/iommufd.md §5 (hooks).
 *
 * Sources (v6.12): device.c (iommufd_device_bind: IOMMU_CAP_CACHE_COHERENCY, isolated MSI and
 * `allow_unsafe_interrupts`; iopt_table_enforce_dev_resv_regions), hw_pagetable.c
 * (iommufd_hwpt_paging_alloc, iommufd_hwpt_nested_alloc), io_pagetable.c
 * (iopt_unmap_iova_range, iopt_table_add_domain), pages.c (iopt_alloc_pages's account mode),
 * selftest.c (the mock domain: aperture [MOCK_APERTURE_START, MOCK_APERTURE_LAST], pgsize
 * MOCK_IO_PAGE_SIZE, nested data IOMMU_HWPT_DATA_SELFTEST).
 */
import type {
  AccessObject,
  AccessPin,
  HwptPagingObject,
  IoasObject,
  IoptArea,
  IoptPages,
  IoptPagesAccountMode,
  PageInterval,
} from './types.js';

/** A physical device behind an IOMMU that a VFIO cdev can bind to the context. */
export interface IommufdDeviceSpec {
  /** IOMMU group id: devices of one group share one attachment (`struct iommufd_group`). */
  readonly groupId: number;
  /** The IOMMU driver (`dev_iommu_ops`): a domain attaches only to devices of its own driver. */
  readonly iommu: string;
  /** IOMMU_CAP_CACHE_COHERENCY: bind refuses a device without it (EINVAL). */
  readonly cacheCoherent: boolean;
  /** IOMMU_CAP_ENFORCE_CACHE_COHERENCY: a domain allocated for it enforces coherency. */
  readonly enforceCacheCoherency: boolean;
  /** The platform isolates the device's MSIs (interrupt remapping); the selftest mock skips the check. */
  readonly msiIsolated: boolean;
  /** The selftest's mock device (`iommufd_selftest_is_mock_dev`): the MSI check is skipped. */
  readonly mock: boolean;
  /** A paging domain's aperture for this device (`domain->geometry`). */
  readonly aperture: PageInterval;
  /** The domain's `pgsize_bitmap` (Intel: 4K | 2M | 1G; the mock: MOCK_IO_PAGE_SIZE = 2048). */
  readonly pgsizeBitmap: number;
  /** Reserved regions (`iommu_get_resv_regions`, non-relaxable: the MSI window), in pages. */
  readonly reservedRegions: readonly PageInterval[];
  /** `ops->domain_alloc_user` exists: HWPT_ALLOC flags and driver data are accepted. */
  readonly domainAllocUser: boolean;
  /** `ops->domain_alloc_nested` (the mock: IOMMU_HWPT_DATA_SELFTEST). */
  readonly nesting: boolean;
  /** IOMMU_CAP_DIRTY_TRACKING. */
  readonly dirtyTracking: boolean;
}

/** The hook points. Each default is the v6.12 behaviour (`soundIommufdHooks`). */
export interface IommufdHooks {
  /**
   * The access's `ops->unmap(data, iova, length)` callback (iommufd_access_notify_unmap): which of
   * the driver's pins it gives back with iommufd_access_unpin_pages. Sound: every pin that
   * intersects the range (selftest.c iommufd_test_access_unmap).
   */
  readonly accessUnmap: (access: Readonly<AccessObject>, iovaPage: number, npages: number) => readonly AccessPin[];
  /**
   * iopt_unmap_iova_range: an area with `num_accesses` makes the unmap notify the accesses and
   * try again (EDEADLOCK when they still hold it). Sound: true. False unmaps the area and drops the
   * access pins' page references under the accesses.
   */
  readonly unmapWaitsForAccesses: (area: Readonly<IoptArea>) => boolean;
  /**
   * The account mode of new `iopt_pages` (iopt_alloc_pages: NONE with CAP_IPC_LOCK, else USER;
   * iopt_map_user_pages: MM when the context is in MM mode).
   */
  readonly pagesAccountMode: (context: {
    readonly ctxMode: 'user' | 'mm';
    readonly capIpcLock: boolean;
  }) => IoptPagesAccountMode;
  /** iopt_table_add_domain → iopt_fill_domain: a new domain gets the IOAS's areas. Sound: true. */
  readonly fillDomainOnAdd: (hwpt: Readonly<HwptPagingObject>) => boolean;
  /**
   * iopt_pages_update_pinned → incr_user_locked_vm / __account_locked_vm: a charge past
   * RLIMIT_MEMLOCK is refused -ENOMEM. Sound: true. False charges it anyway.
   */
  readonly chargeEnforcesLimit: (pages: Readonly<IoptPages>) => boolean;
  /**
   * Unpinning a page (batch_unpin → unpin_user_page) drops the FOLL_PIN reference the pin took.
   * Sound: true. False forgets the page reference: the frame is never freed.
   */
  readonly unpinPutsPage: (pages: Readonly<IoptPages>) => boolean;
  /**
   * iommufd_access_change_ioas: the access's old IOAS loses the `users` reference the access held
   * (refcount_dec on detach, replace and destroy). Sound: true.
   */
  readonly changeIoasPutsOld: (access: Readonly<AccessObject>) => boolean;
  /**
   * iommufd_vfio_map_dma: VFIO_IOMMU_MAP_DMA becomes iopt_map_user_pages with IOPT_ALLOC_IOVA
   * clear, the VMM's iova fixed. Sound: true. False lets iommufd choose the IOVA.
   */
  readonly compatMapFixesIova: () => boolean;
  /**
   * iopt_map_pages's error path (iopt_fill_domains_pages failing to pin or map: -ENOMEM past
   * RLIMIT_MEMLOCK, -EFAULT): the areas are removed, the pins given back, the domains unfilled.
   * Sound: true. False returns the error with the areas, pins and charges left in place.
   */
  readonly mapUnwindsOnError: () => boolean;
  /**
   * iopt_area_unfill_domains: an unmapped area leaves every domain of its IOAS — the others with
   * iopt_area_unmap_domain_range, then the storage domain (the first) with iopt_area_unfill_domain,
   * before its pages are unpinned. Sound: true for every domain.
   */
  readonly unmapUnfillsDomain: (ioas: Readonly<IoasObject>, hwpt: Readonly<HwptPagingObject>) => boolean;
  /**
   * iommufd_ioas_destroy: a destroyed IOAS unmaps all its areas (iopt_unmap_all), giving back their
   * pins and charges. Sound: true. False frees the IOAS with its areas' pages still pinned.
   */
  readonly ioasDestroyUnmaps: (ioas: Readonly<IoasObject>) => boolean;
}

export interface IommufdConfig {
  readonly devices: readonly IommufdDeviceSpec[];
  /** The `allow_unsafe_interrupts` module parameter of iommufd. */
  readonly allowUnsafeInterrupts: boolean;
  /** The caller has CAP_SYS_RESOURCE (IOMMU_OPTION_RLIMIT_MODE set). */
  readonly capSysResource: boolean;
  readonly hooks: IommufdHooks;
}

function intersects(pin: AccessPin, iovaPage: number, npages: number): boolean {
  return pin.iovaPage < iovaPage + npages && iovaPage < pin.iovaPage + pin.npages;
}

export const soundIommufdHooks: IommufdHooks = {
  accessUnmap: (access, iovaPage, npages) => access.pins.filter((pin) => intersects(pin, iovaPage, npages)),
  unmapWaitsForAccesses: () => true,
  pagesAccountMode: ({ ctxMode, capIpcLock }) => (capIpcLock ? 'none' : ctxMode),
  fillDomainOnAdd: () => true,
  chargeEnforcesLimit: () => true,
  unpinPutsPage: () => true,
  changeIoasPutsOld: () => true,
  compatMapFixesIova: () => true,
  mapUnwindsOnError: () => true,
  unmapUnfillsDomain: () => true,
  ioasDestroyUnmaps: () => true,
};

/** The x86 MSI window 0xfee00000–0xfeefffff, in pages. */
export const X86_MSI_WINDOW: PageInterval = { firstPage: 0xfee00, lastPage: 0xfeeff };

/** selftest.c: MOCK_APERTURE_START 1 << 24, MOCK_APERTURE_LAST (1 << 31) - 1, in pages. */
export const MOCK_APERTURE: PageInterval = { firstPage: (1 << 24) / 4096, lastPage: 2 ** 31 / 4096 - 1 };

/** The selftest's mock device (selftest.c mock_dev, MOCK_IO_PAGE_SIZE = PAGE_SIZE / 2). */
export function mockDevice(groupId: number): IommufdDeviceSpec {
  return {
    groupId,
    iommu: 'mock',
    cacheCoherent: true,
    enforceCacheCoherency: true,
    msiIsolated: false,
    mock: true,
    aperture: MOCK_APERTURE,
    pgsizeBitmap: 2048,
    reservedRegions: [],
    domainAllocUser: true,
    nesting: true,
    dirtyTracking: false,
  };
}

/** An Intel VT-d device with a 48-bit address width and the x86 MSI window reserved. */
export function vtdDevice(groupId: number, overrides: Partial<IommufdDeviceSpec> = {}): IommufdDeviceSpec {
  return {
    groupId,
    iommu: 'intel',
    cacheCoherent: true,
    enforceCacheCoherency: true,
    msiIsolated: true,
    mock: false,
    aperture: { firstPage: 0, lastPage: 2 ** 36 - 1 },
    pgsizeBitmap: 0x40201000,
    reservedRegions: [X86_MSI_WINDOW],
    domainAllocUser: true,
    nesting: true,
    dirtyTracking: false,
    ...overrides,
  };
}

export function defaultIommufdConfig(devices: readonly IommufdDeviceSpec[]): IommufdConfig {
  return { devices, allowUnsafeInterrupts: false, capSysResource: false, hooks: soundIommufdHooks };
}
