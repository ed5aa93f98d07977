/**
 * The VMM process's memory (QEMU on KVM): vaddr page → frame, the guest's RAM as the process maps
 * it. On KVM the VMM process's memory plays the role a Xen domain's p2m plays (gfn → vaddr →
 * frame). Each present page holds one reference on its frame; a pin (FOLL_PIN) holds another, so
 * a pinned frame outlives munmap or MADV_DONTNEED of its vaddr and DMA keeps reaching it — not
 * whatever the vaddr maps now.
 *
 * Operations: mmap (anonymous, MAP_FIXED_NOREPLACE, pages faulted in on first use), munmap,
 * madvise(MADV_DONTNEED) (what QEMU does for a virtio-balloon inflate: the frame is dropped, the
 * VMA stays, the next touch faults in a fresh frame), a CPU touch, and the page pin used by the
 * backend (`pin_user_pages_remote` with FOLL_LONGTERM).
 *
 * VM_PFNMAP VMAs (a device BAR, a driver's buffer: `pfnmap.ts`) are present from the start and
 * hold no reference; pin_user_pages refuses them, munmap puts nothing for them, MADV_DONTNEED on
 * them is EINVAL.
 *
 * Left out: file-backed and shared memory, hugepages and THP, PageReserved RAM,
 * FOLL_LONGTERM migration out of movable zones, PROT_NONE, mprotect, swap and page reclaim,
 * fork/CoW, process exit (the mm never goes away, so -ENODEV / -ESRCH paths do not occur).
 * Granularity is the page: addresses and lengths are page numbers and counts.
 *
 * Simplified: madvise over a range with unmapped holes is refused whole (ENOMEM) where Linux
 * applies it to the mapped parts and then returns ENOMEM; mmap never picks an address itself.
 */
import { allocFrame, getRef, putRef } from '../memory/frames.js';
import type { VfioConfig } from './config.js';
import { setPageMfn, writablePages } from './process-pages.js';
import { attemptAlloc, attemptPin, err, ok, runOp } from './state.js';
import type { OpContext } from './state.js';
import type { ProcessPage, VfioResult, VfioState } from './types.js';
import { PAGE_LIMIT, isPageNumber } from './u64.js';

export interface VaddrRangeArgs {
  readonly vaddrPage: number;
  readonly npages: number;
}

export interface MmapArgs extends VaddrRangeArgs {
  readonly writable: boolean;
}

export interface TouchArgs {
  readonly vaddrPage: number;
  readonly write: boolean;
}

function validRange(args: VaddrRangeArgs): boolean {
  return (
    isPageNumber(args.vaddrPage) &&
    typeof args.npages === 'number' &&
    Number.isInteger(args.npages) &&
    args.npages > 0 &&
    args.vaddrPage + args.npages <= PAGE_LIMIT
  );
}

/** vaddr pages of the process inside `[vaddrPage, vaddrPage + npages)`, in address order. */
function mappedPagesIn(state: VfioState, args: VaddrRangeArgs): number[] {
  return Object.keys(state.process.pages)
    .map(Number)
    .filter((page) => page >= args.vaddrPage && page < args.vaddrPage + args.npages)
    .sort((a, b) => a - b);
}

type FaultResult = { readonly ok: true; readonly mfn: number } | { readonly ok: false; readonly errno: string };

/**
 * How a fault reaches a page (`zero-page` worlds, `process.zeroMfn`): `read` maps the shared zero
 * page into a page never written (do_anonymous_page without FAULT_FLAG_WRITE); `write` breaks COW
 * of the zero page (do_wp_page: a fresh frame); `unshare` is the FAULT_FLAG_UNSHARE a read-only
 * FOLL_LONGTERM pin takes in a COW mapping (gup_must_unshare, mm/internal.h): a fresh frame too.
 */
export type FaultAccess = 'read' | 'write' | 'unshare';

/** Faults a page of a VMA in: a fresh frame owned by the process (recorded for an unwind, `state.ts`). */
function faultIn(
  state: VfioState,
  ctx: OpContext,
  vaddrPage: number,
  page: ProcessPage,
  access: FaultAccess = 'write',
): FaultResult {
  const zeroMfn = state.process.zeroMfn;
  const onZero = zeroMfn !== undefined && page.mfn === zeroMfn && page.pfnmap !== true;
  if (page.mfn !== null && !(onZero && access !== 'read')) return { ok: true, mfn: page.mfn };
  if (page.mfn === null && access === 'read' && zeroMfn !== undefined && page.pfnmap !== true) {
    // The zero page is mapped with no reference (vm_normal_page: a special pfn).
    setPageMfn(state.process, vaddrPage, zeroMfn);
    const memory = state.memory;
    ctx.faults.push({
      vaddrPage,
      mfn: zeroMfn,
      freeListBefore: [...memory.freeList],
      allocCountBefore: memory.allocCount,
      zeroMapped: true,
    });
    return { ok: true, mfn: zeroMfn };
  }
  if (!attemptAlloc(state, ctx)) return { ok: false, errno: 'ENOMEM' };
  const freeListBefore = [...state.memory.freeList];
  const allocCountBefore = state.memory.allocCount;
  const mfn = allocFrame(state.memory, state.process.owner);
  if (mfn === null) return { ok: false, errno: 'ENOMEM' };
  setPageMfn(state.process, vaddrPage, mfn);
  ctx.faults.push(
    onZero
      ? { vaddrPage, mfn, freeListBefore, allocCountBefore, zeroBefore: true }
      : { vaddrPage, mfn, freeListBefore, allocCountBefore },
  );
  return { ok: true, mfn };
}

