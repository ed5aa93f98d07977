/**
 * VFIO_IOMMU_UNMAP_DMA: v1 and v2 semantics, VFIO_DMA_UNMAP_FLAG_ALL, the VADDR invalidation of
 * the UPDATE_VADDR protocol, and the dma_unmap notification of emulated-IOMMU drivers.
 * Reference: docs/reference/vfio-type1.md §1.4 (order of checks, walk, worked examples), §1.6, §1.11, §1.14.
 *
 * Checks, in order: no backend → EINVAL, noiommu → ENOTTY; argsz < 24 or unknown flags → EINVAL;
 * a field that is not a u64 → EINVAL; GET_DIRTY_BITMAP with ALL or VADDR → EINVAL; VADDR while an
 * emulated group is attached → EBUSY; iova unaligned → EINVAL; ALL with iova or size nonzero →
 * EINVAL, otherwise size 0 / unaligned / wrapping → EINVAL; v2: a mapping bisected at either end
 * → EINVAL. Then the walk removes whole mappings in IOVA order (v1 stops at once when the request
 * starts inside the first mapping it meets) and reports the bytes removed (`detail.sizeBytes`, a
 * decimal string). A mapping with external pins makes the backend call every registered device's
 * `dma_unmap` for the whole mapping and start the walk again; if the pins are still there, Linux
 * retries and then hits BUG_ON: the model records the crash (`state.crash`) and returns `BUG_ON`,
 * the one refusal that changes the state (the host is down; nothing runs after it).
 *
 * Left out: dirty-page tracking. The model never starts it, so GET_DIRTY_BITMAP always ends in
 * EINVAL (bitmap checks of step 3 or "tracking off" of step 7, all EINVAL). A range ending exactly
 * at 2^64 is compared with its true end (see `map-dma.ts`).
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { IOMMU_LOCK } from './inflight.js';
import { notifyDmaUnmap } from './mdev.js';
import { removeDma } from './pin.js';
import { err, mustWait, ok, runOp, unwound } from './state.js';
import type { OpContext, Outcome } from './state.js';
import type { Type1Backend, VfioDma, VfioResult, VfioState } from './types.js';
import { PAGE_SIZE_BIG, U64_MAX, isU32, pageToU64, pagesToBytes, parseU64 } from './u64.js';

export const VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP = 1 << 0;
export const VFIO_DMA_UNMAP_FLAG_ALL = 1 << 1;
export const VFIO_DMA_UNMAP_FLAG_VADDR = 1 << 2;
/** offsetofend(struct vfio_iommu_type1_dma_unmap, size). */
export const VFIO_DMA_UNMAP_MINSZ = 24;

/** Retries on one still-pinned mapping before `BUG_ON(++retries > 10)` fires. */
export const UNMAP_PIN_RETRIES = 10;

/** `struct vfio_iommu_type1_dma_unmap`; u64 fields as decimal strings. */
export interface UnmapDmaArgs {
  readonly argsz: number;
  readonly flags: number;
  readonly iova: string;
  readonly sizeBytes: string;
}

export interface UnmapDmaRequest {
  readonly iovaPage: number;
  readonly npages: number;
  /** VFIO_DMA_UNMAP_FLAG_VADDR: invalidate the vaddr instead of unmapping. */
  readonly invalidateVaddr?: boolean;
}

/** A well-formed UNMAP_DMA argument from page numbers. */
export function unmapDmaArgs(request: UnmapDmaRequest): UnmapDmaArgs {
  return {
    argsz: VFIO_DMA_UNMAP_MINSZ,
    flags: request.invalidateVaddr === true ? VFIO_DMA_UNMAP_FLAG_VADDR : 0,
    iova: pageToU64(request.iovaPage),
    sizeBytes: pagesToBytes(request.npages),
  };
}

/** UNMAP_DMA with VFIO_DMA_UNMAP_FLAG_ALL. */
export function unmapAllArgs(): UnmapDmaArgs {
  return { argsz: VFIO_DMA_UNMAP_MINSZ, flags: VFIO_DMA_UNMAP_FLAG_ALL, iova: '0', sizeBytes: '0' };
}

export function unmapDma(state: VfioState, config: VfioConfig, args: UnmapDmaArgs): VfioResult {
  return runOp(state, (ctx) => doUnmap(state, config, ctx, args));
}

export function startOf(dma: VfioDma): bigint {
  return BigInt(dma.iovaPage) * PAGE_SIZE_BIG;
}

export function endOf(dma: VfioDma): bigint {
  return BigInt(dma.iovaPage + dma.npages) * PAGE_SIZE_BIG;
}

/** An UNMAP_DMA request that passed checks 0–8: the walk's range, or the VADDR invalidation's. */
export interface UnmapPlan {
  readonly backend: Type1Backend;
  readonly iova: bigint;
  readonly end: bigint;
  readonly invalidate: boolean;
}

