/**
 * `iopt_pages`: pinning from the VMM process, accounting, and the domains' content.
 * Reference: docs/reference/iommufd.md §3.3 (pages and accounting), §3.7 (domain fill).
 *
 * A page index of an iopt_pages is pinned while it has a user: an area over it whose IOAS has a
 * domain (the area is stored in the domains, pages.c `domains_itree`), or an access pin over it
 * (`access_itree`). It is pinned once, however many users: one FOLL_PIN reference on its frame
 * (`pin_user_pages_remote`, FOLL_WRITE when the pages are writable, FOLL_LONGTERM) and one page of
 * accounting. When its last user goes it is unpinned (`unpin_user_page`) and uncharged.
 *
 * Accounting (pages.c iopt_pages_update_pinned): ACCOUNT_USER charges `user->locked_vm` against
 * RLIMIT_MEMLOCK (incr_user_locked_vm, -ENOMEM); ACCOUNT_MM charges `mm->locked_vm`
 * (__account_locked_vm, -ENOMEM); NONE (CAP_IPC_LOCK) charges neither; every mode adds to
 * `mm->pinned_vm`.
 *
 * Simplified: pages are pinned page by page in index order where the source pins batches
 * (pfn_reader) and charges each batch after pinning it; the first failing page decides the errno
 * either way, and a failed operation is undone whole. A domain's pfns are the pinned frames
 * recorded here, where the source reads them back from the area's storage domain.
 */
import { allocFrame, getRef, putRef } from '../memory/frames.js';
import type { IommufdHooks } from './config.js';
import { writableTranslations } from './clone.js';
import { recordEffect } from './effects.js';
import { refuse } from './refusal.js';
import { areaLastPage } from './iova.js';
import type { HwptPagingObject, IoasObject, IoptArea, IoptPages, IommufdState } from './types.js';
import { setPageMfn } from '../vfio/process-pages.js';

export function pagesOf(state: IommufdState, area: IoptArea): IoptPages {
  const pages = state.pages[area.pagesId];
  if (pages === undefined) throw new Error(`iommufd model: area at ${area.iovaPage} has no pages ${area.pagesId}`);
  return pages;
}

/** Every IOAS, in id order. */
function allIoas(state: IommufdState): IoasObject[] {
  return Object.values(state.objects)
    .filter((object): object is IoasObject => object.type === 'ioas')
    .sort((a, b) => a.id - b.id);
}

/** Page indexes of `pages` some domain stores: covered by an area of an IOAS with a domain. */
function domainStoredIndexes(state: IommufdState, pagesId: number): Set<number> {
  const stored = new Set<number>();
  for (const ioas of allIoas(state)) {
    if (ioas.domainHwptIds.length === 0) continue;
    for (const area of ioas.areas) {
      if (area.pagesId !== pagesId) continue;
      for (let i = 0; i < area.npages; i++) stored.add(area.pageIndex + i);
    }
  }
  return stored;
}

/** One more pinned page charged to the pages' account (-ENOMEM over RLIMIT_MEMLOCK). */
function charge(state: IommufdState, hooks: IommufdHooks, pages: IoptPages): void {
  const limit = state.process.memlockLimitPages;
  if (pages.accountMode === 'user') {
    if (state.userLockedVmPages + 1 > limit && hooks.chargeEnforcesLimit(pages)) refuse('ENOMEM');
    state.userLockedVmPages += 1;
  } else if (pages.accountMode === 'mm') {
    const over = !state.process.capIpcLock && state.process.lockedVmPages + 1 > limit;
    if (over && hooks.chargeEnforcesLimit(pages)) refuse('ENOMEM');
    state.process.lockedVmPages += 1;
  }
  state.pinnedVmPages += 1;
}

function uncharge(state: IommufdState, pages: IoptPages): void {
  if (pages.accountMode === 'user') state.userLockedVmPages -= 1;
  else if (pages.accountMode === 'mm') state.process.lockedVmPages -= 1;
  state.pinnedVmPages -= 1;
}

/**
 * `pin_user_pages_remote` of one page of the pages: -EFAULT when no VMA maps it or a writable
 * pages meets read-only memory; the page is faulted in; the pin takes a frame reference.
 */
function pinIndex(state: IommufdState, hooks: IommufdHooks, pages: IoptPages, index: number): void {
  const vaddrPage = pages.vaddrPage + index;
  const page = state.process.pages[vaddrPage];
  if (page === undefined || (pages.writable && !page.writable)) refuse('EFAULT');
  let mfn = page.mfn;
  if (mfn === null) {
    mfn = allocFrame(state.memory, state.process.owner);
    if (mfn === null) refuse('ENOMEM');
    setPageMfn(state.process, vaddrPage, mfn);
  }
  charge(state, hooks, pages);
  getRef(state.memory, mfn);
  pages.pinned[index] = mfn;
}

