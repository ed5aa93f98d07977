/**
 * Where the GPU's accesses for a vGPU land: through a host GGTT entry or the shadow PPGTT, then
 * the hypervisor's translation of the DMA address. The model's GPU only reads and writes pages;
 * an access records the frame and its owner at that moment, for the effect invariants.
 */
import type { GvtConfig } from './config.js';
import { ownsGgttIndex } from './config.js';
import type { GvtHost } from './host.js';
import type { GpuAccess, GvtWorld, ShadowPte } from './types.js';

/** The host entry of any GGTT index: the vGPU's own, or the host's (other vGPUs, the host driver). */
export interface HostGgtt<W extends GvtWorld> {
  hostGgttEntry(world: W, index: number): ShadowPte;
}

export function accessThrough<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  pte: ShadowPte,
  via: string,
  write: boolean,
): GpuAccess {
  if (pte.kind !== 'dma') return { via, write, outcome: 'scratch', mfn: null, owner: null };
  const mfn = host.translate(world, pte.dmaAddr);
  if (mfn === null) return { via, write, outcome: 'fault', mfn: null, owner: null };
  return { via, write, outcome: 'landed', mfn, owner: host.frameOwner(world, mfn) };
}

/** The GPU's view of GGTT entry `index`: the vGPU's host entry inside its ranges, the host's outside. */
export function ggttEntryForGpu<W extends GvtWorld>(
  world: W,
  config: GvtConfig,
  hostGgtt: HostGgtt<W>,
  index: number,
): ShadowPte {
  const vgpu = world.vgpu;
  if (vgpu !== null && ownsGgttIndex(config.layout, index)) return vgpu.ggttHost[index] ?? { kind: 'scratch' };
  return hostGgtt.hostGgttEntry(world, index);
}

/**
 * A PPGTT walk from the shadow root: the leaf shadow entry, or scratch where a level is not
 * present. A 2M shadow PDE is the leaf: page `ptIndex` of its mapping; a split one's table gives
 * its entry `ptIndex`.
 */
export function ppgttLeaf(world: GvtWorld, rootGfn: number, pdIndex: number, ptIndex: number): ShadowPte {
  const spts = world.vgpu?.spts;
  const pde = spts?.[rootGfn]?.entries[pdIndex];
  if (pde?.kind === 'dma' && pde.pages !== undefined) return { kind: 'dma', dmaAddr: pde.dmaAddr + ptIndex };
  if (pde?.kind === 'split2m') return pde.entries[ptIndex] ?? { kind: 'scratch' };
  if (pde?.kind !== 'table') return { kind: 'scratch' };
  return spts?.[pde.gfn]?.entries[ptIndex] ?? { kind: 'scratch' };
}

export function accessDetail(access: GpuAccess): Record<string, number | string | boolean | null> {
  return { landed: access.outcome, mfn: access.mfn, owner: access.owner, write: access.write };
}
