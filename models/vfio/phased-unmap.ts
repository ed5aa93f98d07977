/**
 * VFIO_IOMMU_UNMAP_DMA in phases, at the boundaries of Linux v6.12 drivers/vfio/vfio_iommu_type1.c
 * (the checks and the walk are the atomic command's, `unmap-dma.ts`):
 *
 * 1. vfio_dma_do_unmap (1270) takes `iommu->lock` (1284), checks, and walks from `again:` (1314).
 *    A mapping with external pins: vfio_notify_dma_unmap (1246) drops `iommu->lock` (1261), calls
 *    every registered device's `dma_unmap` over the whole mapping, and takes the lock again (1267)
 *    before `goto again` (1396): the phase ends with the lock dropped, and the next (`recheck`)
 *    relocks and walks again. Between the two a driver may pin in the mapping again
 *    (vfio_iommu_type1_pin_pages takes the lock, 787–903): the walk then meets pins once more and
 *    notifies again; past ten retries on one mapping, `BUG_ON(++retries > 10)` (1390).
 * 2. A mapping without pins is removed by vfio_remove_dma (1112) → vfio_unmap_unpin (1028): every
 *    other domain is `iommu_unmap`ped (synced inside), then the first is `iommu_unmap_fast`ed,
 *    gathering (`unmap_unpin_fast`, 970). The phase ends there: translations cleared, the IOTLB
 *    not yet synced, every page still pinned (`sync` next).
 * 3. `vfio_sync_unpin` (937): `iommu_iotlb_sync` of the first domain (944) — the invalidation, and
 *    the drain of requests it covers (`phased-dma.ts`). The phase ends synced (`unpin` next).
 * 4. The pages are unpinned (`vfio_unpin_pages_remote`, 947), uncharged (`vfio_lock_acct`), and the
 *    mapping unlinked with its slot given back; the walk goes on in the same phase.
 *
 * Between phases 2–4 the lock is held: no container ioctl and no vfio_pin_pages runs, but devices
 * DMA (through stale IOTLB entries too), the process changes its memory and other VMs take frames.
 * The atomic command is these phases back to back.
 *
 * Simplified: a mapping is synced once, after all of its pages are unmapped (Linux syncs every 512
 * regions, `VFIO_IOMMU_TLB_SYNC_MAX`, and falls back to `unmap_unpin_slow` — unmap, sync, unpin at
 * once — when a region record cannot be allocated); "unpin d, clear the next mapping" is one phase
 * (nothing a device can do tells them apart). Left out: GET_DIRTY_BITMAP (never on).
 *
 * Deliberate bugs with a window (`config.ts`): `unpin-before-iotlb-sync` unpins in phase 3 and
 * syncs in phase 4; `unmap-skips-recheck` removes a mapping right after notifying its drivers, as
 * if their callbacks had let go of every pin, without walking again.
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { notifyDmaUnmap } from './mdev.js';
import type { PhaseStep } from './inflight.js';
import { finishDriverPins } from './phased-pin.js';
import { clearDmaTranslations, removeKeepsPins, syncDomain, unlinkRemovedDma, unpinCleared } from './pin.js';
import { err, findDmaContaining, ok } from './state.js';
import type { OpContext, Outcome } from './state.js';
import type { Type1Backend, UnmapDmaOp, VfioDma, VfioState } from './types.js';
import {
  UNMAP_PIN_RETRIES,
  endOf,
  inRange,
  invalidateVaddrs,
  isUnmapPlan,
  planUnmapDma,
  startOf,
} from './unmap-dma.js';
import type { UnmapDmaArgs } from './unmap-dma.js';
import { notifyUnderLock } from './unmap-dma.js';

function finished(op: UnmapDmaOp): Outcome {
  return ok({ sizeBytes: op.unmappedBytes, removed: op.removed, callbacks: op.callbacks });
}

function dmaOf(backend: Type1Backend, op: UnmapDmaOp): VfioDma | undefined {
  return op.dmaIovaPage === null ? undefined : backend.dmas.find((dma) => dma.iovaPage === op.dmaIovaPage);
}

/** Phase 1: checks, then the walk. A VADDR invalidation finishes at once. */
export function startUnmapDma(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  args: UnmapDmaArgs,
): PhaseStep<UnmapDmaOp> {
  const plan = planUnmapDma(state, args);
  if (!isUnmapPlan(plan)) return { outcome: plan, op: null };
  if (plan.invalidate) return { outcome: invalidateVaddrs(plan.backend, plan.iova, plan.end), op: null };
  const op: UnmapDmaOp = {
    kind: 'unmapDma',
    next: 'sync',
    iova: plan.iova.toString(),
    end: plan.end.toString(),
    unmappedBytes: '0',
    removed: 0,
    callbacks: 0,
    lastNotifiedPage: null,
    retries: 0,
    dmaIovaPage: null,
    toUnpin: [],
  };
  return walk(state, config, ctx, plan.backend, op);
}

