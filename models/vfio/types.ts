/**
 * Plain-data state of the VFIO type1 model: host memory, the VMM process's memory, the groups and
 * devices, the one container with its type1 backend (mappings, external pins, IOMMU domains), the
 * armed fault injection and the crash record. All JSON-serializable.
 * Reference: docs/reference/vfio-type1.md §1.1 (state), §1.11 (vfio_pfn).
 *
 * Units: every address the state stores is a 4 KiB page number (`iovaPage`, `vaddrPage`) and every
 * length a page count (`npages`). An aligned u64 address divided by 4096 is below 2^52, so page
 * numbers are exact JS numbers even for mappings that end at 2^64. Byte-granular ioctl arguments
 * are decimal strings (see `u64.ts`); they never appear in the state.
 *
 * Groups and devices are identified by their index in `VfioState.groups` / `.devices`; a fixed set
 * exists from the start. There is one container and one VMM process (one mm).
 */
import type { FrameOwner, HostMemory } from '../memory/frames.js';
import type { OpResult } from '../result.js';

/** Half-open range of pages `[startPage, endPage)`. */
export interface PageRange {
  readonly startPage: number;
  readonly endPage: number;
}

// ---------------------------------------------------------------------------------------------
// The VMM process (QEMU): its memory is the guest's RAM, vaddr → frame.

/** A page of a VMA: present (`mfn`) or not yet faulted in / discarded (`null`). */
export interface ProcessPage {
  readonly writable: boolean;
  /**
   * The frame the page table maps; a present page holds one reference on it — except in a
   * VM_PFNMAP VMA (`pfnmap`), whose PTEs name a pfn with no reference and no struct page to count.
   */
  readonly mfn: number | null;
  /**
   * A page of a VM_PFNMAP VMA (`remap_pfn_range`: a device BAR the VMM mmapped from vfio-pci, or a
   * driver's buffer): always present, never faulted, discarded or pinned (`process-memory.ts`).
   */
  readonly pfnmap?: true;
}

export interface VmmProcess {
  /** Frame owner id of the process's memory (the VM, as the rest of the world names it). */
  readonly owner: number;
  /**
   * vaddr page → page of a VMA; keys are decimal vaddr page numbers. Shared between copies of the
   * state until one writes it: a step edits it only through `writablePages` (`state.ts`).
   */
  pages: Readonly<Record<string, ProcessPage>>;
  /** `mm->locked_vm`, in pages. */
  lockedVmPages: number;
  /** `RLIMIT_MEMLOCK >> PAGE_SHIFT`. */
  readonly memlockLimitPages: number;
  /** The process has CAP_IPC_LOCK: RLIMIT_MEMLOCK is not enforced for it. */
  readonly capIpcLock: boolean;
  /** RLIMIT_AS in pages: mmap refuses to grow the address space beyond it (ENOMEM). */
  readonly addressSpaceLimitPages: number;
  /**
   * The shared zero page's frame, in a world that models it (`zero-page.ts`): a read fault of an
   * anonymous page maps it, with no reference; absent, a read fault allocates a frame.
   */
  readonly zeroMfn?: number;
  /**
   * Which `mm_struct` the process runs on: 0 until its first execve, one more after each (`exec.ts`).
   * Absent: 0. An earlier mm lives on only as what a mapping still names (`VfioDma.mm`): dead
   * (`mm_users` 0, its VMAs torn down), its `mm_struct` kept by the mapping's mmgrab.
   */
  mm?: number;
  /**
   * Where the last execve's new program mapped the guest's RAM (the memfd), relative to where the
   * old one had it, in pages: what the VMM knows when it re-supplies each mapping's vaddr.
   */
  lastExecShiftPages?: number;
}

/** A frame held by another owner (another VM, the host kernel): the allocation reference. */
export interface OtherAllocation {
  readonly owner: number;
  readonly mfn: number;
}

