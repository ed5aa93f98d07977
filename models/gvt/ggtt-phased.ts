/**
 * A guest's GGTT write through the trapped GTT MMIO range on a stack that runs the mediator's
 * translation and its shadow write as separate phases (docs/reference/gvt-kvmgt.md §4.3, §4.6;
 * Linux v6.12 `gtt.c emulate_ggtt_mmio_write`):
 *
 * 1. `translate` — under the vGPU lock (`intel_vgpu_emulate_mmio_write` holds `vgpu->vgpu_lock`
 *    for the whole emulation), the access is checked and a half kept (`startGgttWrite`), and a
 *    present, whole entry's page is translated: `intel_gvt_dma_map_guest_page` takes
 *    `cache_lock`, finds the page or pins, maps and inserts it, and drops the lock on return. A
 *    write that translates nothing (not present, or half an entry) has no window and completes.
 * 2. `insert` — only where the map's insert comes after `cache_lock` was dropped (a flawed
 *    ordering, `UnmapLock` `none`): the page enters the DMA cache.
 * 3. `shadow` — `ggtt_set_guest_entry`, `ggtt_invalidate_pte` of the old host entry (its DMA
 *    reference) and `ggtt_set_host_entry` (`finishGgttWrite`, with the translation made in 1).
 *
 * The vGPU's `dma_unmap` op (`kvmgt.c intel_vgpu_dma_unmap`) takes `cache_lock` only, so in the
 * shipped code it can run between 1 and 3: the host entry is then written with an address the op
 * has unmapped. `emulateGgttWrite` (`ggtt.ts`) runs the write at once, as before; this file only
 * adds the phases around it.
 */
import type { OpResult } from '../result.js';
import { succeed } from '../result.js';
import type { GvtConfig } from './config.js';
import { finishGgttWrite, startGgttWrite } from './ggtt.js';
import type { GgttWriteArgs } from './ggtt.js';
import type { DmaMapResult, GvtHost } from './host.js';
import { GGTT_SLOT } from './inflight.js';
import type { GgttWriteOp, PendingShadow } from './inflight.js';
import { insertPending, releasePending, translateLeaf } from './ppgtt.js';
import type { DeferInsert } from './ppgtt.js';
import type { GvtWorld } from './types.js';

/** `startGgttWrite` must not map anything itself here: the translation is this file's. */
const NO_MAP: DmaMapResult = { ok: false, errno: 'ENXIO' };

/** Phase 1: the write is done (refused, ignored, a repeated half), or its translation made and the op returned. */
export function startGgttWritePhased<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: GgttWriteArgs,
  defer: DeferInsert,
): { readonly result: OpResult; readonly op: Omit<GgttWriteOp, 'vcpu'> | null } {
  const started = startGgttWrite(world, { ...host, dmaMap: () => NO_MAP }, config, args);
  if ('done' in started) return { result: started.done, op: null };
  const { index, written, partialUpdate, translate } = started.pending;
  // Nothing to translate (not present, or half written): no window, the write completes at once.
  if (!translate) return { result: finishGgttWrite(world, host, config, started.pending), op: null };
  const pending: PendingShadow[] = [];
  const mapError = translateLeaf(world, host, config, { sptGfn: GGTT_SLOT, index, gfn: written.gfn }, pending, defer);
  const deferred = pending.some((entry) => !entry.cached);
  const op = {
    kind: 'ggttWrite',
    index,
    written,
    partialUpdate,
    phase: deferred ? 'insert' : 'shadow',
    mapError,
    pending,
  } as const;
  const translated = pending[0]?.pte.kind === 'dma' ? pending[0].pte.dmaAddr : null;
  return { result: succeed({ translated: translated ?? 'scratch' }), op };
}

/** The next phase: the deferred insert (the op goes on), or the entries written (done: `next` null). */
export function advanceGgttWrite<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  op: GgttWriteOp,
): { readonly next: GgttWriteOp | null; readonly result: OpResult } {
  if (op.phase === 'insert') {
    return {
      next: { ...op, phase: 'shadow', pending: insertPending(world, host, op.pending) },
      result: succeed({ phase: 'insert' }),
    };
  }
  const vgpu = world.vgpu;
  const own = op.pending[0];
  // The guest's copy, the old host entry released, the host entry scratch — then the translation.
  const base = {
    index: op.index,
    written: op.written,
    partialUpdate: op.partialUpdate,
    translate: false,
    mapped: null,
  };
  const written = finishGgttWrite(world, host, config, base);
  if (!written.ok || vgpu === null) {
    releasePending(world, host, config, op.pending);
    return { next: null, result: written };
  }
  if (own?.cached === true) vgpu.ggttHost[op.index] = own.pte;
  // A translation that never reached the cache (its table gone) gives back its pin.
  else releasePending(world, host, config, op.pending);
  const shadow = own?.cached === true && own.pte.kind === 'dma' ? own.pte.dmaAddr : 'scratch';
  const mapError = op.mapError !== null ? { mapError: op.mapError } : {};
  return { next: null, result: succeed({ ...written.detail, shadow, ...mapError }) };
}