function unpinIndex(state: IommufdState, hooks: IommufdHooks, pages: IoptPages, index: number): void {
  const mfn = pages.pinned[index];
  if (mfn === undefined) return;
  delete pages.pinned[index];
  if (hooks.unpinPutsPage(pages)) putRef(state.memory, mfn);
  uncharge(state, pages);
}

/**
 * Brings the pages' pins in line with their users, index by index: pins what a domain stores or
 * an access holds, unpins what nothing uses; an iopt_pages no area references and nothing pins is
 * freed (kref to zero, iopt_release_pages).
 */
export function syncPages(state: IommufdState, hooks: IommufdHooks, pagesId: number): void {
  const pages = state.pages[pagesId];
  if (pages === undefined) return;
  const stored = domainStoredIndexes(state, pagesId);
  for (let index = 0; index < pages.npages; index++) {
    const needed = stored.has(index) || (pages.accessUsers[index] ?? 0) > 0;
    const pinned = pages.pinned[index] !== undefined;
    if (needed && !pinned) pinIndex(state, hooks, pages, index);
    else if (!needed && pinned) unpinIndex(state, hooks, pages, index);
  }
  if (pages.users === 0 && Object.keys(pages.pinned).length === 0) delete state.pages[pagesId];
}

/** `npinned` of the pages. */
export function npinned(pages: IoptPages): number {
  return Object.keys(pages.pinned).length;
}

/**
 * iopt_area_fill_domain: the area's pinned frames mapped into the domain with its prot. An area
 * with neither IOMMU_READ nor IOMMU_WRITE (only the VFIO compat MAP_DMA makes one in v6.12) is
 * refused -EINVAL by VT-d's iommu_map; the selftest mock takes it (commit "iommufd: Do not allow
 * creating areas without READ or WRITE" lists each format's answer).
 */
export function fillArea(state: IommufdState, hwpt: HwptPagingObject, area: IoptArea): void {
  if (!area.read && !area.write && hwpt.iommu !== 'mock') refuse('EINVAL');
  const pages = pagesOf(state, area);
  const translations = writableTranslations(hwpt);
  for (let i = 0; i < area.npages; i++) {
    const mfn = pages.pinned[area.pageIndex + i];
    if (mfn === undefined) throw new Error(`iommufd model: filling an unpinned page ${area.pageIndex + i}`);
    translations[area.iovaPage + i] = { mfn, read: area.read, write: area.write };
    recordEffect({
      kind: 'map',
      domainId: hwpt.id,
      iovaPage: area.iovaPage + i,
      mfn,
      read: area.read,
      write: area.write,
    });
  }
}

/** iopt_area_unmap_domain / unfill: the area's IOVA unmapped from the domain (iommu_unmap syncs). */
export function unfillArea(hwpt: HwptPagingObject, area: IoptArea): void {
  let unmapped = false;
  for (let iovaPage = area.iovaPage; iovaPage <= areaLastPage(area); iovaPage++) {
    const translation = hwpt.translations[iovaPage];
    if (translation === undefined) continue;
    delete writableTranslations(hwpt)[iovaPage];
    recordEffect({ kind: 'unmap', domainId: hwpt.id, iovaPage, mfn: translation.mfn });
    unmapped = true;
  }
  if (unmapped) recordEffect({ kind: 'iotlb-sync', domainId: hwpt.id });
}

/** The hwpt_paging objects of an IOAS's domains, in `iopt->domains` order. */
export function domainsOf(state: IommufdState, ioas: IoasObject): HwptPagingObject[] {
  return ioas.domainHwptIds
    .map((id) => state.objects[id])
    .filter((object): object is HwptPagingObject => object?.type === 'hwpt_paging');
}

/** A new `iopt_pages` for a user VA range (iopt_alloc_pages), with no area yet. */
export function createPages(
  state: IommufdState,
  vaddrPage: number,
  npages: number,
  writable: boolean,
  accountMode: IoptPages['accountMode'],
): IoptPages {
  const pages: IoptPages = {
    id: state.nextPagesId,
    vaddrPage,
    npages,
    writable,
    accountMode,
    users: 0,
    pinned: {},
    accessUsers: {},
  };
  state.nextPagesId += 1;
  state.pages[pages.id] = pages;
  return pages;
}