// ---------------------------------------------------------------------------------------------
// Groups and devices

/** An IOMMU group behind a real IOMMU (VFIO_IOMMU). */
export interface IommuGroupSpec {
  readonly kind: 'iommu';
  /**
   * Groups of the same class are compatible (same IOMMU ops and cache-coherency enforcement) and
   * share one domain in a container; the domain's id is this number.
   */
  readonly domainClass: number;
  /** Interrupt remapping (isolated MSI) is available for the group's devices. */
  readonly msiIsolated: boolean;
  /** The domain aperture is `[0, apertureEndPage)` (address width: 2^36 pages for 48 bits). */
  readonly apertureEndPage: number;
  /** Non-relaxable reserved regions (e.g. the x86 MSI window), excluded from usable IOVA. */
  readonly reservedRanges: readonly PageRange[];
}

/** A group of emulated-IOMMU (mdev) devices: no hardware domain (VFIO_EMULATED_IOMMU). */
export interface EmulatedGroupSpec {
  readonly kind: 'emulated';
}

/** A VFIO_NO_IOMMU group (enable_unsafe_noiommu_mode): no translation, no isolation. */
export interface NoIommuGroupSpec {
  readonly kind: 'noiommu';
}

export type GroupSpec = IommuGroupSpec | EmulatedGroupSpec | NoIommuGroupSpec;

export interface VfioGroup {
  readonly id: number;
  readonly spec: GroupSpec;
  /** VFIO_GROUP_SET_CONTAINER has succeeded and UNSET_CONTAINER has not run since. */
  inContainer: boolean;
  /**
   * The IOMMU domain the group's devices translate through (`iommu_attach_group` by type1's
   * attach_group, undone by `iommu_detach_group`), by id; null: none (VFIO's blocking domain while
   * it owns the group's DMA, or no IOMMU at all). Hardware state: it outlives the backend that
   * attached it if nothing detaches the group.
   */
  attachedDomain: number | null;
}

/**
 * `pci`: a physical device (vfio-pci) that DMAs through its group's IOMMU domain; it has no
 * `dma_unmap` op. `mdev`: a generic mediated device (GVT-g style) whose driver pins guest pages
 * through vfio_pin_pages for its own use. `ccw`: a vfio-ccw style channel-program engine.
 */
export type DeviceKind = 'pci' | 'mdev' | 'ccw';

/** One CCW of a channel program, translated: the IOVA page it names and the frame it was pinned to. */
export interface CcwTransfer {
  readonly iovaPage: number;
  readonly mfn: number;
  readonly write: boolean;
}

export interface VfioDevice {
  readonly id: number;
  readonly groupId: number;
  readonly kind: DeviceKind;
  /** A device fd is open (the device is registered with the container while open). */
  open: boolean;
  /**
   * The driver's own record of its external pins: iova page → times pinned (mdev and ccw). Shared
   * between copies of the state until one writes it (`writableDevicePins`, `copied-parts.ts`).
   */
  pins: Readonly<Record<string, number>>;
  /** ccw: the channel program started and not yet completed (its pages are pinned). */
  io: CcwTransfer[] | null;
}

// ---------------------------------------------------------------------------------------------
// The type1 backend (struct vfio_iommu) and its mappings

/** One page translation VFIO programmed into a domain (`iommu_map` with `prot | IOMMU_CACHE`). */
export interface Translation {
  readonly mfn: number;
  readonly read: boolean;
  readonly write: boolean;
}

/** A hardware IOMMU domain (`struct vfio_domain`) and the translations VFIO programmed into it. */
export interface VfioDomain {
  /** The `domainClass` of its groups. */
  readonly id: number;
  groupIds: number[];
  /**
   * iova page → translation; keys are decimal iova page numbers. Shared between copies of the
   * state until one writes it (`writableTranslations`, `copied-parts.ts`).
   */
  translations: Readonly<Record<string, Translation>>;
}

