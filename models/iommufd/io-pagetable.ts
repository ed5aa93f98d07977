/**
 * The io_pagetable operations the ioctls share: mapping a list of pages slices at one IOVA,
 * unmapping whole areas (with the access notification), the contiguous-area walk, splitting an
 * area (VFIO TYPE1 compatibility), and adding / removing a domain.
 * Reference: docs/reference/iommufd.md §3.1 (map), §3.4 (unmap), §3.7 (domains).
 *
 * Sources (v6.12 io_pagetable.c): iopt_alloc_area_pages, iopt_insert_area (IOMMU_WRITE on
 * pages that are not writable → -EPERM), iopt_map_pages, iopt_get_pages (areas contiguous from
 * the IOVA or -ENOENT), iopt_unmap_iova_range (-ENOENT for an area not inside the range, or for
 * no area; an area with accesses: prevent_access, notify, retry once, -EDEADLOCK), iopt_unmap_all
 * (-ENOENT becomes 0), iopt_area_split, iopt_cut_iova, iopt_table_add_domain (aperture reserved
 * outside, iopt_fill_domain), iopt_table_remove_domain (iopt_unfill_domain).
 */
import type { IommufdConfig } from './config.js';
import {
  allocIova,
  areaLastPage,
  checkFixedIova,
  firstAreaIn,
  removeReserved,
  reserveIova,
  LAST_IOVA_PAGE,
} from './iova.js';
import { domainsOf, fillArea, pagesOf, syncPages, unfillArea } from './pages.js';
import { Refusal, refuse } from './refusal.js';
import type { AccessObject, HwptPagingObject, IoasObject, IoptArea, IommufdState } from './types.js';

/** One slice of an iopt_pages to map (`struct iopt_pages_list`). */
export interface PagesSlice {
  readonly pagesId: number;
  readonly pageIndex: number;
  readonly npages: number;
}

function insertSorted(ioas: IoasObject, area: IoptArea): void {
  ioas.areas.push(area);
  ioas.areas.sort((a, b) => a.iovaPage - b.iovaPage);
}

/**
 * iopt_map_pages: checks or allocates the IOVA, inserts one area per slice (each takes a pages
 * reference), pins what the IOAS's domains need and fills them. Returns the IOVA page.
 */
export function mapPages(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  slices: readonly PagesSlice[],
  fixedIovaPage: number | null,
  read: boolean,
  write: boolean,
): number {
  const npages = slices.reduce((sum, slice) => sum + slice.npages, 0);
  if (npages === 0) refuse('EINVAL');
  let iovaPage: number;
  if (fixedIovaPage === null) {
    const first = slices[0];
    const firstPages = first === undefined ? undefined : state.pages[first.pagesId];
    iovaPage = allocIova(
      ioas,
      npages,
      firstPages === undefined || first === undefined ? 0 : firstPages.vaddrPage + first.pageIndex,
    );
  } else {
    iovaPage = fixedIovaPage;
    checkFixedIova(ioas, iovaPage, npages);
  }
  const areas: IoptArea[] = [];
  let next = iovaPage;
  for (const slice of slices) {
    const pages = state.pages[slice.pagesId];
    if (pages === undefined) throw new Error(`iommufd model: no pages ${slice.pagesId}`);
    if (write && !pages.writable) refuse('EPERM');
    const area: IoptArea = {
      iovaPage: next,
      npages: slice.npages,
      pagesId: slice.pagesId,
      pageIndex: slice.pageIndex,
      read,
      write,
      numAccesses: 0,
      preventAccess: false,
    };
    pages.users += 1;
    insertSorted(ioas, area);
    areas.push(area);
    next += slice.npages;
  }
  // iopt_fill_domains_pages: pin (one iopt_pages at a time), then map into every domain.
  try {
    for (const area of areas) {
      syncPages(state, config.hooks, area.pagesId);
      for (const hwpt of domainsOf(state, ioas)) fillArea(state, hwpt, area);
    }
  } catch (caught) {
    // The sound error path undoes it all (the step drops its copy); a flawed one keeps what was done.
    if (!(caught instanceof Refusal) || config.hooks.mapUnwindsOnError()) throw caught;
    throw new Refusal(caught.errno, true, caught.detail, false);
  }
  return iovaPage;
}

/** Takes an area out: unmapped from every domain, unlinked, its pages reference dropped. */
function removeArea(state: IommufdState, config: IommufdConfig, ioas: IoasObject, area: IoptArea): void {
  for (const hwpt of domainsOf(state, ioas)) if (config.hooks.unmapUnfillsDomain(ioas, hwpt)) unfillArea(hwpt, area);
  ioas.areas = ioas.areas.filter((other) => other !== area);
  const pages = pagesOf(state, area);
  pages.users -= 1;
  syncPages(state, config.hooks, area.pagesId);
}

