/**
 * Pinning, mapping and locked_vm accounting of the type1 backend's IOMMU path.
 * Reference: docs/reference/vfio-type1.md §1.7 (vfio_pin_map_dma, vfio_unmap_unpin), §1.8 (locked_vm), §1.10
 * (vfio_remove_dma).
 *
 * Pinning goes page by page: pin the page at the next vaddr, charge it, map it into every domain.
 * Linux pins batches and maps physically contiguous runs with one iommu_map per domain; the first
 * error is the same either way (a page's vaddr error precedes its RLIMIT check, and both follow
 * every earlier page), so the model keeps no runs. Physical addresses are not stored per mapping:
 * as in Linux, unmap reads them back from the first domain (`iommu_iova_to_phys`).
 *
 * The IOMMU is abstract: a domain is the set of translations VFIO programmed into it. A map beyond
 * the domain's aperture fails EFAULT (Intel: IOVA above the address width); no other iommu_map
 * error occurs. Every change is reported as a `TranslationEffect`; unmap reports, per domain, the
 * unmaps then an `iotlb-sync`, and only then unpins (§1.7 (a)–(d)).
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug, soundVfioHooks, vfioHooks } from './config.js';
import { dmaMm, liveMm } from './exec.js';
import { isInvalidReservedPfn, putPfn, vaddrGetPfn } from './pfnmap.js';
import { unpinFrame } from './process-memory.js';
import { writableTranslations } from './copied-parts.js';
import { attemptMap, unlinkDma } from './state.js';
import type { OpContext } from './state.js';
import { drainDomainDmas } from './phased-dma.js';
import type { Type1Backend, UnpinPending, VfioDma, VfioDomain, VfioState } from './types.js';
import { PAGE_LIMIT } from './u64.js';

/**
 * `vfio_lock_acct` without a limit check: moves `delta` pages of charge onto (or off) the mapping's
 * mm (hook `lockAcctMm`; sound: `dma->mm`). Every charge in type1 is taken synchronously, every
 * uncharge asynchronously (`async`: `mmget_not_zero` first). On a dead mm (the process exec'd
 * since, `exec.ts`) a charge lands on the dead mm (and in `dma->locked_vm`); an uncharge fails
 * -ESRCH and changes nothing, not even `dma->locked_vm`.
 */
export function lockAcct(state: VfioState, config: VfioConfig | undefined, dma: VfioDma, delta: number): void {
  const live = liveMm(state);
  const mm = (config === undefined ? soundVfioHooks : vfioHooks(config)).lockAcctMm({
    dmaMm: dmaMm(dma),
    taskMm: live,
  });
  if (mm !== live) {
    if (delta > 0) dma.lockedVmPages += delta;
    return;
  }
  dma.lockedVmPages += delta;
  state.process.lockedVmPages += delta;
}

/** `__account_locked_vm` for one more page: false when RLIMIT_MEMLOCK would be exceeded. */
export function mayLockOneMore(state: VfioState, lockCap: boolean): boolean {
  return lockCap || state.process.lockedVmPages + 1 <= state.process.memlockLimitPages;
}

/** End of a domain's aperture: the narrowest aperture of its groups. */
export function domainApertureEndPage(state: VfioState, domain: VfioDomain): number {
  let endPage = PAGE_LIMIT;
  for (const groupId of domain.groupIds) {
    const spec = state.groups[groupId]?.spec;
    if (spec?.kind === 'iommu') endPage = Math.min(endPage, spec.apertureEndPage);
  }
  return endPage;
}

/** `iommu_map` of one page: EFAULT beyond the aperture, else the translation is (re)written. */
export function domainMapPage(
  state: VfioState,
  ctx: OpContext,
  domain: VfioDomain,
  iovaPage: number,
  mfn: number,
  dma: VfioDma,
): string | null {
  if (iovaPage >= domainApertureEndPage(state, domain)) return 'EFAULT';
  writableTranslations(domain)[iovaPage] = { mfn, read: dma.read, write: dma.write };
  ctx.effects.push({ kind: 'map', domainId: domain.id, iovaPage, mfn, read: dma.read, write: dma.write });
  return null;
}

