/**
 * VFIO_IOMMU_MAP_DMA in two phases, at the boundaries of Linux v6.12
 * drivers/vfio/vfio_iommu_type1.c: vfio_dma_do_map (1548) takes `iommu->lock` (1572), checks,
 * links the new `vfio_dma` with size 0 (1649), and vfio_pin_map_dma (1448) pins a run of pages
 * (`vfio_pin_pages_remote`, 1462), then maps it into every domain (`vfio_iommu_map`, 1472), run
 * after run, with the lock held until 1664: the lock is never dropped in between. Phase 1 checks,
 * links and pins every page (charging it); phase 2 maps them. Between the two, no container ioctl
 * or vfio_pin_pages runs, but a device's DMA to the range faults (nothing is mapped yet) and the
 * process may change its memory (the pins keep the frames). A pin that fails refuses the whole
 * call in phase 1, as the atomic command does, by the real unwind (`unwindPinnedPages`: the pages
 * pinned so far unpinned and uncharged, the mapping unlinked, its slot given back).
 *
 * Simplified: the model pins every run before mapping the first (Linux alternates run by run);
 * either way no page is mapped before it is pinned, and a guest RAM backed by contiguous frames is
 * a single run. In phase 2 only an injected `map` fault (`state.ts`) can fail a map (the IOVA range
 * passed check 8 against every domain's aperture, and the domains cannot change while the lock is
 * held): the failed page and the pages after it are unpinned and uncharged, the pages mapped are
 * removed (`unwindFailedMap`), and the ioctl answers the errno. Run back to back, that is the
 * atomic MAP_DMA's refusal; advanced as a phase, the step itself succeeds and reports the ioctl's
 * errno (`error`), since the operation, not the step, failed.
 *
 * The bug `map-before-pin` publishes first: phase 1 charges `locked_vm` for the whole range
 * (refusing the call, as the sound one does, when RLIMIT_MEMLOCK would be exceeded), looks each
 * page's frame up without pinning it (faulting it in) and maps it into every domain; phase 2 pins.
 * In between the device reaches frames nothing pins, and a page the process drops is freed under
 * the mapping (the later pin faults in another frame, or fails on an unmapped vaddr and is
 * ignored: the mapping stays, charged and unpinned).
 */
import type { VfioConfig } from './config.js';
import { hasVfioBug } from './config.js';
import { isMapPlan, linkNewDma, planMapDma } from './map-dma.js';
import type { MapDmaArgs } from './map-dma.js';
import {
  domainMapPage,
  lockAcct,
  mapRunIntoDomains,
  pinAndChargePage,
  releasePinnedPage,
  unwindFailedMap,
  unwindPinnedPages,
} from './pin.js';
import { faultInPage, pinUserPage } from './process-memory.js';
import { err, ok, undoPageFaults, unwound } from './state.js';
import type { OpContext } from './state.js';
import type { PhaseStep } from './inflight.js';
import type { MapDmaOp, Type1Backend, VfioDma, VfioState } from './types.js';

/** Phase 1: checks, the new mapping linked, every page pinned (or, with `map-before-pin`, mapped). */
export function startMapDma(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  args: MapDmaArgs,
): PhaseStep<MapDmaOp> {
  const plan = planMapDma(state, config, ctx, args);
  if (!isMapPlan(plan)) return { outcome: plan, op: null };
  const { backend, iovaPage, npages } = plan;
  const dma = linkNewDma(state, config, plan);
  if (backend.domains.length === 0) return { outcome: ok({ iovaPage, npages, pinnedPages: 0 }), op: null };
  if (hasVfioBug(config, 'map-before-pin')) return publishUnpinned(state, config, ctx, backend, dma);
  const mfns: number[] = [];
  for (let i = 0; i < dma.npages; i++) {
    const page = pinAndChargePage(state, ctx, config, dma, i);
    if (page.ok) {
      mfns.push(page.mfn);
      continue;
    }
    unwindPinnedPages(state, config, backend, dma, mfns);
    return { outcome: unwound(page.errno), op: null };
  }
  const op: MapDmaOp =
    ctx.faults.length === 0
      ? { kind: 'mapDma', next: 'map', iovaPage, npages, mfns }
      : { kind: 'mapDma', next: 'map', iovaPage, npages, mfns, faults: [...ctx.faults] };
  return { outcome: ok({ iovaPage, npages, pinnedPages: mfns.length, mapped: false }), op };
}

