/**
 * Configuration of the VFIO type1 model, the deliberate bugs it can carry, and what each bug needs
 * of a world for its code to run.
 *
 * A bug is a named deviation from the reference (`docs/reference/vfio-type1.md` §1): flawed
 * variants of the stack are built from them, and the meta-tests show that the generic invariants
 * catch each one (`views.ts` says which view exposes which bug). A correct model runs with none.
 *
 * A bug sits on one code path, and a world that never takes that path cannot show it: a design
 * that declares it would hold by omission. `vfioBugNeeds` says, per bug, which features of the
 * world the path needs (read off the model code: where `hasVfioBug` is asked and what must exist
 * for that line to run); the design factories refuse a bug whose needs their world lacks.
 */
import type { Type1Backend, VfioDevice, VfioState } from './types.js';

export const vfioBugs = [
  /** vfio_unmap_unpin removes the translations and uncharges locked_vm but never unpins the pages. */
  'unmap-skips-unpin',
  /** A MAP_DMA that fails part-way unmaps and frees the mapping but leaves the pages it pinned pinned. */
  'map-failure-leaks-pins',
  /** Unpinning IOMMU-path pages (unmap, release, detach) never uncharges mm->locked_vm. */
  'locked-vm-not-uncharged',
  /** The mediated driver's dma_unmap callback returns without unpinning (the kernel then BUG_ONs). */
  'mdev-ignores-unmap',
  /**
   * The generic mediated driver calls vfio_unpin_pages over a whole range, including IOVAs it
   * never pinned: the container-wide vfio_pfn counts drop under another driver's feet.
   */
  'mdev-unpins-foreign-pins',
  /** MAP_DMA treats the task as if it had CAP_IPC_LOCK: RLIMIT_MEMLOCK is never checked for the mapping. */
  'map-skips-memlock-check',
  /** Removing a mapping forgets to give its slot back (dma_avail is not incremented). */
  'unmap-leaks-dma-slot',
  /** Closing a device fd skips the driver's close_device: its external pins and I/O outlive it. */
  'close-keeps-pins',
  /** MAP_DMA skips the overlap search: a second mapping over the same IOVA replaces its translations. */
  'overlap-not-checked',
  /**
   * While an emulated-IOMMU group is attached, UNMAP_DMA (vfio_remove_dma) takes the pages for ones
   * the external path tracks, whose drivers the dma_unmap notification told to unpin, and only
   * unmaps them: the IOMMU-path pins are never dropped (their charge is). The variant asks "is
   * there an emulated group" (v4.10–v5.15: `iommu->external_domain`) where type1 asks "is there an
   * IOMMU domain" (`list_empty(&iommu->domain_list)`); the two disagree only in a container
   * holding both kinds of group.
   */
  'unmap-skips-unpin-with-emulated-group',
  /**
   * vfio_unmap_unpin unpins each page before `iommu_iotlb_sync` completes (Linux syncs first,
   * vfio_sync_unpin): between the two a translation still cached, or a request already translated,
   * reaches a frame nothing pins. Only a window shows it (`phased-unmap.ts`).
   */
  'unpin-before-iotlb-sync',
  /**
   * MAP_DMA maps each page into the domains before pinning it (Linux pins a run, then maps it):
   * until the pin the device reaches a frame nothing pins. Only a window shows it (`phased-map.ts`).
   */
  'map-before-pin',
  /**
   * UNMAP_DMA drops `iommu->lock` for the dma_unmap callbacks and, back under it, removes the
   * mapping as if the callbacks had released every pin, without walking again (Linux: `goto
   * again`): a pin taken while the lock was dropped leaks with its vfio_pfn (`phased-unmap.ts`).
   */
  'unmap-skips-recheck',
  /**
   * The generic mediated driver records a pin after releasing its own lock: its dma_unmap callback
   * can run between vfio_pin_pages and the record, miss the pin and leave it held (`phased-pin.ts`).
   */
  'mdev-records-pin-unlocked',
  /**
   * vfio-ccw's dma_unmap frees the channel program (unpins its pages) without quiescing the
   * subchannel first (Linux: `vfio_ccw_mdev_reset` → the CLOSE event → `vfio_ccw_sch_quiesce`, which
   * waits for halt/clear, then `cp_free`): the I/O goes on and lands in pages nothing pins.
   */
  'ccw-unmap-skips-quiesce',
  /**
   * A MAP_DMA that fails part-way unwinds the mapping (unmap, unpin, unlink, slot back) but never
   * uncharges the pages it had charged to mm->locked_vm (`vfio_remove_dma` called without its
   * accounting).
   */
  'map-unwind-skips-uncharge',
  /**
   * A MAP_DMA that fails part-way gives the mapping's dma_entry_limit slot back twice: once in
   * `vfio_remove_dma`, once more on the error path.
   */
  'map-unwind-returns-slot-twice',
  /**
   * Attaching an IOMMU group that needs a new domain skips `vfio_iommu_replay`: the existing
   * mappings are never mapped into the new domain (nor pinned, when it is the first domain).
   */
  'attach-skips-replay',
  /**
   * A failed `vfio_iommu_replay` returns without its unwind (Linux before aae7a75a821a, v5.9):
   * the domain is freed with its translations, but the pages it pinned stay pinned and charged and
   * the mappings it finished stay marked `iommu_mapped`.
   */
  'replay-skips-unwind',
  /**
   * A failed vfio_pin_pages releases the page that failed but not the pages it pinned before it in
   * the same call (no `pin_unwind` walk).
   */
  'pin-pages-unwind-skips-earlier',
  /**
   * The last IOMMU group leaving a container that keeps emulated groups unmaps every mapping from
   * the domain and reaccounts locked_vm, but never unpins the IOMMU-path pins
   * (`vfio_iommu_unmap_unpin_reaccount` without the unpin).
   */
  'detach-keeps-pins',
  /**
   * VFIO_SET_IOMMU's `__vfio_container_attach_groups` returns a failing attach's error without its
   * `unwind:` loop: the groups it attached before the failing one are not detached (type1's own
   * release would detach them; with `release-skips-group-detach` nothing does).
   */
  'attach-groups-skips-unwind',
  /**
   * `vfio_iommu_type1_release` frees each domain (`iommu_domain_free`) without detaching the groups
   * still in it (`vfio_release_domain` without `iommu_detach_group`), trusting that every group
   * left before the release — true when the last group's UNSET_CONTAINER releases it, not when a
   * failed VFIO_SET_IOMMU releases a backend whose attaches were not unwound.
   */
  'release-skips-group-detach',
  /**
   * vfio_notify_dma_unmap calls the drivers' `dma_unmap` with `iommu->lock` still held (v6.12
   * drops it: "Since vfio_unpin_pages() will eventually call back down to this code and try to
   * obtain the iommu->lock we must drop it"): the driver unpins through vfio_unpin_pages, which
   * takes `iommu->lock` again, in the same thread — the UNMAP_DMA waits forever.
   */
  'dma-unmap-under-iommu-lock',
  /**
   * `vfio_iommu_type1_attach_group`'s error path frees the new domain without detaching the group
   * first (the `out_detach:` label's `iommu_detach_group` missing): after a failed replay the
   * group's devices still translate through the freed domain.
   */
  'attach-error-skips-detach',
] as const;

