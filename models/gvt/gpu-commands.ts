/**
 * The GPU's side of a stack's commands, the same for every hypervisor: an access through a GGTT
 * entry of the vGPU, an access through one of its PPGTTs, and running its oldest workload. The GPU
 * runs for a vGPU only while it exists and is not in failsafe mode.
 *
 * An access through the GGTT has two phases for stacks that model it taking time: the command is
 * fetched and its address translated (`translateGgttDma`: host entry → DMA address → frame, the
 * IOTLB filled), and the write or read lands in that frame later (`landGgttDma`). `gpuDmaGgtt`
 * runs both at once, exactly as before the split. The PPGTT access and the workload stay atomic.
 */
import { executeWorkload } from './cmd.js';
import type { GvtConfig } from './config.js';
import { ownsGgttIndex } from './config.js';
import { accessDetail, accessThrough, ggttEntryForGpu, ppgttLeaf } from './gpu.js';
import type { HostGgtt } from './gpu.js';
import type { GvtHost } from './host.js';
import { flushPostShadow } from './ppgtt.js';
import type { GpuAccess, GvtWorld } from './types.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';

export interface GpuStep {
  readonly result: OpResult;
  readonly accesses: readonly GpuAccess[];
}

/** ENODEV without a vGPU, EIO in failsafe mode, else null: the GPU may run for the vGPU. */
function refusal(world: GvtWorld): GpuStep | null {
  if (world.vgpu === null) return { result: fail('ENODEV'), accesses: [] };
  if (world.vgpu.failsafe) return { result: fail('EIO'), accesses: [] };
  return null;
}

export function gpuExecute<W extends GvtWorld>(world: W, host: GvtHost<W> & HostGgtt<W>, config: GvtConfig): GpuStep {
  return refusal(world) ?? executeWorkload(world, host, config, host);
}

/**
 * A GPU access through a GGTT entry, translated and not yet landed: what the command fetch found
 * (the host entry, its DMA address and the frame that address translated to then), for the access
 * to land in later. Plain data.
 */
export interface GgttDmaInFlight {
  readonly entry: number;
  readonly write: boolean;
  /** `scratch`: the entry was scratch; `fault`: the translation faulted; `translated`: it reached `mfn`. */
  readonly outcome: 'scratch' | 'fault' | 'translated';
  /** The DMA address the host entry held (null for scratch). */
  readonly dmaAddr: number | null;
  /** The frame the DMA address translated to (null unless translated). */
  readonly mfn: number | null;
}

/**
 * Phase 1 of a GPU access through GGTT index `entry`: the command is fetched and its graphics
 * address translated — the vGPU's host entry, its DMA address, the frame the hypervisor's
 * translation gives now. A refusal (no vGPU, failsafe, an address outside the vGPU) is final.
 */
export function translateGgttDma<W extends GvtWorld>(
  world: W,
  host: GvtHost<W> & HostGgtt<W>,
  config: GvtConfig,
  args: { readonly entry: number; readonly write: boolean },
): { readonly refused: GpuStep } | { readonly inflight: GgttDmaInFlight } {
  const refused = refusal(world);
  if (refused !== null) return { refused };
  // A graphics address outside the vGPU's ranges never reaches the bus: the scanner refuses it.
  if (!ownsGgttIndex(config.layout, args.entry)) return { refused: { result: fail('EFAULT'), accesses: [] } };
  const pte = ggttEntryForGpu(world, config, host, args.entry);
  const base = { entry: args.entry, write: args.write };
  if (pte.kind !== 'dma') return { inflight: { ...base, outcome: 'scratch', dmaAddr: null, mfn: null } };
  const mfn = host.translate(world, pte.dmaAddr);
  if (mfn === null) return { inflight: { ...base, outcome: 'fault', dmaAddr: pte.dmaAddr, mfn: null } };
  return { inflight: { ...base, outcome: 'translated', dmaAddr: pte.dmaAddr, mfn } };
}

/** Phase 2: the access lands in the frame it was translated to; the frame's owner is read now. */
export function landGgttDma<W extends GvtWorld>(
  world: W,
  host: Pick<GvtHost<W>, 'frameOwner'>,
  inflight: GgttDmaInFlight,
): GpuAccess {
  const { write, mfn } = inflight;
  const via = `ggtt ${inflight.entry}`;
  if (inflight.outcome === 'scratch') return { via, write, outcome: 'scratch', mfn: null, owner: null };
  if (inflight.outcome === 'fault' || mfn === null) return { via, write, outcome: 'fault', mfn: null, owner: null };
  return { via, write, outcome: 'landed', mfn, owner: host.frameOwner(world, mfn) };
}

/** A landed (or refused, scratch, faulted) GGTT access as a step reports it. */
export function ggttDmaStep(entry: number, access: GpuAccess): GpuStep {
  return { result: succeed({ entry, ...accessDetail(access) }), accesses: [access] };
}

/** The GPU accesses the page at GGTT index `entry` of the vGPU's graphics memory: both phases at once. */
export function gpuDmaGgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W> & HostGgtt<W>,
  config: GvtConfig,
  args: { readonly entry: number; readonly write: boolean },
): GpuStep {
  const translated = translateGgttDma(world, host, config, args);
  if ('refused' in translated) return translated.refused;
  return ggttDmaStep(args.entry, landGgttDma(world, host, translated.inflight));
}

/** The GPU accesses a page through the PPGTT rooted at `rootGfn`, after the post-shadow flush. */
export function gpuDmaPpgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: { readonly rootGfn: number; readonly pdIndex: number; readonly ptIndex: number; readonly write: boolean },
): GpuStep {
  const refused = refusal(world);
  if (refused !== null) return refused;
  const entries = config.layout.entriesPerTable;
  const validIndex = (index: number): boolean => Number.isInteger(index) && index >= 0 && index < entries;
  if (
    !world.vgpu?.mms.some((mm) => mm.rootGfn === args.rootGfn) ||
    !validIndex(args.pdIndex) ||
    !validIndex(args.ptIndex)
  ) {
    return { result: fail('EINVAL'), accesses: [] };
  }
  // The workload is dispatched: partially written entries are shadowed first.
  flushPostShadow(world, host, config);
  const pte = ppgttLeaf(world, args.rootGfn, args.pdIndex, args.ptIndex);
  const via = `ppgtt ${args.rootGfn} [${args.pdIndex}][${args.ptIndex}]`;
  const access = accessThrough(world, host, pte, via, args.write);
  return { result: succeed(accessDetail(access)), accesses: [access] };
}
