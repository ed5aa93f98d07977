/**
 * VFIO_IOMMU_MAP_DMA, including the VADDR form of the UPDATE_VADDR protocol.
 * Reference: docs/reference/vfio-type1.md §1.3 (order of checks), §1.5 (dma_entry_limit), §1.6 (MAP with VADDR),
 * §1.7–1.8 (pin on map, locked_vm), §1.14 (rejected inputs).
 *
 * Checks, in the reference's order; the first failing one decides the errno:
 *  0. no backend → EINVAL; the noiommu backend → ENOTTY (it implements no DMA ioctl);
 *  1. argsz < 32, flag bits outside READ|WRITE|VADDR → EINVAL;
 *  2. a field that is not a u64 (see `u64.ts`) → EINVAL;
 *  3. VADDR with READ/WRITE, or none of the three → EINVAL;
 *  4. size 0, or size/iova/vaddr not a multiple of the minimum IOMMU page size → EINVAL;
 *  5. iova or vaddr range wraps past 2^64 → EINVAL;
 *  6. overlap with a mapping → EEXIST (VADDR: none → ENOENT; not invalidated or iova/size differ
 *     → EINVAL; else the vaddr is replaced);
 *  7. dma_avail == 0 → ENOSPC;
 *  8. not inside one usable IOVA range → EINVAL;
 *  9. vfio_dma allocation → ENOMEM;
 * 10. with IOMMU domains: pin and map every page (EFAULT: vaddr not mapped or write to read-only
 *     memory; ENOMEM: RLIMIT_MEMLOCK, a failed page fault/pin or iommu_map). All or nothing, by
 *     the real unwind, step by step (`pin.ts` `pinAndMapDma`, `unwindFailedMap`): the failed run
 *     is unpinned and uncharged, then vfio_remove_dma takes the earlier runs out of every domain,
 *     unpins and uncharges them, unlinks the mapping and gives its slot back (`state.ts`: the
 *     result is compared with the state before, not restored).
 *
 * The minimum IOMMU page size is 4 KiB: every modelled IOMMU supports 4 KiB pages, so pgsize_bitmap's
 * lowest bit is PAGE_SIZE with and without domains.
 *
 * Simplified: a range ending exactly at 2^64 (`iova + size == 0` in u64) passes check 5 as in
 * Linux, but the model compares its true end in the overlap search and the unmap walk. Linux
 * compares the wrapped end 0 there, so such a mapping (only possible without an IOMMU domain)
 * never overlaps anything and is never found by UNMAP_DMA; the model detects the overlap (EEXIST)
 * and unmaps it, which keeps `dma_list` disjoint. Left out: dirty-tracking bitmaps (step 11; the
 * model never starts tracking), 32-bit truncation (step 2 is only the not-a-u64 rule), copy-in
 * faults.
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug, vfioHooks } from './config.js';
import { dmaMm, liveMm } from './exec.js';
import { pinAndMapDma, unwindFailedMap } from './pin.js';
import { attemptAlloc, err, linkDma, ok, runOp, unwound, usableIovaRanges } from './state.js';
import type { OpContext, Outcome } from './state.js';
import type { Type1Backend, VfioDma, VfioResult, VfioState } from './types.js';
import { PAGE_SIZE_BIG, U64_MAX, isU32, pageToU64, pagesToBytes, parseU64, toPage } from './u64.js';

export const VFIO_DMA_MAP_FLAG_READ = 1 << 0;
export const VFIO_DMA_MAP_FLAG_WRITE = 1 << 1;
export const VFIO_DMA_MAP_FLAG_VADDR = 1 << 2;
/** offsetofend(struct vfio_iommu_type1_dma_map, size). */
export const VFIO_DMA_MAP_MINSZ = 32;

/** `struct vfio_iommu_type1_dma_map`; u64 fields as decimal strings. */
export interface MapDmaArgs {
  readonly argsz: number;
  readonly flags: number;
  readonly vaddr: string;
  readonly iova: string;
  readonly sizeBytes: string;
}

export interface MapDmaRequest {
  readonly vaddrPage: number;
  readonly iovaPage: number;
  readonly npages: number;
  readonly read?: boolean;
  readonly write?: boolean;
  /** VFIO_DMA_MAP_FLAG_VADDR instead of READ/WRITE. */
  readonly updateVaddr?: boolean;
}

