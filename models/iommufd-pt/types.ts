/**
 * Plain-data state of the passthrough stack over iommufd: the iommufd model (objects, IOAS areas,
 * iopt_pages, access objects, the VMM process and host memory; models/iommufd) composed with the
 * VT-d model (page tables, IOTLB, flush queues; models/iommu) the way the type1 passthrough stack
 * composes VFIO type1 with it (models/passthrough). iommufd decides what is mapped and pins it;
 * every translation change it reports (`TranslationEffect`, `domainId` = the paging hwpt's id) is
 * replayed into the VT-d model by the type1 stack's own forwarding (`forward.ts`), and a bound
 * device's DMA goes through the VT-d model (IOTLB first, then the walk).
 *
 * The same stack carries the mediated side: access objects (an emulated device's driver over
 * iommufd) pin pages with `iommufd_access_pin_pages` and write into what they pinned
 * (`accessDma`), and the IOAS unmap calls the driver's unmap callback (the model's `accessUnmap`
 * hook). Both kinds of device share one IOAS in real VMMs (a vGPU next to an assigned NIC), and the
 * unmap path runs through both at once, so one stack shows their interplay.
 *
 * Left out: the group lifecycle's default domains (an unattached device's context entry is simply
 * absent: its DMA faults), phased DMA (every DMA lands at once), nested translation (the stack
 * allocates paging hwpts only).
 */
import type { IommuConfig } from '../iommu/config.js';
import type { IommuState } from '../iommu/types.js';
import type { IommufdCommand } from '../iommufd/commands.js';
import type { IommufdConfig } from '../iommufd/config.js';
import type { IommufdState } from '../iommufd/types.js';
import type { HeldFrame, InvalidationMode } from '../passthrough/types.js';

export interface IommufdPtConfig {
  /** How the IOMMU domains iommufd allocates invalidate on unmap (models/passthrough/types.ts). */
  readonly mode: InvalidationMode;
  readonly iommufd: IommufdConfig;
  readonly iommu: IommuConfig;
}

export interface IommufdPtState {
  iommufd: IommufdState;
  iommu: IommuState;
  /** Paging hwpt id → the DID of the VT-d domain allocated for it; keys are decimal. */
  dids: Record<string, number>;
  /** `lazy-held` only: frames held for queued unmaps, in queue order. */
  held: HeldFrame[];
  /** Frames another owner (another VM) holds, one allocation reference each. */
  otherFrames: number[];
}

/** Frame owner of the other VM (properties/vfio/world.ts OTHER_OWNER). */
export const OTHER_OWNER = 2;

/**
 * The stack's commands: every iommufd command, a bound device's DMA through the IOMMU, an access
 * driver's CPU write/read into a page it pinned, another owner taking or returning a free frame,
 * and the flush-queue timer.
 */
export type IommufdPtCommand =
  | IommufdCommand
  | { readonly kind: 'deviceDma'; readonly deviceIndex: number; readonly iovaPage: number; readonly write: boolean }
  | { readonly kind: 'accessDma'; readonly accessId: number; readonly iovaPage: number; readonly write: boolean }
  | { readonly kind: 'allocateToOther' }
  | { readonly kind: 'releaseFromOther' }
  | { readonly kind: 'drainFlushQueue' };

export type IommufdPtCommandKind = IommufdPtCommand['kind'];
