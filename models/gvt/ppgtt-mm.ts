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
 */
export function startPpgttCreate<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  rootGfn: number,
  defer: DeferInsert,
): PpgttCreateStart {
  const vgpu = world.vgpu;
  if (vgpu === null) return { result: fail('ENODEV'), op: null };
  const existing = vgpu.mms.find((mm) => mm.rootGfn === rootGfn);
  if (existing !== undefined) {
    existing.refcount += 1;
    return { result: succeed({ refcount: existing.refcount }), op: null };
  }
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
): OpResult {
  const started = startPpgttCreate(world, host, config, rootGfn, false);
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