function domainUnmapPage(ctx: OpContext, domain: VfioDomain, iovaPage: number): number | null {
  const translation = domain.translations[iovaPage];
  if (translation === undefined) return null;
  delete writableTranslations(domain)[iovaPage];
  ctx.effects.push({ kind: 'unmap', domainId: domain.id, iovaPage, mfn: translation.mfn });
  return translation.mfn;
}

/**
 * Pins page `i` of `dma` (IOMMU path, `vaddr_get_pfns`) and charges it: its frame, or the errno of
 * the failure. A VM_PFNMAP pfn is not pinned (`pfnmap.ts`), nor charged (hook `chargesPfn`).
 */
export function pinAndChargePage(
  state: VfioState,
  ctx: OpContext,
  config: VfioConfig,
  dma: VfioDma,
  i: number,
): { readonly ok: true; readonly mfn: number } | { readonly ok: false; readonly errno: string } {
  const iovaPage = dma.iovaPage + i;
  const page = vaddrGetPfn(state, ctx, config, dma.vaddrPage + i, dma.write);
  if (!page.ok) return page;
  // A page already charged as an external pin of the same IOVA is not charged again.
  if (vfioHooks(config).chargesPfn(page.reserved) && dma.externalPins[iovaPage] === undefined) {
    if (!mayLockOneMore(state, dma.lockCap)) {
      putPfn(state, page.mfn);
      return { ok: false, errno: 'ENOMEM' };
    }
    lockAcct(state, config, dma, 1);
  }
  return { ok: true, mfn: page.mfn };
}

/**
 * `vfio_iommu_map` of one run (here one page) into every domain, in `domain_list` order. A domain
 * that fails (an injected `map` fault: its page-table allocation; or EFAULT beyond its aperture)
 * makes the run be unmapped again from the domains done before it, newest first
 * (`list_for_each_entry_continue_reverse` … `iommu_unmap`, which syncs before it returns).
 */
export function mapRunIntoDomains(
  state: VfioState,
  ctx: OpContext,
  domains: readonly VfioDomain[],
  dma: VfioDma,
  iovaPage: number,
  mfn: number,
): string | null {
  for (let d = 0; d < domains.length; d++) {
    const domain = domains[d];
    if (domain === undefined) continue;
    const error = attemptMap(state, ctx) ? domainMapPage(state, ctx, domain, iovaPage, mfn, dma) : 'ENOMEM';
    if (error === null) continue;
    for (let back = d - 1; back >= 0; back--) {
      const done = domains[back];
      if (done === undefined) continue;
      domainUnmapPage(ctx, done, iovaPage);
      ctx.effects.push({ kind: 'iotlb-sync', domainId: done.id });
    }
    return error;
  }
  return null;
}

/**
 * `vfio_unpin_pages_remote(dma, iova, pfn, npage, true)` for one page pinned by the IOMMU path and
 * never mapped: unpinned, and uncharged unless an external pin of the same IOVA carries the charge.
 */
export function unpinUnmappedPage(
  state: VfioState,
  config: VfioConfig,
  dma: VfioDma,
  iovaPage: number,
  mfn: number,
): void {
  if (putPfn(state, mfn) && dma.externalPins[iovaPage] === undefined) lockAcct(state, config, dma, -1);
}

/**
 * `vfio_pin_map_dma`'s loop (Linux v6.12 drivers/vfio/vfio_iommu_type1.c): run by run (here page
 * by page) pin and charge (`vfio_pin_pages_remote`, whose `unpin_out` releases a page it could not
 * charge), map into every domain (`mapRunIntoDomains`), and when the map fails, unpin and uncharge
 * that run (`vfio_unpin_pages_remote(..., true)`). Returns the errno of the first failure with the
 * earlier runs still pinned, charged and mapped — the caller removes the mapping
 * (`unwindFailedMap`) — or null with the mapping `iommu_mapped`.
 */
export function pinAndMapDma(
  state: VfioState,
  ctx: OpContext,
  config: VfioConfig,
  backend: Type1Backend,
  dma: VfioDma,
  pinned: number[],
): string | null {
  for (let i = 0; i < dma.npages; i++) {
    const page = pinAndChargePage(state, ctx, config, dma, i);
    if (!page.ok) return page.errno;
    const error = mapRunIntoDomains(state, ctx, backend.domains, dma, dma.iovaPage + i, page.mfn);
    if (error !== null) {
      unpinUnmappedPage(state, config, dma, dma.iovaPage + i, page.mfn);
      return error;
    }
    pinned.push(page.mfn);
  }
  dma.iommuMapped = true;
  return null;
}

