/**
 * The guest's PPGTTs (`struct intel_vgpu_mm`, gtt.c, docs/reference/gvt-kvmgt.md §4.4): announced on its
 * PVINFO notification, reference-counted, shadowed from the root down, and retired. Shadowing
 * translates every entry and only then writes them (`ppgtt.ts`); a stack that runs it in phases
 * (`startPpgttCreate`, `finishPpgttCreate`) lets other work run in between, under the vGPU lock
 * the notification's MMIO emulation holds throughout.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { GvtConfig } from './config.js';
import type { GvtHost } from './host.js';
import type { PendingShadow, PpgttCreateOp } from './inflight.js';
import { insertPending, invalidateSpt, translateTable, writePending } from './ppgtt.js';
import type { DeferInsert } from './ppgtt.js';
import type { GvtWorld } from './types.js';

/** What the first phase of a PPGTT's creation did: done, or the translations left to write. */
export type PpgttCreateStart =
  | { readonly result: OpResult; readonly op: null }
  | { readonly result: OpResult; readonly op: Omit<PpgttCreateOp, 'vcpu'> };

/**
 * The guest announces a PPGTT rooted at `rootGfn` (g2v `PPGTT_L4_PAGE_TABLE_CREATE`), up to the
 * writes: a known root takes a reference (done); a new one gets its mm and its shadow tables,
 * registered and write-protected, with every entry translated and none written yet.
 *
 * `pse`: the guest's PDP entry naming the directory has the PS bit, a 1G entry
 * (`GTT_TYPE_PPGTT_PTE_1G_ENTRY`: `update_entry_type_for_real` on a `GTT_TYPE_PPGTT_PDP_ENTRY`).
 * v6.12's `ppgtt_populate_spt` of the PDP table finds no table below it (`get_next_pt_type` is
 * `GTT_TYPE_INVALID`) and calls `ppgtt_populate_shadow_entry`, which refuses it ("GVT doesn't
 * support 1GB entry", -EINVAL) before any map: the PDP and PML4 shadow tables are freed
 * (`err_free_spt` → `ppgtt_free_spt`, their page tracks unregistered), `shadow_ppgtt_mm` fails
 * (`invalidate_ppgtt_mm` finds no root entry set yet), the mm is freed, and
 * `handle_g2v_notification` returns -EINVAL: the vGPU is as it was. A known root is found by its
 * root pointers first (`intel_vgpu_find_ppgtt_mm`) and takes a reference whatever the entries
 * below. Folded away with the PDP level: the PDP entries before the 1G one, which v6.12 shadows
 * first (and, unwinding through `ppgtt_free_spt`, never gives back: `kvmgt/shipped-populate-unwind`),
 * and a trapped store of a 1G entry into a shadowed PDP table (docs/reference/gvt-kvmgt.md §4.4c).
 */
export function startPpgttCreate<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
  defer: DeferInsert,
  pse = false,
): PpgttCreateStart {
  const vgpu = world.vgpu;
  if (vgpu === null) return { result: fail('ENODEV'), op: null };
  const existing = vgpu.mms.find((mm) => mm.rootGfn === rootGfn);
  if (existing !== undefined) {
    existing.refcount += 1;
    return { result: succeed({ refcount: existing.refcount }), op: null };
  }
  if (pse) return { result: fail('EINVAL'), op: null };
  const pending: PendingShadow[] = [];
  const refused = translateTable(world, host, config, rootGfn, 'pd', pending, defer);
  if (refused !== null) return { result: fail(refused), op: null };
  vgpu.mms.push({ rootGfn, refcount: 1 });
  return {
    result: succeed({ refcount: 1 }),
    op: { kind: 'ppgttCreate', rootGfn, phase: defer ? 'insert' : 'shadow', pending },
  };
}

/** The next phase of a PPGTT's creation: the deferred cache inserts, or the writes (then done: null). */
export function advancePpgttCreate<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  op: PpgttCreateOp,
): PpgttCreateOp | null {
  if (op.phase === 'insert') return { ...op, phase: 'shadow', pending: insertPending(world, host, op.pending) };
  writePending(world, host, config, op.pending);
  return null;
}

/** The guest announces a PPGTT rooted at `rootGfn` (g2v `PPGTT_L4_PAGE_TABLE_CREATE`), at once. */
export function createPpgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
  pse = false,
): OpResult {
  const started = startPpgttCreate(world, host, config, rootGfn, false, pse);
  if (started.op !== null) advancePpgttCreate(world, host, config, { ...started.op, vcpu: 0 });
  return started.result;
}

/** The guest retires a PPGTT (g2v `PPGTT_L4_PAGE_TABLE_DESTROY`); an unknown root is refused. */
export function destroyPpgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
): OpResult {
  const vgpu = world.vgpu;
  if (vgpu === null) return fail('ENODEV');
  const mm = vgpu.mms.find((candidate) => candidate.rootGfn === rootGfn);
  if (mm === undefined) return fail('EINVAL');
  mm.refcount -= 1;
  if (mm.refcount === 0) {
    vgpu.mms = vgpu.mms.filter((candidate) => candidate !== mm);
    invalidateSpt(world, host, config, rootGfn);
  }
  return succeed({ refcount: mm.refcount });
}

/** `intel_vgpu_clean_ppgtt`: every PPGTT is invalidated, whatever its reference count. */
export function cleanPpgtt<W extends GvtWorld>(world: W, host: GvtHost<W>, config: GvtConfig): void {
  const vgpu = world.vgpu;
  if (vgpu === null) return;
  for (const mm of vgpu.mms) invalidateSpt(world, host, config, mm.rootGfn);
  vgpu.mms = [];
}
