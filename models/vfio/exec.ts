/**
 * execve by the VMM (QEMU's cpr-exec live update): the process gets a new address space, and the
 * mm each VFIO mapping names (`dma->mm`). Reference: docs/reference/vfio-type1.md §1.20.
 *
 * What exec does to memory (fs/exec.c exec_mmap → mmput of the old mm → exit_mmap): every VMA of
 * the old mm goes, and with it every page-table reference on a frame; the new mm starts with
 * `locked_vm` 0. Frames pinned by VFIO (pin_user_pages_remote: FOLL_PIN references) are not
 * freed: the pins hold them. The old `mm_struct` lives on only while something holds it: each
 * `vfio_dma` mmgrab'd it at MAP_DMA (`mm_count`), so `dma->mm` still points at it, but its
 * `mm_users` is 0 — `mmget_not_zero` fails from now on (`vfio_lock_acct(…, async)` answers
 * -ESRCH, `vfio_pin_page_external` -ENODEV).
 *
 * The new program maps the guest's RAM again: QEMU's cpr-exec requires RAM backed by a memfd (or
 * another shared file) whose fd survives exec, and maps it at a new address. The model treats the
 * whole of the VMM's memory as that guest RAM: each page of the old mm is mapped in the new one
 * `shiftPages` higher, the same frame (the page-cache page of the memfd; the old PTE's reference
 * goes, the new PTE takes one, so the count is unchanged), present or not as it was. Not carried
 * over: VM_PFNMAP VMAs (a BAR or a driver's buffer: the new program mmaps its devices again) and
 * the shared zero page (a shared mapping never maps it; the page reads zero until touched).
 *
 * exec waits for an ioctl of the VMM in flight (de_thread; `inflight.ts`: the same actor).
 *
 * Left out: the task (`dma->task`: the same group leader after exec, so `vfio_change_dma_owner`
 * keeps it), anonymous memory that does not survive, and a second process (one VMM). A VADDR
 * update is the kernel's only chance to see the new mm (`map-dma.ts`).
 */
import type { VfioConfig } from './config.js';
import { err, ok, runOp } from './state.js';
import type { ProcessPage, VfioDma, VfioResult, VfioState } from './types.js';
import { PAGE_LIMIT, isPageNumber } from './u64.js';

export interface ExecArgs {
  /** How far above its old address the new program maps the guest's RAM, in pages. */
  readonly shiftPages: number;
}

/** The mm the process runs on now (`current->mm`). */
export function liveMm(state: VfioState): number {
  return state.process.mm ?? 0;
}

/** `dma->mm`. */
export function dmaMm(dma: VfioDma): number {
  return dma.mm ?? 0;
}

/** The mm whose address space the mapping's vaddr names. */
export function dmaVaddrMm(dma: VfioDma): number {
  return dma.vaddrMm ?? 0;
}

export function execProcess(state: VfioState, _config: VfioConfig, args: ExecArgs): VfioResult {
  return runOp(state, () => {
    if (!isPageNumber(args.shiftPages)) return err('EINVAL');
    const pages: Record<string, ProcessPage> = {};
    for (const [key, page] of Object.entries(state.process.pages)) {
      const vaddrPage = Number(key) + args.shiftPages;
      // The new mapping must fit below the top of the address space (mmap: ENOMEM).
      if (vaddrPage >= PAGE_LIMIT) return err('ENOMEM');
      if (page.pfnmap === true) continue;
      const zero = page.mfn !== null && page.mfn === state.process.zeroMfn;
      pages[vaddrPage] = { writable: page.writable, mfn: zero ? null : page.mfn };
    }
    // exit_mmap of the old mm puts its PTEs' references; the new mm's PTEs take the same frames
    // again. Only pages not carried over would lose one, and those (VM_PFNMAP, the zero page)
    // held none: every frame's count is unchanged.
    const process = state.process;
    process.pages = pages;
    process.lockedVmPages = 0;
    process.mm = liveMm(state) + 1;
    process.lastExecShiftPages = args.shiftPages;
    return ok({ mm: process.mm, shiftPages: args.shiftPages, pages: Object.keys(pages).length });
  });
}
