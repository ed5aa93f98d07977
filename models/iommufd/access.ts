/**
 * Access objects: an emulated device (an mdev driver over iommufd) that reaches an IOAS through
 * the CPU — create, attach / replace / detach, pin and unpin pages, read and write, destroy; the
 * driver's `unmap` callback is the `accessUnmap` hook.
 * Reference: docs/reference/iommufd.md §4.7.
 *
 * Sources (v6.12 device.c): iommufd_access_create (users: the xarray's and the driver's;
 * iova_alignment PAGE_SIZE when ops->needs_pin_pages), iommufd_access_attach (already attached →
 * -EINVAL; the IOAS → -ENOENT), iommufd_access_replace (not attached → -ENOENT),
 * iommufd_access_change_ioas (the new IOAS joins first; the old one's pins go through the unmap
 * callback over [0, ULONG_MAX], then it leaves), iommufd_access_destroy, iommufd_access_pin_pages
 * (no pin_pages ops → -EINVAL under CONFIG_IOMMUFD_TEST; length 0 → -EINVAL; past 2^64 →
 * -EOVERFLOW; not attached → -ENOENT; per contiguous area: prevent_access → -EINVAL, prot →
 * -EPERM; a gap → -ENOENT; earlier areas undone), iommufd_access_unpin_pages (must match a pin:
 * the model refuses -EINVAL where the source WARNs), iommufd_access_rw; io_pagetable.c
 * iopt_add_access / iopt_remove_access; pages.c iopt_area_add_access / iopt_area_remove_access.
 */
import { allocFrame } from '../memory/frames.js';
import type { IommufdConfig } from './config.js';
import { accessUnpin, callAccessUnmap, contiguousAreas } from './io-pagetable.js';
import { areaLastPage } from './iova.js';
import { u64Arg, pageArg } from './ioas.js';
import { getObject, insertObject } from './objects.js';
import { pagesOf, syncPages } from './pages.js';
import { refuse } from './refusal.js';
import type { AccessObject, IoasObject, IommufdState, IoptArea, IoptPages } from './types.js';
import { PAGE_LIMIT, U64_MAX } from '../vfio/u64.js';
import { setPageMfn } from '../vfio/process-pages.js';

export function accessCreate(state: IommufdState, needsPinPages: unknown): number {
  if (typeof needsPinPages !== 'boolean') refuse('EINVAL');
  return insertObject(state, (id): AccessObject => ({
    type: 'access',
    id,
    users: 2,
    needsPinPages,
    ioasId: null,
    pins: [],
  })).id;
}

/** iommufd_access_change_ioas to `next` (null: detach). */
function changeIoas(state: IommufdState, config: IommufdConfig, access: AccessObject, next: IoasObject | null): void {
  const current = access.ioasId === null ? null : getObject(state, access.ioasId, 'ioas');
  if (current === next) return;
  if (next !== null) {
    next.accessIds.push(access.id);
    next.users += 1;
  }
  if (current !== null) {
    callAccessUnmap(state, config, access, 0, PAGE_LIMIT);
    current.accessIds = current.accessIds.filter((id) => id !== access.id);
    if (config.hooks.changeIoasPutsOld(access)) current.users -= 1;
  }
  access.ioasId = next === null ? null : next.id;
}

export function accessAttach(state: IommufdState, config: IommufdConfig, accessId: unknown, ioasId: unknown): void {
  const access = getObject(state, accessId, 'access');
  if (access.ioasId !== null) refuse('EINVAL');
  changeIoas(state, config, access, getObject(state, ioasId, 'ioas'));
}

export function accessReplace(state: IommufdState, config: IommufdConfig, accessId: unknown, ioasId: unknown): void {
  const access = getObject(state, accessId, 'access');
  if (access.ioasId === null) refuse('ENOENT');
  changeIoas(state, config, access, getObject(state, ioasId, 'ioas'));
}

export function accessDetach(state: IommufdState, config: IommufdConfig, accessId: unknown): void {
  const access = getObject(state, accessId, 'access');
  if (access.ioasId === null) refuse('EINVAL');
  changeIoas(state, config, access, null);
}

/** iommufd_access_destroy: detached (with the unmap callback), then removed from the table. */
export function accessDestroy(state: IommufdState, config: IommufdConfig, accessId: unknown): void {
  const access = getObject(state, accessId, 'access');
  if (access.ioasId !== null) changeIoas(state, config, access, null);
  access.users -= 1;
  if (access.users !== 1) throw new Error(`iommufd model: access ${access.id} destroyed with ${access.users} users`);
  access.users = 0;
  delete state.objects[access.id];
}

export interface AccessRangeArgs {
  readonly accessId: number;
  readonly iova: string;
  readonly length: string;
  /** IOMMUFD_ACCESS_RW_WRITE. */
  readonly write: boolean;
}

