/**
 * The Xen passthrough stack's commands: plain JSON, a discriminated union on `kind`: its own, the
 * PV memory commands (`models/xen/pv-mmu.ts`) and grant v2 / copy (`models/xenpt/grant-v2.ts`),
 * dispatched by `stepXenPt` (models/xenpt/step.ts).
 */
import { xenPtGrantV2Kinds } from './grant-v2.js';
import type { XenPtGrantV2Command } from './grant-v2.js';

import { pvMmuCommandKinds } from '../xen/pv-mmu.js';
import type { PvMmuCommand } from '../xen/pv-mmu.js';

export type XenPtCommand =
  /** XEN_DOMCTL_assign_device by the toolstack (dom0). */
  | { readonly kind: 'assignDevice'; readonly domid: number; readonly device: number }
  /** XEN_DOMCTL_deassign_device by the toolstack (dom0). */
  | { readonly kind: 'deassignDevice'; readonly domid: number; readonly device: number }
  /** A DMA by `device` at `dfn`; `phased`: issued now (by the device's owner), performed on advance. */
  | {
      readonly kind: 'dma';
      readonly device: number;
      readonly dfn: number;
      readonly write: boolean;
      readonly phased?: boolean;
    }
  /** XENMEM_add_to_physmap, XENMAPSPACE_gmfn_range of one extent: `idx` moves to `gpfn`; `phased`: the deferred flush on advance. */
  | {
      readonly kind: 'moveGfn';
      readonly domid: number;
      readonly idx: number;
      readonly gpfn: number;
      readonly phased?: boolean;
    }
  /** XENMEM_decrease_reservation of one gfn, by the domain itself. */
  | { readonly kind: 'decreaseReservation'; readonly domid: number; readonly gfn: number }
  /** XENMEM_populate_physmap of one gfn, by the domain itself. */
  | { readonly kind: 'populatePhysmap'; readonly domid: number; readonly gfn: number }
  /** The granter writes a v1 grant entry for `gfn`. */
  | {
      readonly kind: 'grantAccess';
      readonly domid: number;
      readonly ref: number;
      readonly granteeDomid: number;
      readonly gfn: number;
      readonly readonly: boolean;
    }
  /**
   * GNTTABOP_map_grant_ref, host mapping at the mapper's `gfn` (a p2m grant entry for an HVM
   * mapper, the virtual page of the PTE for a PV one); `device`: GNTMAP_device_map as well (a PV
   * mapper's, e.g. netback / blkback in dom0); `host: false`: the device mapping only. Absent:
   * host only (models/xenpt/pv-memory.ts).
   */
  | {
      readonly kind: 'mapGrantRef';
      readonly mapperDomid: number;
      readonly granterDomid: number;
      readonly ref: number;
      readonly gfn: number;
      readonly readonly: boolean;
      readonly device?: boolean;
      readonly host?: boolean;
    }
  /**
   * GNTTABOP_unmap_grant_ref of `handle`: its host mapping (at the address it was made) unless
   * `host: false`, its device mapping (dev_bus_addr = its mfn) unless `device: false`.
   */
  | {
      readonly kind: 'unmapGrantRef';
      readonly mapperDomid: number;
      readonly handle: number;
      readonly host?: boolean;
      readonly device?: boolean;
    }
  /** XEN_DOMCTL_destroydomain by the toolstack; `phased`: each continuation on advance. */
  | { readonly kind: 'destroyDomain'; readonly domid: number; readonly phased?: boolean }
  /** XEN_DOMCTL_createdomain at `domid` (with an IOMMU context, as the world's domain there) and the toolstack's populate. */
  | { readonly kind: 'createDomain'; readonly domid: number }
  /** Runs the next phase of operation `op` in flight (oldest first). */
  | { readonly kind: 'advance'; readonly op: number }
  /** The PV MMU operations of a PV domain on its own page tables (models/xen/pv-mmu.ts). */
  | PvMmuCommand
  | XenPtGrantV2Command;

export type XenPtCommandKind = XenPtCommand['kind'];

export const xenPtCommandKinds: readonly XenPtCommandKind[] = [
  'assignDevice',
  'deassignDevice',
  'dma',
  'moveGfn',
  'decreaseReservation',
  'populatePhysmap',
  'grantAccess',
  'mapGrantRef',
  'unmapGrantRef',
  'destroyDomain',
  'createDomain',
  'advance',
  ...pvMmuCommandKinds,
  ...xenPtGrantV2Kinds,
];

/** Phases of each phased kind. */
export const xenPtPhases: Readonly<Record<string, number>> = { dma: 2, moveGfn: 2, destroyDomain: 3, grantCopy: 2 };