/** The frame a vaddr page maps, faulted in if needed, with no reference taken (a lookup, not a pin). */
export function faultInPage(state: VfioState, ctx: OpContext, vaddrPage: number, write: boolean): FaultResult {
  const page = state.process.pages[vaddrPage];
  if (page === undefined || (write && !page.writable)) return { ok: false, errno: 'EFAULT' };
  return faultIn(state, ctx, vaddrPage, page, write ? 'write' : 'read');
}

/**
 * `pin_user_pages_remote(mm, vaddr, 1, FOLL_LONGTERM [| FOLL_WRITE])` for one page: EFAULT when
 * no VMA maps the page or a write pin meets read-only memory; faults the page in; takes a pin
 * reference on the frame.
 */
export function pinUserPage(
  state: VfioState,
  ctx: OpContext,
  vaddrPage: number,
  write: boolean,
  unshareZeroPage = true,
): FaultResult {
  const page = state.process.pages[vaddrPage];
  // pin_user_pages refuses a VM_PFNMAP VMA (check_vma_flags): its pfns are followed, not pinned (`pfnmap.ts`).
  if (page === undefined || page.pfnmap === true || (write && !page.writable)) return { ok: false, errno: 'EFAULT' };
  // FOLL_WRITE breaks COW; a read-only FOLL_LONGTERM pin unshares (gup_must_unshare) unless the hook says not.
  const present = faultIn(state, ctx, vaddrPage, page, write ? 'write' : unshareZeroPage ? 'unshare' : 'read');
  if (!present.ok) return present;
  if (!attemptPin(state, ctx)) return { ok: false, errno: 'ENOMEM' };
  // try_grab_folio: "Don't take a pin on the zero page".
  if (present.mfn !== state.process.zeroMfn) getRef(state.memory, present.mfn);
  return present;
}

/** `unpin_user_page`: drops the pin reference; the frame is freed if nothing else holds it. */
export function unpinFrame(state: VfioState, mfn: number): void {
  putRef(state.memory, mfn);
}

// ---------------------------------------------------------------------------------------------
// Commands

/** mmap(vaddr, len, PROT_READ [| PROT_WRITE], MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE). */
export function mmapRegion(state: VfioState, _config: VfioConfig, args: MmapArgs): VfioResult {
  return runOp(state, () => {
    if (!validRange(args) || typeof args.writable !== 'boolean') return err('EINVAL');
    if (mappedPagesIn(state, args).length > 0) return err('EEXIST');
    const mapped = Object.keys(state.process.pages).length;
    if (mapped + args.npages > state.process.addressSpaceLimitPages) return err('ENOMEM');
    for (let vaddrPage = args.vaddrPage; vaddrPage < args.vaddrPage + args.npages; vaddrPage++) {
      writablePages(state.process)[vaddrPage] = { writable: args.writable, mfn: null };
    }
    return ok({ vaddrPage: args.vaddrPage, npages: args.npages });
  });
}

/** munmap: drops every page of the range (holes are fine); pinned frames stay alive. */
export function munmapRegion(state: VfioState, _config: VfioConfig, args: VaddrRangeArgs): VfioResult {
  return runOp(state, () => {
    if (!validRange(args)) return err('EINVAL');
    let freed = 0;
    for (const vaddrPage of mappedPagesIn(state, args)) {
      const page = state.process.pages[vaddrPage];
      delete writablePages(state.process)[vaddrPage];
      // A VM_PFNMAP PTE, or one of the zero page, held no reference: zapping it puts none.
      if (page === undefined || page.pfnmap === true || page.mfn === null) continue;
      if (page.mfn === state.process.zeroMfn) continue;
      if (putRef(state.memory, page.mfn) !== undefined) freed += 1;
    }
    return ok({ freedFrames: freed });
  });
}

/** madvise(MADV_DONTNEED) — the balloon: frames dropped, VMA kept, next touch gets a new frame. */
export function discardRange(state: VfioState, _config: VfioConfig, args: VaddrRangeArgs): VfioResult {
  return runOp(state, () => {
    if (!validRange(args)) return err('EINVAL');
    const pages = mappedPagesIn(state, args);
    if (pages.length !== args.npages) return err('ENOMEM');
    // madvise_dontneed_free_valid_vma → can_madv_lru_vma: never a VM_PFNMAP VMA.
    if (pages.some((vaddrPage) => state.process.pages[vaddrPage]?.pfnmap === true)) return err('EINVAL');
    let freed = 0;
    for (const vaddrPage of pages) {
      const page = state.process.pages[vaddrPage];
      if (page === undefined || page.mfn === null) continue;
      const mfn = page.mfn;
      setPageMfn(state.process, vaddrPage, null);
      if (mfn === state.process.zeroMfn) continue;
      if (putRef(state.memory, mfn) !== undefined) freed += 1;
    }
    return ok({ freedFrames: freed });
  });
}

/** A CPU access by the process (the guest touching its RAM): faults the page in if needed. */
export function touchPage(state: VfioState, _config: VfioConfig, args: TouchArgs): VfioResult {
  return runOp(state, (ctx) => {
    if (!isPageNumber(args.vaddrPage) || typeof args.write !== 'boolean') return err('EINVAL');
    const page = state.process.pages[args.vaddrPage];
    if (page === undefined || (args.write && !page.writable)) return err('EFAULT');
    const present = faultIn(state, ctx, args.vaddrPage, page, args.write ? 'write' : 'read');
    if (!present.ok) return err(present.errno);
    return ok({ mfn: present.mfn });
  });
}

/** The frame a vaddr page maps now, or `null` (not mapped, or not present). */
export function frameAtVaddr(state: VfioState, vaddrPage: number): number | null {
  return state.process.pages[vaddrPage]?.mfn ?? null;
}