/** A well-formed MAP_DMA argument from page numbers (read and write default to true). */
export function mapDmaArgs(request: MapDmaRequest): MapDmaArgs {
  const flags =
    request.updateVaddr === true
      ? VFIO_DMA_MAP_FLAG_VADDR
      : (request.read === false ? 0 : VFIO_DMA_MAP_FLAG_READ) | (request.write === false ? 0 : VFIO_DMA_MAP_FLAG_WRITE);
  return {
    argsz: VFIO_DMA_MAP_MINSZ,
    flags,
    vaddr: pageToU64(request.vaddrPage),
    iova: pageToU64(request.iovaPage),
    sizeBytes: pagesToBytes(request.npages),
  };
}

export { isPlan as isMapPlan };

export function mapDma(state: VfioState, config: VfioConfig, args: MapDmaArgs): VfioResult {
  return runOp(state, (ctx) => doMap(state, config, ctx, args));
}

/** A MAP_DMA request that passed checks 0–9: what step 10 creates. */
export interface MapPlan {
  readonly backend: Type1Backend;
  readonly iovaPage: number;
  readonly vaddrPage: number;
  readonly npages: number;
  readonly read: boolean;
  readonly write: boolean;
}

function isPlan(checked: MapPlan | Outcome): checked is MapPlan {
  return 'backend' in checked;
}

/**
 * Checks 0–9 in order: the request to carry out, or the outcome that ends the call there (a
 * refusal, or a VADDR update done).
 */
export function planMapDma(state: VfioState, config: VfioConfig, ctx: OpContext, args: MapDmaArgs): MapPlan | Outcome {
  const backend = state.container.backend;
  if (backend === null) return err('EINVAL');
  if (backend.kind === 'noiommu') return err('ENOTTY');
  // 1.
  if (!isU32(args.argsz) || args.argsz < VFIO_DMA_MAP_MINSZ) return err('EINVAL');
  const known = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE | VFIO_DMA_MAP_FLAG_VADDR;
  if (!isU32(args.flags) || (args.flags & ~known) !== 0) return err('EINVAL');
  // 2.
  const vaddr = parseU64(args.vaddr);
  const iova = parseU64(args.iova);
  const size = parseU64(args.sizeBytes);
  if (vaddr === null || iova === null || size === null) return err('EINVAL');
  // 3.
  const read = (args.flags & VFIO_DMA_MAP_FLAG_READ) !== 0;
  const write = (args.flags & VFIO_DMA_MAP_FLAG_WRITE) !== 0;
  const setVaddr = (args.flags & VFIO_DMA_MAP_FLAG_VADDR) !== 0;
  if (setVaddr ? read || write : !read && !write) return err('EINVAL');
  // 4.
  if (size === 0n || (size | iova | vaddr) % PAGE_SIZE_BIG !== 0n) return err('EINVAL');
  // 5.
  if (iova + size - 1n > U64_MAX || vaddr + size - 1n > U64_MAX) return err('EINVAL');
  const iovaPage = toPage(iova);
  const vaddrPage = toPage(vaddr);
  const npages = toPage(size);
  // 6.
  const overlapping = backend.dmas.find(
    (dma) => dma.iovaPage < iovaPage + npages && iovaPage < dma.iovaPage + dma.npages,
  );
  if (setVaddr) return updateVaddr(state, config, backend, overlapping, { iovaPage, npages, vaddrPage });
  if (overlapping !== undefined && !hasVfioBug(config, 'overlap-not-checked')) return err('EEXIST');
  // 7.
  if (backend.dmaAvail === 0) return err('ENOSPC');
  // 8.
  const ranges = usableIovaRanges(state);
  if (ranges !== null && !ranges.some((range) => range.startPage <= iovaPage && iovaPage + npages <= range.endPage)) {
    return err('EINVAL');
  }
  // 9.
  if (!attemptAlloc(state, ctx)) return err('ENOMEM');
  return { backend, iovaPage, vaddrPage, npages, read, write };
}

