/**
 * The guest's vIOMMU driver as a well-behaved guest runs it: DMA-API level operations (map a
 * buffer, unmap it, a device transfer, balloon requests) turned into the guest commands of the
 * stack, with the invalidations the reference requires of it (docs/reference/vtd.md §3.3, §3.4, §3.6):
 *
 * - map: write the entries; in shadow mode (caching mode, second-level rules) then invalidate the
 *   covering aligned block (`cache_tag_flush_range_np`); in nested mode (first level) nothing more,
 *   since first-stage entries that were not present are never cached;
 * - unmap: clear the entries, then invalidate the covering aligned block (strict: caching mode
 *   forces strict in shadow mode, and a nested guest that followed the rules invalidates before it
 *   reuses anything).
 *
 * A well-behaved driver also never maps over a live GIOVA page (EEXIST: its IOVA allocator hands
 * out free ones only), never unmaps what it did not map (ENOENT), never maps a page it gave to
 * the balloon (EFAULT: it no longer owns it), and never balloons a page a mapping still uses
 * (EBUSY: the balloon takes free pages only), and never asks for a buffer larger than its RAM or
 * past 64-bit addresses (EINVAL). `driverRefusal` gives these refusals; they are the
 * same in both designs, since the guest's table is guest memory and both guests write it alike.
 */
import type { IommuConfig } from '../iommu/config.js';
import { psiBlock } from '../iommu/iotlb.js';
import { isPageNumber } from '../vfio/u64.js';
import { GUEST_DID } from './types.js';
import type { GuestRam, GuestState, ViommuCommand, ViommuMode } from './types.js';

export type DriverOp =
  | {
      readonly kind: 'map';
      readonly giovaPage: number;
      readonly gpaPage: number;
      readonly pages: number;
      readonly write: boolean;
    }
  | { readonly kind: 'unmap'; readonly giovaPage: number; readonly pages: number }
  | { readonly kind: 'dma'; readonly giovaPage: number; readonly write: boolean }
  | { readonly kind: 'balloonOut'; readonly gpaPage: number }
  | { readonly kind: 'balloonIn'; readonly gpaPage: number }
  | { readonly kind: 'allocateToOther'; readonly owner: number };

export type DriverOpKind = DriverOp['kind'];

const exact: IommuConfig = { bugs: [] };

function pageRange(first: number, pages: number): number[] {
  return Array.from({ length: pages }, (_, index) => first + index);
}

/** The page-selective invalidation covering [giovaPage, giovaPage + pages) (Linux's aligned block). */
function invalidationOf(giovaPage: number, pages: number): ViommuCommand {
  const block = psiBlock(exact, giovaPage, giovaPage + pages - 1);
  return { kind: 'guestInvalidate', granularity: 'page', did: GUEST_DID, giovaPage: block.addrPage, mask: block.mask };
}

/**
 * A buffer the guest maps is at least one page and at most all of its RAM, and its first and last
 * pages are pages of 64-bit addresses. Anything else is malformed (EINVAL), refused before the
 * driver looks at any page of it: the checks after this one, and the guest commands the operation
 * becomes, are then bounded by the RAM's size whatever the request. (Its GPA range may still run
 * past the RAM: the VMM maps no such page and the device faults there, alike in both designs.)
 */
function validBuffer(first: number, pages: number, ram: GuestRam): boolean {
  return (
    Number.isInteger(pages) &&
    pages >= 1 &&
    pages <= ram.pages &&
    isPageNumber(first) &&
    isPageNumber(first + pages - 1)
  );
}

/** Why a well-behaved driver would not do `op` now, or null. `ram`: the guest's RAM. */
export function driverRefusal(guest: GuestState, ram: GuestRam, op: DriverOp): string | null {
  const mapped = (giovaPage: number): boolean => Object.hasOwn(guest.table, giovaPage);
  switch (op.kind) {
    case 'map':
      if (!validBuffer(op.giovaPage, op.pages, ram) || !validBuffer(op.gpaPage, op.pages, ram)) return 'EINVAL';
      if (pageRange(op.giovaPage, op.pages).some(mapped)) return 'EEXIST';
      if (pageRange(op.gpaPage, op.pages).some((page) => guest.ballooned.includes(page))) return 'EFAULT';
      return null;
    case 'unmap':
      if (!validBuffer(op.giovaPage, op.pages, ram)) return 'EINVAL';
      return pageRange(op.giovaPage, op.pages).every(mapped) ? null : 'ENOENT';
    case 'balloonOut':
      return Object.values(guest.table).some((entry) => entry.gpaPage === op.gpaPage) ? 'EBUSY' : null;
    case 'dma':
    case 'balloonIn':
    case 'allocateToOther':
      return null;
  }
}

/** The guest commands `op` is made of, for a guest of `mode`. */
export function driverCommands(op: DriverOp, mode: ViommuMode): ViommuCommand[] {
  switch (op.kind) {
    case 'map': {
      const writes = pageRange(0, op.pages).map((index): ViommuCommand => ({
        kind: 'guestMap',
        giovaPage: op.giovaPage + index,
        gpaPage: op.gpaPage + index,
        write: op.write,
      }));
      return mode === 'shadow' ? [...writes, invalidationOf(op.giovaPage, op.pages)] : writes;
    }
    case 'unmap':
      return [
        ...pageRange(op.giovaPage, op.pages).map((giovaPage): ViommuCommand => ({ kind: 'guestUnmap', giovaPage })),
        invalidationOf(op.giovaPage, op.pages),
      ];
    case 'dma':
      return [{ kind: 'deviceDma', giovaPage: op.giovaPage, write: op.write }];
    case 'balloonOut':
      return [{ kind: 'guestBalloonOut', gpaPage: op.gpaPage }];
    case 'balloonIn':
      return [{ kind: 'guestBalloonIn', gpaPage: op.gpaPage }];
    case 'allocateToOther':
      return [{ kind: 'allocateToOther', owner: op.owner }];
  }
}