export type VfioBug = (typeof vfioBugs)[number];

/**
 * What a world can have that a bug's code path needs:
 * - `type1-container`: a type1 backend with mappings (an IOMMU-backed or an emulated group; a
 *   VFIO_NO_IOMMU container has no MAP_DMA or UNMAP_DMA);
 * - `iommu-group`: an IOMMU-backed group, so type1 pins and maps through an IOMMU domain;
 * - `emulated-group`: an emulated-IOMMU group attached to the container;
 * - `emulated-device`: an emulated-IOMMU device (mdev, ccw) with `dma_unmap` and `close_device`;
 * - `generic-mdev`: an mdev the generic mediated driver drives (its pin and unpin commands);
 * - `ccw-device`: a vfio-ccw style channel-program engine;
 * - `second-pinning-device`: another emulated device pinning through the same container;
 * - `memlock-limit-reachable`: the pins the world allows can exceed RLIMIT_MEMLOCK.
 */
export type VfioWorldFeature =
  | 'type1-container'
  | 'iommu-group'
  | 'emulated-group'
  | 'emulated-device'
  | 'generic-mdev'
  | 'ccw-device'
  | 'second-pinning-device'
  | 'memlock-limit-reachable'
  | 'several-groups';

/** How a refusal says a world lacks a feature: "the <world> …". */
export const vfioFeatureMissing: Readonly<Record<VfioWorldFeature, string>> = {
  'type1-container': 'has no type1 mappings (a VFIO_NO_IOMMU container has no MAP_DMA or UNMAP_DMA)',
  'iommu-group': 'has no IOMMU-backed group',
  'emulated-group': 'has no emulated-IOMMU group',
  'emulated-device': 'has no emulated-IOMMU device (mdev or ccw)',
  'generic-mdev': 'has no mdev driven by the generic mediated driver',
  'ccw-device': 'has no vfio-ccw device',
  'second-pinning-device': 'has no second device pinning through vfio_pin_pages',
  'memlock-limit-reachable': 'never pins more pages than RLIMIT_MEMLOCK allows',
  'several-groups': 'has one group in its container',
};

/** What a bug needs of a world, and what then never happens (the refusal's "so …"). */
export interface BugNeeds<F extends string> {
  readonly needs: readonly F[];
  readonly otherwise: string;
}