/**
 * iommufd_access_unpin_pages for one of the access's pins over the contiguous areas of `ioas`:
 * each area's num_accesses drops, each page's access user drops, unused pages are unpinned.
 */
export function removeAccessPin(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  iovaPage: number,
  npages: number,
): void {
  const lastPage = iovaPage + npages - 1;
  const touched = new Set<number>();
  for (const area of contiguousAreas(ioas, iovaPage, lastPage).areas) {
    const pages = pagesOf(state, area);
    const from = Math.max(iovaPage, area.iovaPage);
    const to = Math.min(lastPage, areaLastPage(area));
    for (let page = from; page <= to; page++) {
      const index = area.pageIndex + (page - area.iovaPage);
      const users = (pages.accessUsers[index] ?? 0) - 1;
      if (users > 0) pages.accessUsers[index] = users;
      else delete pages.accessUsers[index];
    }
    area.numAccesses = Math.max(0, area.numAccesses - 1);
    touched.add(area.pagesId);
  }
  for (const pagesId of touched) syncPages(state, config.hooks, pagesId);
}

/** The access drops one of its pins (the driver's record too). */
export function accessUnpin(state: IommufdState, config: IommufdConfig, access: AccessObject, pinIndex: number): void {
  const pin = access.pins[pinIndex];
  if (pin === undefined) return;
  access.pins.splice(pinIndex, 1);
  const ioas = access.ioasId === null ? undefined : state.objects[access.ioasId];
  if (ioas?.type === 'ioas') removeAccessPin(state, config, ioas, pin.iovaPage, pin.npages);
}

/**
 * The access's `unmap` callback (the `accessUnmap` hook) for `[iovaPage, +npages)`: the driver
 * unpins the pins the hook names (matched by range and direction; one it does not hold is ignored).
 */
export function callAccessUnmap(
  state: IommufdState,
  config: IommufdConfig,
  access: AccessObject,
  iovaPage: number,
  npages: number,
): void {
  for (const pin of config.hooks.accessUnmap(access, iovaPage, npages)) {
    const index = access.pins.findIndex(
      (held) => held.iovaPage === pin.iovaPage && held.npages === pin.npages && held.write === pin.write,
    );
    if (index >= 0) accessUnpin(state, config, access, index);
  }
}

/** iommufd_access_notify_unmap: every access of the IOAS gets its unmap callback. */
export function notifyUnmap(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  iovaPage: number,
  npages: number,
): void {
  for (const accessId of [...ioas.accessIds]) {
    const access = state.objects[accessId];
    if (access?.type === 'access') callAccessUnmap(state, config, access, iovaPage, npages);
  }
}

/** The unmap hook's flaw: the area goes while accesses still hold it; their page users are dropped. */
function dropAccessUsers(state: IommufdState, area: IoptArea): void {
  const pages = pagesOf(state, area);
  for (let i = 0; i < area.npages; i++) delete pages.accessUsers[area.pageIndex + i];
  area.numAccesses = 0;
}

/**
 * iopt_unmap_iova_range over `[firstPage, lastPage]`: the unmapped page count. Areas go one by
 * one from the lowest; a refusal after the first keeps what was done (`keep`), as the source does.
 */
export function unmapRange(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  firstPage: number,
  lastPage: number,
): number {
  let unmapped = 0;
  let start = firstPage;
  let notified: IoptArea | null = null;
  for (;;) {
    const area = firstAreaIn(ioas, start, lastPage);
    if (area === undefined) break;
    if (area.iovaPage < start || areaLastPage(area) > lastPage) refuse('ENOENT', unmapped > 0 || notified !== null);
    if (area.numAccesses > 0 && config.hooks.unmapWaitsForAccesses(area)) {
      if (notified === area) refuse('EDEADLOCK', true);
      start = area.iovaPage;
      area.preventAccess = true;
      notified = area;
      notifyUnmap(state, config, ioas, area.iovaPage, area.npages);
      continue;
    }
    if (area.numAccesses > 0) dropAccessUsers(state, area);
    removeArea(state, config, ioas, area);
    unmapped += area.npages;
  }
  if (unmapped === 0) refuse('ENOENT', notified !== null);
  return unmapped;
}

/** iopt_unmap_all: everything; an empty IOAS is fine (0). */
export function unmapAll(state: IommufdState, config: IommufdConfig, ioas: IoasObject): number {
  if (ioas.areas.length === 0) return 0;
  return unmapRange(state, config, ioas, 0, LAST_IOVA_PAGE);
}