/** The walk from `again:`: notify a pinned mapping's drivers, or clear the next mapping. */
function walk(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  start: UnmapDmaOp,
): PhaseStep<UnmapDmaOp> {
  let op = start;
  let trustedPage =
    start.next === 'recheck' && hasVfioBug(config, 'unmap-skips-recheck') ? start.lastNotifiedPage : null;
  const iova = BigInt(op.iova);
  const end = BigInt(op.end);
  for (;;) {
    const [dma] = inRange(backend, iova, end);
    if (dma === undefined || (!backend.v2 && iova > startOf(dma))) return { outcome: finished(op), op: null };
    // unmap-skips-recheck: back under the lock, the mapping just notified is taken for unpinned.
    const trusted = trustedPage === dma.iovaPage;
    trustedPage = null;
    if (Object.keys(dma.externalPins).length > 0 && !trusted) {
      const retries = op.lastNotifiedPage === dma.iovaPage ? op.retries + 1 : 0;
      if (retries > UNMAP_PIN_RETRIES) return crash(state, dma);
      // Each driver's dma_unmap takes the driver's own lock, which a pin in progress holds until
      // the driver has recorded it: those pins are recorded first, and so released.
      finishDriverPins(state, config);
      if (hasVfioBug(config, 'dma-unmap-under-iommu-lock')) return { outcome: notifyUnderLock(), op: null };
      notifyDmaUnmap(state, config, backend, dma);
      op = { ...op, next: 'recheck', lastNotifiedPage: dma.iovaPage, retries, callbacks: op.callbacks + 1 };
      return { outcome: ok({ notified: dma.iovaPage }), op };
    }
    const toUnpin = clearDmaTranslations(state, ctx, backend, dma);
    if (toUnpin === null) {
      // Nothing mapped (no domain, or never mapped): vfio_unmap_unpin returns at once.
      op = removed(op, dma);
      unlinkRemovedDma(config, backend, dma);
      continue;
    }
    return { outcome: ok({ cleared: dma.iovaPage }), op: { ...op, next: 'sync', dmaIovaPage: dma.iovaPage, toUnpin } };
  }
}

function removed(op: UnmapDmaOp, dma: VfioDma): UnmapDmaOp {
  const bytes = BigInt(op.unmappedBytes) + (endOf(dma) - startOf(dma));
  return { ...op, unmappedBytes: bytes.toString(), removed: op.removed + 1, dmaIovaPage: null, toUnpin: [] };
}

/** The kernel's BUG_ON: the same mapping still pinned after its eleventh notification. */
function crash(state: VfioState, dma: VfioDma): PhaseStep<UnmapDmaOp> {
  const left = Object.keys(dma.externalPins).length;
  state.crash = {
    where: 'vfio_dma_do_unmap',
    reason: `BUG_ON(++retries > ${UNMAP_PIN_RETRIES}): pins left after dma_unmap`,
    iovaPage: dma.iovaPage,
    externalPins: left,
  };
  return {
    outcome: { ok: false, error: 'BUG_ON', detail: { iovaPage: dma.iovaPage, externalPins: left }, keep: true },
    op: null,
  };
}

/** The next phase of an UNMAP_DMA in flight. */
export function advanceUnmapDma(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  op: UnmapDmaOp,
): PhaseStep<UnmapDmaOp> {
  const backend = state.container.backend;
  // The mapping stays linked while its unmap holds iommu->lock: nothing else can remove it.
  if (backend === null || backend.kind !== 'type1') return { outcome: err('EBADF'), op };
  if (op.next === 'recheck') return walk(state, config, ctx, backend, op);
  const dma = dmaOf(backend, op);
  const first = backend.domains[0];
  if (dma === undefined || first === undefined) return { outcome: err('EBADF'), op };
  const unpinFirst = hasVfioBug(config, 'unpin-before-iotlb-sync');
  if (op.next === 'sync') {
    if (!unpinFirst) {
      syncDomain(state, ctx, first, dma);
      return { outcome: ok({ synced: true, dmaIovaPage: dma.iovaPage }), op: { ...op, next: 'unpin' } };
    }
    unpinCleared(state, config, dma, op.toUnpin, true, removeKeepsPins(config, backend));
    return { outcome: ok({ unpinned: dma.iovaPage }), op: { ...op, next: 'unpin', toUnpin: [] } };
  }
  if (unpinFirst) syncDomain(state, ctx, first, dma);
  else unpinCleared(state, config, dma, op.toUnpin, true, removeKeepsPins(config, backend));
  unlinkRemovedDma(config, backend, dma);
  return walk(state, config, ctx, backend, { ...removed(op, dma), next: 'unpin' });
}

/** The mapping an UNMAP_DMA in flight is removing, if it has cleared one. */
export function dmaBeingRemoved(state: VfioState, op: UnmapDmaOp): VfioDma | undefined {
  const backend = state.container.backend;
  if (backend === null || backend.kind !== 'type1' || op.dmaIovaPage === null) return undefined;
  return findDmaContaining(backend, op.dmaIovaPage);
}