export const vfioBugNeeds: Readonly<Record<VfioBug, BugNeeds<VfioWorldFeature>>> = {
  'unmap-skips-unpin': {
    needs: ['iommu-group'],
    otherwise: 'vfio_unmap_unpin never unpins through the IOMMU path',
  },
  'map-failure-leaks-pins': {
    needs: ['iommu-group'],
    otherwise: 'MAP_DMA pins nothing and never fails part-way through its pins',
  },
  'locked-vm-not-uncharged': {
    needs: ['iommu-group'],
    otherwise: 'no IOMMU-path pin is ever unpinned',
  },
  'mdev-ignores-unmap': {
    needs: ['emulated-device'],
    otherwise: 'no dma_unmap callback ever runs',
  },
  'mdev-unpins-foreign-pins': {
    needs: ['generic-mdev', 'second-pinning-device'],
    otherwise: "the generic driver's unpin never meets another driver's pins",
  },
  'map-skips-memlock-check': {
    needs: ['type1-container', 'memlock-limit-reachable'],
    otherwise: 'the skipped RLIMIT_MEMLOCK check would never refuse a pin',
  },
  'unmap-leaks-dma-slot': {
    needs: ['type1-container'],
    otherwise: 'no mapping is ever removed',
  },
  'close-keeps-pins': {
    needs: ['emulated-device'],
    otherwise: 'no closing device has a close_device with pins to release',
  },
  'overlap-not-checked': {
    needs: ['type1-container'],
    otherwise: 'MAP_DMA never runs',
  },
  'unmap-skips-unpin-with-emulated-group': {
    needs: ['iommu-group', 'emulated-group'],
    otherwise: 'UNMAP_DMA never unpins an IOMMU-path pin while an emulated group is attached',
  },
  'unpin-before-iotlb-sync': {
    needs: ['iommu-group'],
    otherwise: 'vfio_unmap_unpin never unpins through the IOMMU path',
  },
  'map-before-pin': {
    needs: ['iommu-group'],
    otherwise: 'MAP_DMA never pins or maps a page',
  },
  'unmap-skips-recheck': {
    needs: ['emulated-device'],
    otherwise: 'UNMAP_DMA never notifies a dma_unmap callback',
  },
  'mdev-records-pin-unlocked': {
    needs: ['generic-mdev'],
    otherwise: 'no generic mediated driver pins through vfio_pin_pages',
  },
  'ccw-unmap-skips-quiesce': {
    needs: ['ccw-device'],
    otherwise: 'no channel program is ever in flight when a dma_unmap comes',
  },
  'map-unwind-skips-uncharge': {
    needs: ['iommu-group'],
    otherwise: 'MAP_DMA pins nothing and never fails part-way through its pins',
  },
  'map-unwind-returns-slot-twice': {
    needs: ['iommu-group'],
    otherwise: 'MAP_DMA pins nothing and never fails part-way through its pins',
  },
  'attach-skips-replay': {
    needs: ['iommu-group', 'emulated-group'],
    otherwise: 'no IOMMU group ever joins a container that still has mappings (the last group out releases them)',
  },
  'replay-skips-unwind': {
    needs: ['iommu-group', 'emulated-group'],
    otherwise: 'no replay ever runs over existing mappings',
  },
  'pin-pages-unwind-skips-earlier': {
    needs: ['generic-mdev'],
    otherwise: 'no driver pins more than one page per vfio_pin_pages call',
  },
  'detach-keeps-pins': {
    needs: ['iommu-group', 'emulated-group'],
    otherwise: 'the last IOMMU group never leaves while emulated groups stay',
  },
  'attach-groups-skips-unwind': {
    needs: ['iommu-group', 'several-groups'],
    otherwise: 'no VFIO_SET_IOMMU fails after attaching an IOMMU group',
  },
  'release-skips-group-detach': {
    needs: ['iommu-group', 'several-groups'],
    otherwise: 'no backend is released with a group still attached',
  },
  'attach-error-skips-detach': {
    needs: ['iommu-group', 'emulated-group'],
    otherwise: 'no replay ever runs over existing mappings, so no attach fails after iommu_attach_group',
  },
  'dma-unmap-under-iommu-lock': {
    needs: ['emulated-device'],
    otherwise: 'UNMAP_DMA never notifies a dma_unmap callback',
  },
};

/**
 * The `dma_unmap` and `close_device` ops of a mediated driver that lives outside the VFIO model
 * (KVMGT's vGPU). When set they replace the generic mediated driver's for `mdev` devices; they run
 * on the state VFIO passes them, as the kernel calls a driver's op with the container locked.
 */
export interface MediatedDriverOps {
  dmaUnmap(state: VfioState, device: VfioDevice, iovaPage: number, npages: number): void;
  close(state: VfioState, device: VfioDevice): void;
}