/**
 * The end of a failed `vfio_pin_map_dma`: `dma->iommu_mapped = true; vfio_remove_dma(iommu, dma)`
 * — the runs mapped so far are unmapped from every domain, synced, unpinned and uncharged, and the
 * mapping is unlinked with its slot given back. The bugs are the steps a real unwind can forget
 * or repeat: `map-failure-leaks-pins` keeps the pins, `map-unwind-skips-uncharge` the locked_vm
 * charge, `map-unwind-returns-slot-twice` gives the slot back twice.
 */
export function unwindFailedMap(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  dma: VfioDma,
): void {
  dma.iommuMapped = true;
  const keepPins = hasVfioBug(config, 'map-failure-leaks-pins') || removeKeepsPins(config, backend);
  const doAccounting = !hasVfioBug(config, 'map-unwind-skips-uncharge');
  unmapUnpinDma(state, config, ctx, backend, dma, doAccounting, keepPins);
  unlinkRemovedDma(config, backend, dma);
  if (hasVfioBug(config, 'map-unwind-returns-slot-twice')) backend.dmaAvail += 1;
}

/**
 * The unwind of a MAP_DMA whose pages were pinned and charged but none mapped yet (the phased
 * MAP_DMA pins every page as one run before it maps: `vfio_pin_pages_remote`'s `unpin_out` releases
 * the run, uncharged since the run's charge was never made), then `vfio_remove_dma` of a mapping
 * with nothing mapped: unlinked, its slot given back. The bugs as in `unwindFailedMap`.
 */
export function unwindPinnedPages(
  state: VfioState,
  config: VfioConfig,
  backend: Type1Backend,
  dma: VfioDma,
  mfns: readonly number[],
): void {
  mfns.forEach((mfn, i) => releasePinnedPage(state, config, backend, dma, dma.iovaPage + i, mfn));
  unlinkRemovedDma(config, backend, dma);
  if (hasVfioBug(config, 'map-unwind-returns-slot-twice')) backend.dmaAvail += 1;
}

/**
 * One page a failed MAP_DMA pinned and charged but never mapped: unpinned and uncharged
 * (`vfio_unpin_pages_remote(..., true)` / `unpin_out`), the bugs as in `unwindFailedMap`.
 */
export function releasePinnedPage(
  state: VfioState,
  config: VfioConfig,
  backend: Type1Backend,
  dma: VfioDma,
  iovaPage: number,
  mfn: number,
): void {
  const keepPins = hasVfioBug(config, 'map-failure-leaks-pins') || removeKeepsPins(config, backend);
  // put_pfn: an invalid or reserved pfn was neither pinned nor charged.
  if (isInvalidReservedPfn(state, mfn)) return;
  if (!keepPins) unpinFrame(state, mfn);
  if (!hasVfioBug(config, 'map-unwind-skips-uncharge') && dma.externalPins[iovaPage] === undefined) {
    lockAcct(state, config, dma, -1);
  }
}

/**
 * The first half of `vfio_unmap_unpin` (vfio_iommu_type1.c:1028–1100): `iommu_unmap` of the whole
 * range from every domain but the first (each syncs its IOTLB, and drains, before it returns), then
 * `iommu_unmap_fast` of the first domain's pages, collecting the frames read back from it. The
 * mapping is no longer `iommu_mapped`. Null when there is nothing to unmap (no domain, or never
 * mapped): `vfio_unmap_unpin` returns at once.
 */
export function clearDmaTranslations(
  state: VfioState,
  ctx: OpContext,
  backend: Type1Backend,
  dma: VfioDma,
): UnpinPending[] | null {
  const [first, ...others] = backend.domains;
  if (!dma.iommuMapped || first === undefined) return null;
  for (const domain of others) {
    for (let i = 0; i < dma.npages; i++) domainUnmapPage(ctx, domain, dma.iovaPage + i);
    syncDomain(state, ctx, domain, dma);
  }
  const toUnpin: UnpinPending[] = [];
  for (let i = 0; i < dma.npages; i++) {
    const mfn = domainUnmapPage(ctx, first, dma.iovaPage + i);
    if (mfn !== null) toUnpin.push({ iovaPage: dma.iovaPage + i, mfn });
  }
  dma.iommuMapped = false;
  return toUnpin;
}

