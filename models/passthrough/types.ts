/**
 * Plain-data state of the passthrough stack with a real IOMMU: the VFIO type1 model (container,
 * pins, the VMM's memory) composed with the VT-d model (page tables, IOTLB, flush queues). VFIO
 * decides what is mapped and pins it; every translation change it makes is forwarded to the VT-d
 * model, and the assigned device's DMA goes through the VT-d model (IOTLB first, then the walk).
 * Reference: docs/reference/vfio-type1.md §1.7 and §3.2–3.5, §5.2.
 *
 * Frames are the VFIO model's host frames; the IOMMU records frame numbers and holds no reference.
 * In `lazy-held` mode the stack itself keeps a reference on each frame a lazy unmap removed until
 * the flush that covers the unmap completes (`held`).
 */
import type { IommuConfig } from '../iommu/config.js';
import type { CopiedContextTeardown, CopiedTeardownStep } from '../iommu/kdump.js';
import type { IommuState } from '../iommu/types.js';
import type { OpResult } from '../result.js';
import type { VfioCommand } from '../vfio/commands.js';
import type { VfioConfig } from '../vfio/config.js';
import type { VfioResult, VfioState } from '../vfio/types.js';

/**
 * How the IOMMU domains VFIO allocates invalidate on unmap:
 * - `strict`: an `unmanaged` domain; the IOTLB is flushed before the unmap returns, then pages
 *   are unpinned (what Linux does for VFIO);
 * - `lazy`: a `dma-fq` domain; the invalidation waits in the flush queue, but VFIO unpins at once
 *   (the frame can be freed and reused while a stale IOTLB entry still reaches it);
 * - `lazy-held`: a `dma-fq` domain whose unmapped frames are held until the flush completes.
 */
export type InvalidationMode = 'strict' | 'lazy' | 'lazy-held';
export const invalidationModes: readonly InvalidationMode[] = ['strict', 'lazy', 'lazy-held'];

/**
 * What the VT-d driver does to a device's context entry when VFIO detaches the device's group from
 * VFIO's domain while VFIO still owns the group (`iommu_detach_group` → `__iommu_group_set_core_domain`
 * → the blocking domain, whose attach is `device_block_translation` → `domain_context_clear_one`):
 * given the IOMMU (edited in place) and the device's source-id. The domain's DID is freed after it
 * whatever it did (`domain_detach_iommu`, then VFIO frees the domain), as Linux's bookkeeping does.
 * Built-in: `models/passthrough/lifecycle.ts`.
 */
export type BlockTranslation = (iommu: IommuState, sourceId: number) => void;

/**
 * The IOMMU side of the group lifecycle (docs/reference/vtd.md §3.10): with it, each IOMMU group
 * not in a container sits in its default domain, VFIO's claim of the group (VFIO_GROUP_SET_CONTAINER)
 * blocks it, VFIO's detach goes through `blockTranslation`, VFIO's release of the group attaches the
 * default domain again; a domain VFIO frees releases its DID and pages without a flush; and a
 * vfio-pci device keeps issuing DMA whether or not its fd is open.
 */
export interface PassthroughLifecycle {
  readonly blockTranslation: BlockTranslation;
}

/**
 * What the VT-d driver does to the IOMMU when a device's PASID is detached from its domain
 * (`iommu_detach_device_pasid` → `intel_iommu_remove_dev_pasid` → `intel_pasid_tear_down_entry`):
 * given the IOMMU (edited in place), the device's source-id and the PASID, whose entry is present.
 * The core forgets the attachment whatever it did. Built-in: `models/passthrough/pasid.ts`.
 */
export type PasidTeardown = (iommu: IommuState, sourceId: number, pasid: number) => void;

/**
 * What the VT-d driver does to the IOMMU when a device's PASID is attached to a domain
 * (`iommu_attach_device_pasid` → `intel_iommu_set_dev_pasid`: the cache tag of (DID, PASID), then
 * the PASID entry): given the IOMMU (edited in place), the device's source-id, the PASID and the
 * DID; returns the IOMMU model's result (a refusal leaves the IOMMU as it was). Built-in:
 * `models/passthrough/pasid.ts`.
 */
export type PasidAttach = (iommu: IommuState, sourceId: number, pasid: number, domainId: number) => OpResult;