/** An external pin (`struct vfio_pfn`) of one IOVA page of a mapping. */
export interface VfioPfn {
  readonly mfn: number;
  readonly refCount: number;
}

/** One mapping (`struct vfio_dma`). */
export interface VfioDma {
  readonly iovaPage: number;
  vaddrPage: number;
  readonly npages: number;
  readonly read: boolean;
  readonly write: boolean;
  /** Pinned and mapped into every domain (false while the container has no domain). */
  iommuMapped: boolean;
  /** The caller had CAP_IPC_LOCK at map time. */
  readonly lockCap: boolean;
  /** The vaddr was invalidated by UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_VADDR. */
  vaddrInvalid: boolean;
  /** Pages this mapping has charged to `mm->locked_vm` of its mm (`dma->locked_vm`). */
  lockedVmPages: number;
  /**
   * `dma->mm`: the mm MAP_DMA ran in (mmgrab), moved to the caller's by a VADDR update
   * (`vfio_change_dma_owner`); its locked_vm carries this mapping's charge. Absent: 0.
   */
  mm?: number;
  /**
   * The mm whose address space `vaddrPage` is an address of: the one that supplied it (MAP_DMA, or
   * the VADDR update). Not a kernel field: what the vaddr means, which `mm` must agree with.
   * Absent: 0.
   */
  vaddrMm?: number;
  /**
   * `pfn_list`: iova page → external pin; keys are decimal iova page numbers. Shared between copies
   * of the state until one writes it (`writableExternalPins`, `copied-parts.ts`).
   */
  externalPins: Readonly<Record<string, VfioPfn>>;
}

export interface Type1Backend {
  readonly kind: 'type1';
  /** VFIO_TYPE1v2_IOMMU (3) or VFIO_TYPE1_NESTING_IOMMU (6). */
  readonly v2: boolean;
  readonly nesting: boolean;
  /** `domain_list`, oldest first; `domains[0]` is the domain VFIO reads pfns back from. */
  domains: VfioDomain[];
  emulatedGroupIds: number[];
  /** `device_list`: open devices that implement `dma_unmap`, in registration order. */
  deviceIds: number[];
  /** `dma_list`, sorted by `iovaPage`. */
  dmas: VfioDma[];
  dmaAvail: number;
  /** `dma_entry_limit` as read when the backend was opened. */
  readonly dmaEntryLimit: number;
  vaddrInvalidCount: number;
  /**
   * `iova_list` was never populated: no IOMMU group has been attached since the backend opened,
   * so any IOVA is allowed and the attach-time aperture check is skipped (§1.1, §1.9).
   */
  iovaListEmpty: boolean;
}

export interface NoIommuBackend {
  readonly kind: 'noiommu';
}

export interface VfioContainer {
  /** Groups in the container, in attach order. */
  groupIds: number[];
  /** `container->noiommu`: the container holds VFIO_NO_IOMMU groups. */
  noiommu: boolean;
  /** Set by VFIO_SET_IOMMU; dropped when the last group leaves. */
  backend: Type1Backend | NoIommuBackend | null;
}

// ---------------------------------------------------------------------------------------------
// Fault injection and the crash record

/** Where an injected fault strikes (`state.ts`: `attemptPin`, `attemptAlloc`, `attemptMap`). */
export type FaultPoint = 'pin' | 'alloc' | 'map';
export const faultPoints: readonly FaultPoint[] = ['pin', 'alloc', 'map'];

/**
 * While armed, the `nth` attempt at `point` by any single operation fails: a page pin, an
 * allocation (a frame or a kernel object), or an `iommu_map` into a domain (its page-table
 * allocation fails, ENOMEM).
 */
export interface FaultInjection {
  readonly point: FaultPoint;
  readonly nth: number;
}

