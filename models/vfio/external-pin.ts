/**
 * The kernel API emulated-IOMMU drivers pin guest memory with: `vfio_pin_pages` and
 * `vfio_unpin_pages` (vfio_main.c, container.c, vfio_iommu_type1_pin_pages / _unpin_pages).
 * Reference: docs/reference/vfio-type1.md §1.11, §1.8 (external-path accounting).
 *
 * These are in-kernel calls made by a driver, not ioctls: the IOVA is given as a page number (the
 * drivers compute it from a guest frame number) and `prot` as two booleans. The `pages` output
 * array always exists (the NULL-array row of §1.14 is not reachable). A negative or non-integer
 * `npage` is refused like `npage == 0` (EINVAL); Linux's `int` would let a negative count through
 * to a loop that pins nothing.
 *
 * External pins are `vfio_pfn` records in the mapping's `pfn_list`, one per IOVA page, with a
 * reference count: the first pin of an IOVA pins the page (FOLL_PIN, a frame reference) and, when
 * the container has no IOMMU domain, charges it to locked_vm; later pins only count. The last
 * unpin unpins and uncharges. Left out: dirty marking, `vfio_dma_rw`, invalid/reserved pfns.
 */
import { dmaMm, liveMm } from './exec.js';
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { writableExternalPins } from './copied-parts.js';
import type { WritablePfn } from './copied-parts.js';
import { attemptAlloc } from './state.js';
import { findDmaContaining, type1Backend } from './state.js';
import type { OpContext } from './state.js';
import { lockAcct, mayLockOneMore } from './pin.js';
import { pinUserPage, unpinFrame } from './process-memory.js';
import type { VfioDevice, VfioDma, VfioState } from './types.js';
import { isPageNumber } from './u64.js';

/** VFIO_PIN_PAGES_MAX_ENTRIES on x86-64: PAGE_SIZE / sizeof(unsigned long). */
export const VFIO_PIN_PAGES_MAX_ENTRIES = 512;

/** A failure says whether the call had taken anything it then walked back (`unwound`). */
export type PinPagesResult =
  | { readonly ok: true; readonly mfns: number[] }
  | { readonly ok: false; readonly errno: string; readonly unwound?: boolean };
export type UnpinPagesResult =
  { readonly ok: true; readonly processed: number } | { readonly ok: false; readonly errno: string };

/** Devices that implement `dma_unmap` (emulated-IOMMU drivers); vfio-pci does not. */
export function hasDmaUnmapOp(device: VfioDevice): boolean {
  return device.kind !== 'pci';
}

function validCount(npage: unknown): npage is number {
  return typeof npage === 'number' && Number.isInteger(npage);
}

/**
 * `vfio_pin_pages(device, iova, npage, prot, pages)`. All or nothing, by the real unwind
 * (vfio_iommu_type1_pin_pages, Linux v6.12 drivers/vfio/vfio_iommu_type1.c, `pin_unwind`): a page
 * that fails releases what it took itself (`vfio_pin_page_external`'s put_pfn, or the put_pfn and
 * uncharge after a failed `vfio_add_to_pfn_list`), then every page before it in the call drops the
 * reference the call took (`vfio_unpin_page_external`: a new vfio_pfn is unpinned, uncharged
 * without an IOMMU domain, and freed; an existing one only counts down). `config` carries the bug
 * `pin-pages-unwind-skips-earlier`, which skips that walk.
 */
