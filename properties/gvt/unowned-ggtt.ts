/**
 * Issue 18, "hardware outlives software", for any GVT-g stack: the host GGTT entries of ranges no
 * vGPU owns reach the scratch page only. i915 points the whole GGTT at scratch when it initialises
 * it, and GVT-g gives a vGPU's ranges back that way (`vgpu.c intel_gvt_destroy_vgpu` →
 * `gtt.c intel_vgpu_reset_ggtt(vgpu, true)`) before `intel_vgpu_free_resource` frees them for the
 * next vGPU: nothing may translate through a range whose owner is gone (its DMA cache, which kept
 * those addresses mapped, was destroyed with it). A stack keeps what the hardware holds after a
 * destroy (`models/gvt/vgpu.ts` `releasedGgttOf`) and says how a DMA address reaches a frame.
 */
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { GvtLayout } from '../../models/gvt/config.js';
import type { GvtVgpu, ShadowPte } from '../../models/gvt/types.js';
import type { Invariant } from '../../src/design.js';

/** What the invariant needs of a stack's state. */
export interface ReleasedGgttView<S> {
  readonly vgpu: (state: S) => GvtVgpu | null;
  /** The host GGTT the hardware kept after the last destroy (null: scratch throughout). */
  readonly released: (state: S) => readonly ShadowPte[] | null;
  /** The frame a DMA address reaches now, if any (for the message). */
  readonly reach: (state: S, dmaAddr: number) => number | undefined;
  /** The parts of the state it reads (`Invariant.reads`). */
  readonly reads: (state: S) => unknown[];
}

const hex = (value: number): string => `0x${value.toString(16)}`;

export function unownedGgttReachesScratch<S, C>(layout: GvtLayout, view: ReleasedGgttView<S>): Invariant<S, C> {
  const own = ownGgttIndices(layout);
  return {
    name: 'unowned-ggtt-reaches-scratch',
    class: 'latent',
    description: 'while no vGPU owns its GGTT ranges, every host GGTT entry of them points at the scratch page',
    reads: view.reads,
    check({ after }) {
      const left = view.released(after);
      if (view.vgpu(after) !== null || left === null) return null;
      for (const index of own) {
        const pte = left[index];
        if (pte === undefined || pte.kind === 'scratch') continue;
        const target =
          pte.kind === 'dma'
            ? `DMA address ${hex(pte.dmaAddr)}`
            : pte.kind === 'table'
              ? `the shadow table of gfn ${pte.gfn}`
              : `a split 2M table of gfn ${pte.baseGfn}`;
        const mfn = pte.kind === 'dma' ? view.reach(after, pte.dmaAddr) : undefined;
        return {
          message: `no vGPU owns GGTT entry ${index}, but the host entry still points at ${target}${mfn === undefined ? '' : `, which reaches mfn ${mfn}`}`,
          actual: target,
          expected: 'the scratch page',
        };
      }
      return null;
    },
  };
}