/** `iommu_iotlb_sync` of a domain over a mapping's range: no cached translation remains, none in flight. */
export function syncDomain(state: VfioState, ctx: OpContext, domain: VfioDomain, dma: VfioDma): void {
  ctx.effects.push({ kind: 'iotlb-sync', domainId: domain.id });
  drainDomainDmas(state, ctx, domain.id, dma.iovaPage, dma.iovaPage + dma.npages);
}

/**
 * The second half of `vfio_unmap_unpin` after the sync (`vfio_sync_unpin`, 937–958): the pages are
 * unpinned and, with `doAccounting`, uncharged. Returns the pages unpinned (or, with `keepPins`, a
 * deliberate bug's, that would have been).
 */
export function unpinCleared(
  state: VfioState,
  config: VfioConfig,
  dma: VfioDma,
  toUnpin: readonly UnpinPending[],
  doAccounting: boolean,
  keepPins: boolean,
): number {
  let unlocked = 0;
  const skipUnpin = keepPins || hasVfioBug(config, 'unmap-skips-unpin');
  for (const { mfn } of toUnpin) {
    // put_pfn returns 0 for an invalid or reserved pfn: nothing unpinned, nothing to uncharge.
    if (isInvalidReservedPfn(state, mfn)) continue;
    if (!skipUnpin) unpinFrame(state, mfn);
    unlocked += 1;
  }
  // vfio_lock_acct(dma, -unlocked): the IOMMU path's charge goes whole. The pages of external
  // pins still recorded (only a driver that leaked them, §1.10) were charged by the IOMMU path or
  // by a pin taken before the domain came, one page each either way; they stay pinned, uncharged.
  if (doAccounting && !hasVfioBug(config, 'locked-vm-not-uncharged')) lockAcct(state, config, dma, -unlocked);
  return unlocked;
}

/**
 * `vfio_unmap_unpin`: unmaps the mapping from every domain but the first, then from the first
 * (collecting the pfns), syncs, and only then unpins. With `doAccounting` (`vfio_remove_dma`),
 * uncharges every page it unpinned; without (`vfio_iommu_unmap_unpin_reaccount`), the caller
 * reaccounts. Returns the number of pages unpinned (or, with `keepPins`, a deliberate bug's, that
 * would have been).
 */
export function unmapUnpinDma(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  dma: VfioDma,
  doAccounting: boolean,
  keepPins = false,
): number {
  const toUnpin = clearDmaTranslations(state, ctx, backend, dma);
  const first = backend.domains[0];
  if (toUnpin === null || first === undefined) return 0;
  syncDomain(state, ctx, first, dma);
  return unpinCleared(state, config, dma, toUnpin, doAccounting, keepPins);
}

/** Whether removing a mapping now keeps its IOMMU-path pins (the bug `unmap-skips-unpin-with-emulated-group`). */
export function removeKeepsPins(config: VfioConfig, backend: Type1Backend): boolean {
  return hasVfioBug(config, 'unmap-skips-unpin-with-emulated-group') && backend.emulatedGroupIds.length > 0;
}

/** The end of `vfio_remove_dma`: unlinked, its slot given back. */
export function unlinkRemovedDma(config: VfioConfig, backend: Type1Backend, dma: VfioDma): void {
  if (dma.vaddrInvalid) backend.vaddrInvalidCount -= 1;
  unlinkDma(backend, dma);
  if (!hasVfioBug(config, 'unmap-leaks-dma-slot')) backend.dmaAvail += 1;
}

/**
 * `vfio_remove_dma`: unmap and unpin, unlink, give the slot back. External pins still recorded
 * (a driver that never unpinned) are leaked with the record: their frames stay pinned, as in Linux
 * (which only WARNs), and so does their charge unless an IOMMU domain took it away with the
 * IOMMU-path pins (`unmapUnpinDma`). The bug
 * `unmap-skips-unpin-with-emulated-group` keeps the IOMMU-path pins while an emulated group is
 * attached (UNMAP_DMA; release forgets the emulated groups first).
 */
export function removeDma(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  dma: VfioDma,
): void {
  unmapUnpinDma(state, config, ctx, backend, dma, true, removeKeepsPins(config, backend));
  unlinkRemovedDma(config, backend, dma);
}
