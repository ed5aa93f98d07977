/**
 * An invariant of our own, over the KVMGT state: the VMM's UNMAP_DMA of a range of guest RAM may
 * point at scratch only the shadow entries whose guest page lies in that range. The built-in
 * invariants accept a scratch entry anywhere (scratch is harmless: the GPU reads the host's
 * scratch page), so a `dma_unmap` op that scratches too much is safe by them; this one says the
 * vGPU must keep working for the pages the VMM did not unmap.
 *
 * It compares the state before and after the step, so it declares no `reads` (the engine may skip
 * an invariant with `reads` when the parts it names are unchanged, which is right only for an
 * invariant of `after` alone).
 */
import type { Invariant, KvmgtCommand, KvmgtState } from 'dmaprop';

/** A shadow entry that was a DMA address before the step and is scratch after it. */
interface Scratched {
  readonly where: string;
  readonly gfn: number;
}

/**
 * GGTT entries and PPGTT leaves the step turned from a DMA address into scratch, with the guest
 * page that address was for (the DMA cache's entry before the step: the shadow need not follow the
 * guest's entry, e.g. once the vGPU is in failsafe).
 */
function scratchedByStep(before: KvmgtState, after: KvmgtState): Scratched[] {
  const was = before.vgpu;
  const now = after.vgpu;
  if (was === null || now === null) return [];
  const gfnOf = (entry: { readonly kind: string; readonly dmaAddr?: number } | undefined): number | undefined =>
    entry?.kind === 'dma'
      ? Object.values(was.cache).find((cached) => cached.dmaAddr === entry.dmaAddr)?.gfn
      : undefined;
  const scratched: Scratched[] = [];
  now.ggttHost.forEach((entry, index) => {
    const gfn = gfnOf(was.ggttHost[index]);
    if (entry.kind === 'scratch' && gfn !== undefined) scratched.push({ where: `GGTT entry ${index}`, gfn });
  });
  for (const [tableGfn, table] of Object.entries(now.spts)) {
    if (table.level !== 'pt') continue;
    table.entries.forEach((entry, index) => {
      const gfn = gfnOf(was.spts[tableGfn]?.entries[index]);
      if (entry.kind === 'scratch' && gfn !== undefined) {
        scratched.push({ where: `PPGTT table gfn ${tableGfn} entry ${index}`, gfn });
      }
    });
  }
  return scratched;
}

export const unmapScratchesOnlyItsRange: Invariant<KvmgtState, KvmgtCommand> = {
  name: 'example/unmap-scratches-only-its-range',
  class: 'latent',
  description: "the VMM's UNMAP_DMA of guest RAM points at scratch only the shadow entries of the pages it unmaps",
  check({ before, command, after }) {
    if (before === null || command?.kind !== 'vmmUnmapRam') return null;
    const end = command.gfn + command.npages;
    const outside = scratchedByStep(before, after).find(({ gfn }) => gfn < command.gfn || gfn >= end);
    if (outside === undefined) return null;
    return {
      message: `UNMAP_DMA of gfns ${command.gfn}–${end - 1} pointed ${outside.where} (guest page gfn ${outside.gfn}) at scratch`,
      actual: `${outside.where} scratch, its gfn ${outside.gfn} still mapped`,
      expected: `only entries of gfns ${command.gfn}–${end - 1} scratched`,
    };
  },
};