/** The common argument checks: the access, its IOAS and the page range. */
function accessRange(state: IommufdState, args: AccessRangeArgs, pin: boolean) {
  const access = getObject(state, args.accessId, 'access');
  if (pin && !access.needsPinPages) refuse('EINVAL');
  const iova = u64Arg(args.iova);
  const length = u64Arg(args.length);
  if (length === 0n) refuse('EINVAL');
  if (iova + length - 1n > U64_MAX) refuse('EOVERFLOW');
  if (access.ioasId === null) refuse('ENOENT');
  const ioas = getObject(state, access.ioasId, 'ioas');
  const iovaPage = pageArg(iova);
  const npages = pageArg(length);
  return { access, ioas, iovaPage, npages, lastPage: iovaPage + npages - 1 };
}

/**
 * One area of an access's range, as iommufd_access_pin_pages and iommufd_access_rw both check it:
 * EINVAL while an unmap keeps accesses out (`prevent_access`), EPERM without the direction's
 * permission; then the area's pages and the range's pages within it.
 */
function accessSpan(
  state: IommufdState,
  area: IoptArea,
  iovaPage: number,
  lastPage: number,
  write: boolean,
): { readonly pages: IoptPages; readonly from: number; readonly to: number } {
  if (area.preventAccess) refuse('EINVAL');
  if (write ? !area.write : !area.read) refuse('EPERM');
  return {
    pages: pagesOf(state, area),
    from: Math.max(iovaPage, area.iovaPage),
    to: Math.min(lastPage, areaLastPage(area)),
  };
}

/** iommufd_access_pin_pages: the frames pinned, recorded in the driver's pin list. */
export function accessPinPages(state: IommufdState, config: IommufdConfig, args: AccessRangeArgs): readonly number[] {
  const { access, ioas, iovaPage, npages, lastPage } = accessRange(state, args, true);
  const walk = contiguousAreas(ioas, iovaPage, lastPage);
  const mfns: number[] = [];
  for (const area of walk.areas) {
    const { pages, from, to } = accessSpan(state, area, iovaPage, lastPage, args.write);
    for (let page = from; page <= to; page++) {
      const index = area.pageIndex + (page - area.iovaPage);
      pages.accessUsers[index] = (pages.accessUsers[index] ?? 0) + 1;
    }
    syncPages(state, config.hooks, area.pagesId);
    for (let page = from; page <= to; page++) {
      const mfn = pages.pinned[area.pageIndex + (page - area.iovaPage)];
      if (mfn !== undefined) mfns.push(mfn);
    }
    area.numAccesses += 1;
  }
  if (!walk.done) refuse('ENOENT');
  access.pins.push({ iovaPage, npages, write: args.write, mfns });
  return mfns;
}

/**
 * The driver unpins the `pin`-th oldest of the pins it holds (modulo their number): the same
 * iommufd_access_unpin_pages call with that pin's iova and length. EINVAL when it holds none, or
 * its access is detached, as for an unpin of a range it does not hold.
 */
export function accessUnpinHeld(state: IommufdState, config: IommufdConfig, accessId: unknown, pin: unknown): void {
  const access = getObject(state, accessId, 'access');
  if (typeof pin !== 'number' || !Number.isSafeInteger(pin) || pin < 0) refuse('EINVAL');
  if (access.pins.length === 0 || access.ioasId === null) refuse('EINVAL');
  accessUnpin(state, config, access, pin % access.pins.length);
}

/** iommufd_access_unpin_pages of a pin the driver holds (same iova and length). */
export function accessUnpinPages(
  state: IommufdState,
  config: IommufdConfig,
  args: Omit<AccessRangeArgs, 'write'>,
): void {
  const access = getObject(state, args.accessId, 'access');
  const iovaPage = pageArg(u64Arg(args.iova));
  const npages = pageArg(u64Arg(args.length));
  const index = access.pins.findIndex((pin) => pin.iovaPage === iovaPage && pin.npages === npages);
  if (index < 0 || access.ioasId === null) refuse('EINVAL');
  accessUnpin(state, config, access, index);
}

/**
 * iommufd_access_rw: the frames the copy reaches, in order — the pinned frame of a pinned page,
 * else the page the process maps now (iopt_pages_rw_access goes through the mm; a page not
 * present is faulted in, one not mapped is -EFAULT).
 */
export function accessRw(state: IommufdState, args: AccessRangeArgs): readonly number[] {
  const { ioas, iovaPage, lastPage } = accessRange(state, args, false);
  const walk = contiguousAreas(ioas, iovaPage, lastPage);
  const mfns: number[] = [];
  for (const area of walk.areas) {
    const { pages, from, to } = accessSpan(state, area, iovaPage, lastPage, args.write);
    for (let page = from; page <= to; page++) {
      const index = area.pageIndex + (page - area.iovaPage);
      const pinned = pages.pinned[index];
      if (pinned !== undefined) {
        mfns.push(pinned);
        continue;
      }
      const vaddrPage = pages.vaddrPage + index;
      const present = state.process.pages[vaddrPage];
      if (present === undefined || (args.write && !present.writable)) refuse('EFAULT');
      if (present.mfn === null) {
        const mfn = allocFrame(state.memory, state.process.owner);
        if (mfn === null) refuse('ENOMEM');
        setPageMfn(state.process, vaddrPage, mfn);
        mfns.push(mfn);
        continue;
      }
      mfns.push(present.mfn);
    }
  }
  if (!walk.done) refuse('ENOENT');
  return mfns;
}