/**
 * PASID attachment (docs/reference/vtd.md §3.12): a vfio-pci device's PASIDs attached to its
 * group's VFIO domain through `attach` (absent: `attachPasid`, v6.12's), torn down through
 * `tearDown`.
 */
export interface PassthroughPasid {
  readonly attach?: PasidAttach;
  readonly tearDown: PasidTeardown;
}

export interface PassthroughConfig {
  readonly mode: InvalidationMode;
  readonly vfio: VfioConfig;
  readonly iommu: IommuConfig;
  /** The group lifecycle through the VT-d model; absent: the stack before it (no default domains). */
  readonly lifecycle?: PassthroughLifecycle;
  /** PASID attachment; absent: the PASID commands are refused (ENODEV) and devices attach by RID only. */
  readonly pasid?: PassthroughPasid;
  /**
   * A kdump kernel (`kdump.ts`): how the probe's attach tears down a context entry copied from the
   * crashed kernel (`domain_context_mapping_one`). Absent: no copied entries.
   */
  readonly kdump?: PassthroughKdump;
}

/** The kdump kernel's decision: the copied entry's teardown order (built-in: `iommu/kdump.ts`). */
export interface PassthroughKdump {
  readonly tearDown: CopiedContextTeardown;
}

/** A probe's attach in flight over a copied context entry (`kdump.ts`): what is left of it. */
export interface ProbingAttach {
  /** The default domain being attached. */
  readonly domainId: number;
  /** The DID the copied entry named. */
  readonly didOld: number;
  /** The teardown's steps after the window. */
  readonly rest: readonly CopiedTeardownStep[];
}

/** A reference the stack keeps on a frame until the flush-queue entry `seq` is released. */
export interface HeldFrame {
  readonly seq: number;
  readonly mfn: number;
}

export interface PassthroughState {
  vfio: VfioState;
  iommu: IommuState;
  /** VFIO domain id → the DID of the IOMMU domain allocated for it; keys are decimal. */
  dids: Record<string, number>;
  /** `lazy-held` only: frames held for queued unmaps, in queue order. */
  held: HeldFrame[];
  /**
   * With the lifecycle (`PassthroughConfig.lifecycle`): IOMMU group id → the DID of the default
   * domain its devices sit in while no VFIO container owns the group; keys decimal. Absent: no
   * lifecycle modelled.
   */
  defaults?: Record<string, number>;
  /**
   * A kdump kernel (`kdump.ts`): source-id → the probe's attach in flight over its copied context
   * entry; decimal keys. Replaced whole on every change. Absent: none.
   */
  probing?: Record<string, ProbingAttach>;
  /**
   * A kdump kernel's world (`kdump.ts`): the VMM's setup ioctls, which it issues once the boot has
   * probed every device (the last `finishCopiedAttach`). Absent: none waiting.
   */
  vmmSetup?: readonly VfioCommand[];
}

/**
 * The stack's commands: every VFIO command (device DMA now goes through the IOMMU), and the flush
 * queue timer, which drains every lazy domain's queue (a domain-wide flush, then the queued
 * entries are released).
 */
export type PassthroughCommand = VfioCommand | { readonly kind: 'drainFlushQueue' } | PasidCommand | KdumpCommand;

/**
 * A kdump kernel's probe of vfio-pci device `deviceId` goes on past the window of its attach
 * (`kdump.ts`): the rest of the copied entry's teardown and the default domain's entry.
 */
export interface KdumpCommand {
  readonly kind: 'finishCopiedAttach';
  readonly deviceId: number;
}

/**
 * A vfio-pci device's PASIDs (`models/passthrough/pasid.ts`): one attached to the device's VFIO
 * domain, detached, and a DMA request carrying a PASID.
 */
export type PasidCommand =
  | { readonly kind: 'attachPasid'; readonly deviceId: number; readonly pasid: number }
  | { readonly kind: 'detachPasid'; readonly deviceId: number; readonly pasid: number }
  | {
      readonly kind: 'pasidDma';
      readonly deviceId: number;
      readonly pasid: number;
      readonly addressPage: number;
      readonly write: boolean;
    };
export const pasidCommandKinds: readonly PasidCommand['kind'][] = ['attachPasid', 'detachPasid', 'pasidDma'];
export type PassthroughCommandKind = PassthroughCommand['kind'];

/** A step's answer: VFIO's result (effects and device accesses), as the VFIO invariants read it. */
export type PassthroughResult = VfioResult;