/** Step 10's new mapping, linked with its slot taken and nothing pinned yet. */
export function linkNewDma(state: VfioState, config: VfioConfig, plan: MapPlan): VfioDma {
  const { backend, iovaPage, vaddrPage, npages, read, write } = plan;
  const dma: VfioDma = {
    iovaPage,
    vaddrPage,
    npages,
    read,
    write,
    iommuMapped: false,
    lockCap: state.process.capIpcLock || hasVfioBug(config, 'map-skips-memlock-check'),
    vaddrInvalid: false,
    lockedVmPages: 0,
    externalPins: {},
    // `dma->mm = current->mm; mmgrab(dma->mm)`; the vaddr is an address of that mm.
    ...(liveMm(state) === 0 ? {} : { mm: liveMm(state), vaddrMm: liveMm(state) }),
  };
  backend.dmaAvail -= 1;
  linkDma(backend, dma);
  return dma;
}

function doMap(state: VfioState, config: VfioConfig, ctx: OpContext, args: MapDmaArgs): Outcome {
  const plan = planMapDma(state, config, ctx, args);
  if (!isPlan(plan)) return plan;
  const { backend, iovaPage, npages } = plan;
  // 10.
  const dma = linkNewDma(state, config, plan);
  if (backend.domains.length === 0) return ok({ iovaPage, npages, pinnedPages: 0 });
  const pinned: number[] = [];
  const error = pinAndMapDma(state, ctx, config, backend, dma, pinned);
  if (error === null) return ok({ iovaPage, npages, pinnedPages: pinned.length });
  unwindFailedMap(state, config, ctx, backend, dma);
  return unwound(error);
}

/**
 * MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR (§1.6, §1.20): `vfio_find_dma(iommu, iova, size)` must
 * find a mapping (else ENOENT) that is invalidated and has exactly this iova and size (else
 * EINVAL); then `vfio_change_dma_owner` (v6.12) moves it to the caller's mm before the vaddr is
 * replaced. The new vaddr is not checked against what was pinned: a VMM that supplies memory
 * other than the memfd's pages at the old ones leaves the device on frames it no longer sees.
 */
function updateVaddr(
  state: VfioState,
  config: VfioConfig,
  backend: Type1Backend,
  dma: VfioDma | undefined,
  request: { readonly iovaPage: number; readonly npages: number; readonly vaddrPage: number },
): Outcome {
  const { iovaPage, npages, vaddrPage } = request;
  if (dma === undefined) return err('ENOENT');
  if (!dma.vaddrInvalid || dma.iovaPage !== iovaPage || dma.npages !== npages) return err('EINVAL');
  const moved = changeDmaOwner(state, config, dma);
  if (moved !== null) return err(moved);
  dma.vaddrPage = vaddrPage;
  dma.vaddrInvalid = false;
  backend.vaddrInvalidCount -= 1;
  const mm = liveMm(state);
  if (mm !== 0 || dma.vaddrMm !== undefined) dma.vaddrMm = mm;
  return ok({ iovaPage, npages, vaddrPage });
}

/**
 * `vfio_change_dma_owner`: nothing when the caller's mm is the mapping's. Otherwise the caller's
 * mm is charged the mapping's `dma->locked_vm` (`mm_lock_acct`: ENOMEM past RLIMIT_MEMLOCK
 * without CAP_IPC_LOCK, the mapping left as it was), the old mm uncharged if it is still alive
 * (`mmget_not_zero`; after an exec it is not), and `dma->mm` and `dma->lock_cap` become the
 * caller's. Hook `vaddrUpdateMovesCharge` decides whether it runs.
 */
function changeDmaOwner(state: VfioState, config: VfioConfig, dma: VfioDma): string | null {
  const callerMm = liveMm(state);
  if (!vfioHooks(config).vaddrUpdateMovesCharge({ dmaMm: dmaMm(dma), callerMm })) return null;
  const process = state.process;
  const npage = dma.lockedVmPages;
  // __account_locked_vm(mm, npage, true, task, lock_cap).
  if (!process.capIpcLock && npage > 0 && process.lockedVmPages + npage > process.memlockLimitPages) return 'ENOMEM';
  process.lockedVmPages += npage;
  // mmget_not_zero(dma->mm) succeeds only for a live mm, and the one live mm is the caller's.
  if (dmaMm(dma) === callerMm) process.lockedVmPages -= npage;
  dma.mm = callerMm;
  // dma->lock_cap = capable(CAP_IPC_LOCK): the process keeps its capability across exec here.
  return null;
}