/** `iopt_for_each_contig_area`: the areas that cover `[firstPage, …]` without a gap, and whether they reach `lastPage`. */
export function contiguousAreas(
  ioas: IoasObject,
  firstPage: number,
  lastPage: number,
): { areas: IoptArea[]; done: boolean } {
  const areas: IoptArea[] = [];
  let cursor = firstPage;
  for (;;) {
    const area = firstAreaIn(ioas, cursor, cursor);
    if (area === undefined) return { areas, done: false };
    areas.push(area);
    if (areaLastPage(area) >= lastPage) return { areas, done: true };
    cursor = areaLastPage(area) + 1;
  }
}

/** iopt_get_pages: the slices under `[iovaPage, +npages)`, contiguous, or -ENOENT. */
export function getPagesSlices(ioas: IoasObject, iovaPage: number, npages: number): PagesSlice[] {
  const lastPage = iovaPage + npages - 1;
  const walk = contiguousAreas(ioas, iovaPage, lastPage);
  if (!walk.done) refuse('ENOENT');
  return walk.areas.map((area) => {
    const from = Math.max(iovaPage, area.iovaPage);
    const to = Math.min(lastPage, areaLastPage(area));
    return { pagesId: area.pagesId, pageIndex: area.pageIndex + (from - area.iovaPage), npages: to - from + 1 };
  });
}

/**
 * iopt_cut_iova for VFIO TYPE1 unmap: a boundary at `boundaryPage` (the first page of the right
 * part). An area split in two shares its pages (kref + 1); splitting an area an access or an
 * unmap holds is refused (-EINVAL / -EBUSY).
 */
export function cutAt(state: IommufdState, ioas: IoasObject, boundaryPage: number): void {
  const area = firstAreaIn(ioas, boundaryPage - 1, boundaryPage - 1);
  if (area === undefined || areaLastPage(area) === boundaryPage - 1) return;
  if (area.preventAccess) refuse('EBUSY');
  if (area.numAccesses > 0) refuse('EINVAL');
  const leftPages = boundaryPage - area.iovaPage;
  const left: IoptArea = { ...area, npages: leftPages };
  const right: IoptArea = {
    ...area,
    iovaPage: boundaryPage,
    npages: area.npages - leftPages,
    pageIndex: area.pageIndex + leftPages,
  };
  ioas.areas = ioas.areas.filter((other) => other !== area);
  insertSorted(ioas, left);
  insertSorted(ioas, right);
  pagesOf(state, area).users += 1;
}

/**
 * iopt_table_add_domain: the domain's aperture is reserved outside (-EADDRINUSE when an area is
 * there), then every area is filled into it (pins first: -EFAULT / -ENOMEM).
 */
export function addDomain(state: IommufdState, config: IommufdConfig, ioas: IoasObject, hwpt: HwptPagingObject): void {
  const owner = `hwpt:${hwpt.id}`;
  if (hwpt.aperture.firstPage > 0) reserveIova(ioas, { firstPage: 0, lastPage: hwpt.aperture.firstPage - 1 }, owner);
  if (hwpt.aperture.lastPage < LAST_IOVA_PAGE) {
    reserveIova(ioas, { firstPage: hwpt.aperture.lastPage + 1, lastPage: LAST_IOVA_PAGE }, owner);
  }
  ioas.domainHwptIds.push(hwpt.id);
  for (const pagesId of new Set(ioas.areas.map((area) => area.pagesId))) syncPages(state, config.hooks, pagesId);
  if (!config.hooks.fillDomainOnAdd(hwpt)) return;
  for (const area of ioas.areas) fillArea(state, hwpt, area);
}

/**
 * iopt_table_remove_domain: out of `iopt->domains` (the tail entry moves into its slot), every
 * area unmapped from it, its aperture reservations dropped; pages no domain stores any more are
 * unpinned.
 */
export function removeDomain(
  state: IommufdState,
  config: IommufdConfig,
  ioas: IoasObject,
  hwpt: HwptPagingObject,
): void {
  const index = ioas.domainHwptIds.indexOf(hwpt.id);
  if (index < 0) return;
  const tail = ioas.domainHwptIds.pop();
  if (tail !== undefined && tail !== hwpt.id) ioas.domainHwptIds[index] = tail;
  for (const area of ioas.areas) unfillArea(hwpt, area);
  hwpt.translations = {};
  removeReserved(ioas, `hwpt:${hwpt.id}`);
  for (const pagesId of new Set(ioas.areas.map((area) => area.pagesId))) syncPages(state, config.hooks, pagesId);
}