/** A kernel BUG_ON was hit: the host is down and every later call is refused with `BUG_ON`. */
export interface KernelCrash {
  readonly where: string;
  readonly reason: string;
  readonly iovaPage: number;
  readonly externalPins: number;
}

/** Module parameters and world constants, fixed at creation. */
export interface VfioParams {
  /** Module parameter `dma_entry_limit` (default 65535). */
  readonly dmaEntryLimit: number;
  /** Module parameter `allow_unsafe_interrupts`. */
  readonly allowUnsafeInterrupts: boolean;
}

export interface VfioState {
  memory: HostMemory;
  process: VmmProcess;
  otherAllocations: OtherAllocation[];
  groups: VfioGroup[];
  devices: VfioDevice[];
  container: VfioContainer;
  params: VfioParams;
  faultInjection: FaultInjection | null;
  crash: KernelCrash | null;
  /** Operations started and not finished, oldest first (`inflight.ts`); empty for atomic commands. */
  inflight: VfioOp[];
}

// ---------------------------------------------------------------------------------------------
// Operations in flight (`inflight.ts`): what each one's next phase needs.

/**
 * A device's DMA, translated and not yet landed (`phased-dma.ts`). It lands where its translation
 * sent it, whatever the tables say by then; an IOTLB invalidation that covers it waits until it has
 * landed (the drain), so it lands before the invalidation completes.
 */
export interface DeviceDmaOp {
  readonly kind: 'deviceDma';
  readonly deviceId: number;
  readonly addressPage: number;
  readonly write: boolean;
  /** Where the translation sent it: a frame (`landed` once it lands), or nowhere. */
  readonly outcome: 'landed' | 'fault' | 'master-abort';
  readonly mfn: number | null;
  /** The VFIO domain whose translation it used (null: noiommu, a fault, or another IOMMU's). */
  readonly domainId: number | null;
  /** A translation by an IOMMU model beside VFIO (passthrough): its request id, drained by that IOMMU. */
  readonly requestId: number | null;
  /** How the translation was found (`iotlb`, `walk`, …), for reports. */
  readonly via: string;
}

/** A page fault an operation took: undone if the operation fails and unwinds (see the header). */
export interface PageFaultRecord {
  readonly vaddrPage: number;
  readonly mfn: number;
  /** The allocator's free list and allocation count before the fault. */
  readonly freeListBefore: readonly number[];
  readonly allocCountBefore: number;
  /** The shared zero page the fault replaced (a COW break or an unshare), restored by an undo. */
  readonly zeroBefore?: true;
  /** The fault mapped the shared zero page (no frame allocated, no reference taken). */
  readonly zeroMapped?: true;
}

/** VFIO_IOMMU_MAP_DMA between its phases, with `iommu->lock` held (`phased-map.ts`). */
export interface MapDmaOp {
  readonly kind: 'mapDma';
  /** `map`: every page pinned, none mapped yet; `pin`: (the bug `map-before-pin`) mapped, not pinned. */
  readonly next: 'map' | 'pin';
  readonly iovaPage: number;
  readonly npages: number;
  /** The frame of each page, in page order: pinned (`map`) or only looked up (`pin`). */
  readonly mfns: readonly number[];
  /** Pages phase 1 faulted in, undone if phase 2 fails (`state.ts`); absent when none. */
  readonly faults?: readonly PageFaultRecord[];
}

/** A page VFIO has unmapped and will unpin once the IOTLB sync completes. */
export interface UnpinPending {
  readonly iovaPage: number;
  readonly mfn: number;
}

