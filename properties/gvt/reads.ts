/**
 * What an invariant reads of the mediator's state, table by table, for incremental checking
 * (`Invariant.reads`). The XenGT step copies the vGPU and hands back each table it left alone as
 * the previous state's object (`reshareVgpu`), so an invariant naming only the tables it reads is
 * skipped after a refusal, and after a step that changed other tables: a guest GGTT write that
 * maps nothing new leaves the shadow page tables alone. (The KVMGT step hands back its whole
 * state after a refusal; re-sharing there cost more than it saved, since VFIO's part changes.)
 */
import type { GvtVgpu } from '../../models/gvt/types.js';

/** The named tables of the vGPU, in order; no vGPU reads as a single null. */
export function vgpuTables(vgpu: GvtVgpu | null, ...tables: readonly (keyof GvtVgpu)[]): unknown[] {
  if (vgpu === null) return [null];
  return tables.map((table) => vgpu[table]);
}
