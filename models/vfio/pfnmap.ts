/**
 * The VMM's VM_PFNMAP memory as type1 meets it: a device BAR the VMM mmapped from vfio-pci (pfns
 * with no struct page) mapped for peer-to-peer DMA, or a driver's buffer of host RAM mapped with
 * `remap_pfn_range`. Reference: docs/reference/vfio-type1.md §1.7, §1.18; Linux v6.12 (Debian
 * linux-source-6.12) drivers/vfio/vfio_iommu_type1.c `vaddr_get_pfns`, `follow_fault_pfn`,
 * `is_invalid_reserved_pfn`, `put_pfn`, `vfio_pin_pages_remote`, `vfio_unpin_pages_remote`.
 *
 * `vaddr_get_pfns` first tries `pin_user_pages_remote`, which fails on a VM_PFNMAP VMA; then, for
 * such a VMA, `follow_fault_pfn` reads the pfn from the page table (a write mapping of a read-only
 * PTE → EFAULT), and the pfn is accepted only when `is_invalid_reserved_pfn` (no struct page, or
 * PageReserved): RAM behind a PFNMAP VMA → EFAULT, since nothing would keep it alive. An accepted
 * pfn is neither pinned nor charged (`vfio_pin_pages_remote`: `if (!rsvd && …) lock_acct++`), and
 * `put_pfn` puts no page for it, so unmapping uncharges nothing for it either.
 *
 * Hooks (`VfioHooks`): `pfnmapPfnAccepted` (vaddr_get_pfns' test of the pfn) and `chargesPfn`
 * (vfio_pin_pages_remote's accounting test). Modelled: a pfn is invalid when it is no frame of host
 * memory; PageReserved RAM is left out (every frame is ordinary RAM), as are the faulting of a
 * PFNMAP PTE (`fixup_user_fault`: the model's PFNMAP pages are always present), the external path
 * (`vfio_pin_pages` of a PFNMAP page: worlds with a BAR have no emulated device) and pfns of a run
 * (the model goes page by page).
 */
import type { VfioConfig } from './config.js';
import { vfioHooks } from './config.js';
import { pinUserPage, unpinFrame } from './process-memory.js';
import type { OpContext } from './state.js';
import type { VfioState } from './types.js';

/** `is_invalid_reserved_pfn`: no frame of host memory (`!pfn_valid`); PageReserved is not modelled. */
export function isInvalidReservedPfn(state: VfioState, pfn: number): boolean {
  // The zero page is PageReserved.
  return state.memory.frames[pfn] === undefined || pfn === state.process.zeroMfn;
}

export type PfnResult =
  | { readonly ok: true; readonly mfn: number; readonly reserved: boolean }
  | { readonly ok: false; readonly errno: string };

/**
 * `vaddr_get_pfns(mm, vaddr, 1, prot, …)`: an ordinary page is pinned (`pinUserPage`); a page of a
 * VM_PFNMAP VMA is followed (`follow_fault_pfn`), not pinned, and accepted as the hook says.
 */
export function vaddrGetPfn(
  state: VfioState,
  ctx: OpContext,
  config: VfioConfig,
  vaddrPage: number,
  write: boolean,
): PfnResult {
  const page = state.process.pages[vaddrPage];
  if (page?.pfnmap !== true || page.mfn === null) {
    const unshare = vfioHooks(config).longtermPinUnsharesZeroPage();
    const pinned = pinUserPage(state, ctx, vaddrPage, write, unshare);
    return pinned.ok ? { ...pinned, reserved: isInvalidReservedPfn(state, pinned.mfn) } : pinned;
  }
  // follow_fault_pfn: `if (write_fault && !args.writable) ret = -EFAULT`.
  if (write && !page.writable) return { ok: false, errno: 'EFAULT' };
  const reserved = isInvalidReservedPfn(state, page.mfn);
  if (!vfioHooks(config).pfnmapPfnAccepted(reserved)) return { ok: false, errno: 'EFAULT' };
  return { ok: true, mfn: page.mfn, reserved };
}

/** `put_pfn`: unpins a pfn that has a struct page and is not reserved; true when it did. */
export function putPfn(state: VfioState, pfn: number): boolean {
  if (isInvalidReservedPfn(state, pfn)) return false;
  unpinFrame(state, pfn);
  return true;
}