/** Checks 0–8 in order: the request to carry out, or the refusal. */
export function planUnmapDma(state: VfioState, args: UnmapDmaArgs): UnmapPlan | Outcome {
  const backend = state.container.backend;
  if (backend === null) return err('EINVAL');
  if (backend.kind === 'noiommu') return err('ENOTTY');
  // 1.
  if (!isU32(args.argsz) || args.argsz < VFIO_DMA_UNMAP_MINSZ) return err('EINVAL');
  const known = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP | VFIO_DMA_UNMAP_FLAG_ALL | VFIO_DMA_UNMAP_FLAG_VADDR;
  if (!isU32(args.flags) || (args.flags & ~known) !== 0) return err('EINVAL');
  const iova = parseU64(args.iova);
  let size = parseU64(args.sizeBytes);
  if (iova === null || size === null) return err('EINVAL');
  const dirty = (args.flags & VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) !== 0;
  const all = (args.flags & VFIO_DMA_UNMAP_FLAG_ALL) !== 0;
  const invalidate = (args.flags & VFIO_DMA_UNMAP_FLAG_VADDR) !== 0;
  // 2., 3. and 7.: the bitmap form needs dirty tracking, which is never on.
  if (dirty) return err('EINVAL');
  // 4.
  if (invalidate && backend.emulatedGroupIds.length > 0) return err('EBUSY');
  // 5.
  if (iova % PAGE_SIZE_BIG !== 0n) return err('EINVAL');
  // 6.
  if (all) {
    if (iova !== 0n || size !== 0n) return err('EINVAL');
    size = U64_MAX;
  } else if (size === 0n || size % PAGE_SIZE_BIG !== 0n || iova + size - 1n > U64_MAX) {
    return err('EINVAL');
  }
  const end = iova + size;
  // 8.
  if (backend.v2 && !all) {
    const atStart = backend.dmas.find((dma) => startOf(dma) <= iova && iova < endOf(dma));
    if (atStart !== undefined && startOf(atStart) !== iova) return err('EINVAL');
    const last = end - 1n;
    const atEnd = backend.dmas.find((dma) => startOf(dma) < last && last < endOf(dma));
    if (atEnd !== undefined && endOf(atEnd) !== end) return err('EINVAL');
  }
  return { backend, iova, end, invalidate };
}

export function isUnmapPlan(checked: UnmapPlan | Outcome): checked is UnmapPlan {
  return 'backend' in checked;
}

function doUnmap(state: VfioState, config: VfioConfig, ctx: OpContext, args: UnmapDmaArgs): Outcome {
  const plan = planUnmapDma(state, args);
  if (!isUnmapPlan(plan)) return plan;
  const { backend, iova, end } = plan;
  // 9.
  if (plan.invalidate) return invalidateVaddrs(backend, iova, end);
  return removeInRange(state, config, ctx, backend, iova, end);
}

/** The mappings the walk visits: from the first one ending after `iova` while they start before `end`. */
export function inRange(backend: Type1Backend, iova: bigint, end: bigint): VfioDma[] {
  return backend.dmas.filter((dma) => endOf(dma) > iova && startOf(dma) < end);
}

/**
 * The VADDR walk of vfio_dma_do_unmap: each mapping marked `vaddr_invalid`. One already invalid
 * ends the call with EINVAL after walking back from the first mapping of the range to it,
 * unmarking what this call marked (its own unwind, step by step: compared by the runner, not
 * restored, `state.ts`).
 */
export function invalidateVaddrs(backend: Type1Backend, iova: bigint, end: bigint): Outcome {
  let invalidated = 0n;
  const marked: VfioDma[] = [];
  for (const dma of inRange(backend, iova, end)) {
    if (!backend.v2 && iova > startOf(dma)) break;
    if (dma.vaddrInvalid) {
      for (const done of marked) {
        done.vaddrInvalid = false;
        backend.vaddrInvalidCount -= 1;
      }
      return unwound('EINVAL', { sizeBytes: '0' });
    }
    marked.push(dma);
    dma.vaddrInvalid = true;
    backend.vaddrInvalidCount += 1;
    invalidated += endOf(dma) - startOf(dma);
  }
  return ok({ sizeBytes: invalidated.toString() });
}

function removeInRange(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  iova: bigint,
  end: bigint,
): Outcome {
  let unmapped = 0n;
  let removed = 0;
  // dma_unmap notifications sent while a mapping had external pins outstanding.
  let callbacks = 0;
  walk: for (;;) {
    for (const dma of inRange(backend, iova, end)) {
      if (!backend.v2 && iova > startOf(dma)) break walk;
      if (Object.keys(dma.externalPins).length > 0) {
        if (hasVfioBug(config, 'dma-unmap-under-iommu-lock')) return notifyUnderLock();
        notifyDmaUnmap(state, config, backend, dma);
        callbacks += 1;
        const left = Object.keys(dma.externalPins).length;
        if (left > 0) {
          // The drivers are deterministic: every retry meets the same pins, until BUG_ON.
          state.crash = {
            where: 'vfio_dma_do_unmap',
            reason: `BUG_ON(++retries > ${UNMAP_PIN_RETRIES}): pins left after dma_unmap`,
            iovaPage: dma.iovaPage,
            externalPins: left,
          };
          return { ok: false, error: 'BUG_ON', detail: { iovaPage: dma.iovaPage, externalPins: left }, keep: true };
        }
        continue walk;
      }
      unmapped += endOf(dma) - startOf(dma);
      removed += 1;
      removeDma(state, config, ctx, backend, dma);
    }
    break;
  }
  return ok({ sizeBytes: unmapped.toString(), removed, callbacks });
}

/**
 * The bug `dma-unmap-under-iommu-lock`: the drivers' `dma_unmap` runs with `iommu->lock` held, and
 * the driver's vfio_unpin_pages (vfio_iommu_type1_unpin_pages: `mutex_lock(&iommu->lock)`) waits
 * for the lock its own caller holds. The UNMAP_DMA never returns; the model refuses it as a wait,
 * holding the lock it waits for (`src/waits.ts` tells this wait never ends).
 */
export function notifyUnderLock(): Outcome {
  return { ...mustWait(IOMMU_LOCK, [IOMMU_LOCK]), detail: { waits: 'iommu->lock, held by this UNMAP_DMA' } };
}