/** `map-before-pin`'s phase 1: the range charged, each page's present frame mapped, nothing pinned. */
function publishUnpinned(
  state: VfioState,
  config: VfioConfig,
  ctx: OpContext,
  backend: Type1Backend,
  dma: VfioDma,
): PhaseStep<MapDmaOp> {
  let charge = 0;
  for (let i = 0; i < dma.npages; i++) if (dma.externalPins[dma.iovaPage + i] === undefined) charge += 1;
  if (!dma.lockCap && state.process.lockedVmPages + charge > state.process.memlockLimitPages) {
    return { outcome: err('ENOMEM'), op: null };
  }
  lockAcct(state, config, dma, charge);
  const mfns: number[] = [];
  for (let i = 0; i < dma.npages; i++) {
    const page = faultInPage(state, ctx, dma.vaddrPage + i, dma.write);
    if (!page.ok) return { outcome: err(page.errno), op: null };
    mfns.push(page.mfn);
    for (const domain of backend.domains) domainMapPage(state, ctx, domain, dma.iovaPage + i, page.mfn, dma);
  }
  dma.iommuMapped = true;
  return {
    outcome: ok({ iovaPage: dma.iovaPage, npages: dma.npages, pinnedPages: 0, mapped: true }),
    op: { kind: 'mapDma', next: 'pin', iovaPage: dma.iovaPage, npages: dma.npages, mfns },
  };
}

/** The next phase of a MAP_DMA in flight; it finishes there. */
export function advanceMapDma(state: VfioState, config: VfioConfig, ctx: OpContext, op: MapDmaOp): PhaseStep<MapDmaOp> {
  const backend = state.container.backend;
  const dma = backend?.kind === 'type1' ? backend.dmas.find((other) => other.iovaPage === op.iovaPage) : undefined;
  // The mapping stays linked while its map holds iommu->lock: nothing else can remove it.
  if (backend?.kind !== 'type1' || dma === undefined) return { outcome: err('EBADF'), op };
  const done = (pinnedPages: number): PhaseStep<MapDmaOp> => ({
    outcome: ok({ iovaPage: op.iovaPage, npages: op.npages, pinnedPages }),
    op: null,
  });
  if (op.next === 'map') {
    for (let i = 0; i < op.mfns.length; i++) {
      const mfn = op.mfns[i] ?? 0;
      const error = mapRunIntoDomains(state, ctx, backend.domains, dma, op.iovaPage + i, mfn);
      if (error === null) continue;
      // The failed page and the pages pinned after it were never mapped: unpinned and uncharged;
      // then vfio_remove_dma of what was mapped.
      op.mfns.forEach((pinned, j) => {
        if (j >= i) releasePinnedPage(state, config, backend, dma, op.iovaPage + j, pinned);
      });
      unwindFailedMap(state, config, ctx, backend, dma);
      undoPageFaults(state, op.faults ?? []);
      return { outcome: unwound(error), op: null };
    }
    dma.iommuMapped = true;
    return done(op.mfns.length);
  }
  // map-before-pin: the pins come last (charged in phase 1), of whatever each vaddr maps now; a
  // failure is ignored.
  let pinned = 0;
  for (let i = 0; i < dma.npages; i++) if (pinUserPage(state, ctx, dma.vaddrPage + i, dma.write).ok) pinned += 1;
  return done(pinned);
}