/**
 * The type1 backend's decision points where a variant differs as a function (issue 21: the query
 * ioctls and the VMM's other memory). Each default is the Linux v6.12 behaviour
 * (`soundVfioHooks`); a design replaces some (`VfioDesignOptions.hooks`) and the model asks
 * `vfioHooks(config)` at the line of the source each names.
 */
export interface VfioHooks {
  /**
   * vfio_iommu_type1_check_extension(VFIO_UPDATE_VADDR) with a backend open: whether the vaddr
   * update protocol is offered. Sound: only while no emulated-IOMMU group is attached
   * (`!vfio_iommu_has_emulated(iommu)`; since v6.2, "vfio/type1: exclude mdevs from
   * VFIO_UPDATE_VADDR": mdev drivers cannot pin or read guest memory while vaddrs are invalid).
   */
  readonly updateVaddrOffered: (backend: Readonly<Type1Backend>) => boolean;
  /**
   * vfio_iommu_type1_get_info: the capability chain is copied out after the info struct only when
   * the caller's buffer holds both (`info.argsz >= sizeof(info) + caps.size`); otherwise the
   * kernel answers the size it needs in `argsz` and copies no capability. Sound: exactly that test.
   */
  readonly infoCapsFit: (argszBytes: number, neededBytes: number) => boolean;
  /**
   * vaddr_get_pfns on a VM_PFNMAP VMA: whether the pfn `follow_fault_pfn` found is used. Sound:
   * only an invalid or reserved pfn (`is_invalid_reserved_pfn`: a BAR, no struct page); RAM is
   * -EFAULT, since nothing would pin it.
   */
  readonly pfnmapPfnAccepted: (invalidOrReserved: boolean) => boolean;
  /**
   * vfio_pin_pages_remote: whether a page is charged to locked_vm (`if (!rsvd && !vfio_find_vpfn)`).
   * Sound: not an invalid or reserved pfn, which is never pinned nor uncharged by `put_pfn`.
   */
  readonly chargesPfn: (invalidOrReserved: boolean) => boolean;
  /**
   * A read-only FOLL_LONGTERM pin (MAP_DMA without WRITE) of a page never written, which maps the
   * shared zero page: whether GUP unshares it first (gup_must_unshare in a COW mapping →
   * FAULT_FLAG_UNSHARE: a fresh page of the process). Sound: true. False pins the zero page itself:
   * the device reads the kernel's page, and the guest's first write moves its vaddr to a new page.
   */
  readonly longtermPinUnsharesZeroPage: () => boolean;
  /**
   * vfio_lock_acct: the mm whose locked_vm a mapping's charge goes to (and comes off). Sound: the
   * mapping's own, `dma->mm`, grabbed at MAP_DMA (since 046eca5018f8, "vfio/type1: prevent
   * underflow of locked_vm via exec()", v6.2). Before it, type1 took the task's mm at each call
   * (`get_task_mm(dma->task)`): after an exec, the new mm, which was never charged.
   */
  readonly lockAcctMm: (mapping: { readonly dmaMm: number; readonly taskMm: number }) => number;
  /**
   * MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR from another mm than the mapping's: whether
   * `vfio_change_dma_owner` moves the mapping's `dma->locked_vm` charge to the caller's mm (and
   * `dma->mm` with it). Sound: whenever the mm differs ("vfio/type1: restore locked_vm",
   * v6.2); false leaves the charge with the dead mm.
   */
  readonly vaddrUpdateMovesCharge: (mapping: { readonly dmaMm: number; readonly callerMm: number }) => boolean;
}

export const soundVfioHooks: VfioHooks = {
  updateVaddrOffered: (backend) => backend.emulatedGroupIds.length === 0,
  infoCapsFit: (argszBytes, neededBytes) => argszBytes >= neededBytes,
  pfnmapPfnAccepted: (invalidOrReserved) => invalidOrReserved,
  chargesPfn: (invalidOrReserved) => !invalidOrReserved,
  longtermPinUnsharesZeroPage: () => true,
  lockAcctMm: ({ dmaMm }) => dmaMm,
  vaddrUpdateMovesCharge: ({ dmaMm, callerMm }) => dmaMm !== callerMm,
};

export interface VfioConfig {
  readonly bugs: readonly VfioBug[];
  readonly mdevOps?: MediatedDriverOps;
  /** Hooks over the v6.12 defaults (`soundVfioHooks`); absent: all sound. */
  readonly hooks?: Partial<VfioHooks>;
}

/** The hooks a model runs with: the config's over the sound defaults. */
export function vfioHooks(config: VfioConfig): VfioHooks {
  return config.hooks === undefined ? soundVfioHooks : { ...soundVfioHooks, ...config.hooks };
}

export function hasVfioBug(config: VfioConfig, bug: VfioBug): boolean {
  return config.bugs.includes(bug);
}