export function vfioPinPagesInternal(
  state: VfioState,
  ctx: OpContext,
  device: VfioDevice,
  iovaPage: number,
  npage: number,
  prot: { readonly read: boolean; readonly write: boolean },
  config?: VfioConfig,
): PinPagesResult {
  // vfio_main.c / container.c
  if (!validCount(npage) || npage <= 0 || !device.open) return { ok: false, errno: 'EINVAL' };
  if (!hasDmaUnmapOp(device)) return { ok: false, errno: 'EINVAL' };
  if (npage > VFIO_PIN_PAGES_MAX_ENTRIES) return { ok: false, errno: 'E2BIG' };
  const backend = type1Backend(state);
  if (backend === null) return { ok: false, errno: 'ENOTTY' };
  // vfio_iommu_type1_pin_pages
  if (!backend.v2) return { ok: false, errno: 'EACCES' };
  if (backend.vaddrInvalidCount > 0) return { ok: false, errno: 'EBUSY' };
  if (backend.deviceIds.length === 0) return { ok: false, errno: 'EINVAL' };
  const doAccounting = backend.domains.length === 0;
  const mfns: number[] = [];
  const attemptsBefore = ctx.pinAttempts + ctx.allocAttempts;
  const fail = (errno: string): PinPagesResult => {
    const unwound = mfns.length > 0 || ctx.pinAttempts + ctx.allocAttempts > attemptsBefore;
    if (config === undefined || !hasVfioBug(config, 'pin-pages-unwind-skips-earlier')) {
      for (let j = 0; j < mfns.length; j++) {
        const dma = findDmaContaining(backend, iovaPage + j);
        if (dma !== undefined) unpinPageExternal(state, config, dma, iovaPage + j, doAccounting);
      }
    }
    return { ok: false, errno, unwound };
  };
  for (let i = 0; i < npage; i++) {
    const page = iovaPage + i;
    const dma = isPageNumber(page) ? findDmaContaining(backend, page) : undefined;
    if (dma === undefined) return fail('EINVAL');
    if ((prot.read && !dma.read) || (prot.write && !dma.write)) return fail('EPERM');
    const existing = dma.externalPins[page];
    if (existing !== undefined) {
      (writableExternalPins(dma)[page] as WritablePfn).refCount += 1;
      mfns.push(existing.mfn);
      continue;
    }
    const pinned = pinPageExternal(state, ctx, config, dma, page, doAccounting);
    if (!pinned.ok) return fail(pinned.errno);
    mfns.push(pinned.mfn);
  }
  return { ok: true, mfns };
}

/** `vfio_pin_page_external` + `vfio_add_to_pfn_list`. */
function pinPageExternal(
  state: VfioState,
  ctx: OpContext,
  config: VfioConfig | undefined,
  dma: VfioDma,
  iovaPage: number,
  doAccounting: boolean,
): { readonly ok: true; readonly mfn: number } | { readonly ok: false; readonly errno: string } {
  // `if (!mmget_not_zero(dma->mm)) return -ENODEV;`: the mapping's mm died in an exec (`exec.ts`).
  if (dmaMm(dma) !== liveMm(state)) return { ok: false, errno: 'ENODEV' };
  const page = pinUserPage(state, ctx, dma.vaddrPage + (iovaPage - dma.iovaPage), dma.write);
  if (!page.ok) return page;
  if (doAccounting) {
    if (!mayLockOneMore(state, dma.lockCap)) {
      unpinFrame(state, page.mfn);
      return { ok: false, errno: 'ENOMEM' };
    }
    lockAcct(state, config, dma, 1);
  }
  if (!attemptAlloc(state, ctx)) {
    unpinFrame(state, page.mfn);
    if (doAccounting) lockAcct(state, config, dma, -1);
    return { ok: false, errno: 'ENOMEM' };
  }
  writableExternalPins(dma)[iovaPage] = { mfn: page.mfn, refCount: 1 };
  return page;
}

/**
 * `vfio_unpin_pages(device, iova, npage)`: returns nothing in Linux. The WARN cases (npage out of
 * range, device not open or without `dma_unmap`) have no effect: the model refuses them with
 * EINVAL. Otherwise pages are processed until one is not mapped (WARN, fewer processed); a mapped
 * but unpinned IOVA is a silent no-op.
 */
export function vfioUnpinPagesInternal(
  state: VfioState,
  device: VfioDevice,
  iovaPage: number,
  npage: number,
  config?: VfioConfig,
): UnpinPagesResult {
  if (!device.open || !hasDmaUnmapOp(device)) return { ok: false, errno: 'EINVAL' };
  if (!validCount(npage) || npage <= 0 || npage > VFIO_PIN_PAGES_MAX_ENTRIES) return { ok: false, errno: 'EINVAL' };
  const backend = type1Backend(state);
  if (backend === null) return { ok: false, errno: 'ENOTTY' };
  const doAccounting = backend.domains.length === 0;
  let processed = 0;
  for (; processed < npage; processed++) {
    const page = iovaPage + processed;
    const dma = isPageNumber(page) ? findDmaContaining(backend, page) : undefined;
    if (dma === undefined) break;
    unpinPageExternal(state, config, dma, page, doAccounting);
  }
  return { ok: true, processed };
}

/** `vfio_unpin_page_external`: one reference of the IOVA's `vfio_pfn`; the last one unpins. */
function unpinPageExternal(
  state: VfioState,
  config: VfioConfig | undefined,
  dma: VfioDma,
  iovaPage: number,
  doAccounting: boolean,
): void {
  if (dma.externalPins[iovaPage] === undefined) return;
  const pins = writableExternalPins(dma);
  const vpfn = pins[iovaPage] as WritablePfn;
  vpfn.refCount -= 1;
  if (vpfn.refCount > 0) return;
  delete pins[iovaPage];
  unpinFrame(state, vpfn.mfn);
  if (doAccounting) lockAcct(state, config, dma, -1);
}