/** VFIO_IOMMU_UNMAP_DMA between its phases (`phased-unmap.ts`). */
export interface UnmapDmaOp {
  readonly kind: 'unmapDma';
  /**
   * `recheck`: the dma_unmap callbacks ran with `iommu->lock` dropped, the walk starts again;
   * `sync`: a mapping's translations are cleared (`iommu_unmap_fast`), the IOTLB sync is next;
   * `unpin`: synced, its pages are unpinned and the mapping removed next.
   */
  readonly next: 'recheck' | 'sync' | 'unpin';
  /** The request as byte addresses, decimal strings: `[iova, end)`. */
  readonly iova: string;
  readonly end: string;
  /** Bytes removed so far (decimal string), mappings removed, dma_unmap notifications sent. */
  readonly unmappedBytes: string;
  readonly removed: number;
  readonly callbacks: number;
  /** `dma_last` and `retries` of vfio_dma_do_unmap's `again:` loop. */
  readonly lastNotifiedPage: number | null;
  readonly retries: number;
  /** The mapping being removed (`sync`, `unpin`): its first IOVA page and what it will unpin. */
  readonly dmaIovaPage: number | null;
  readonly toUnpin: readonly UnpinPending[];
}

/** A mediated driver's pin between vfio_pin_pages and recording it in its own table (`phased-pin.ts`). */
export interface DriverPinOp {
  readonly kind: 'mdevPinPages';
  readonly deviceId: number;
  readonly iovaPage: number;
  readonly npage: number;
  /** What vfio_pin_pages returned for the first page (the call's answer). */
  readonly firstMfn: number | null;
}

/**
 * VFIO_GROUP_UNSET_CONTAINER between its phases (`container.ts`): type1's `iommu_detach_group` ran
 * (the group's devices are on the blocking domain); the rest of `vfio_iommu_type1_detach_group`
 * (the unmaps and unpins, the domain's free) and of the ioctl (the group out of the container, its
 * DMA ownership released) is next.
 */
export interface GroupUnsetOp {
  readonly kind: 'groupUnsetContainer';
  readonly groupId: number;
  /** The VFIO domain the group left. */
  readonly domainId: number;
}

export type VfioOp = DeviceDmaOp | MapDmaOp | UnmapDmaOp | DriverPinOp | GroupUnsetOp;

// ---------------------------------------------------------------------------------------------
// What an operation returns besides its OpResult

/** A change VFIO made to its IOMMU domains (translations, attachments), in the order it made them. */
export type TranslationEffect =
  | {
      readonly kind: 'map';
      readonly domainId: number;
      readonly iovaPage: number;
      readonly mfn: number;
      readonly read: boolean;
      readonly write: boolean;
    }
  | { readonly kind: 'unmap'; readonly domainId: number; readonly iovaPage: number; readonly mfn: number }
  /** `iommu_iotlb_sync`: after it, no cached translation of the unmapped pages remains. */
  | { readonly kind: 'iotlb-sync'; readonly domainId: number }
  /** A group's devices now translate through the domain (`iommu_attach_group`). */
  | { readonly kind: 'attach'; readonly domainId: number; readonly groupId: number }
  /** A group's devices no longer translate through the domain. */
  | { readonly kind: 'detach'; readonly domainId: number; readonly groupId: number }
  /** The domain is freed with any translation left in it (`iommu_domain_free`). */
  | { readonly kind: 'domain-free'; readonly domainId: number };

/** One device access and where it ended. */
export interface DmaAccess {
  readonly deviceId: number;
  /** The device address: an iova page (type1, ccw) or a bus address page (noiommu). */
  readonly addressPage: number;
  readonly write: boolean;
  /** `landed` at `mfn`, or stopped: `fault` (no translation or no permission), `master-abort` (no such frame). */
  readonly outcome: 'landed' | 'fault' | 'master-abort';
  readonly mfn: number | null;
  /** Owner of the frame when the access landed (`null` = free frame). */
  readonly owner: FrameOwner;
}

/**
 * The result of a VFIO model operation: an `OpResult` plus the translation changes to forward to
 * an IOMMU model and the device accesses performed. A refused operation has neither.
 */
export interface VfioResult extends OpResult {
  readonly effects: readonly TranslationEffect[];
  readonly accesses: readonly DmaAccess[];
}
