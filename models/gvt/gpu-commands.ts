/**
 * The GPU's side of a stack's commands, the same for every hypervisor: an access through a GGTT
 * entry of the vGPU, an access through one of its PPGTTs, and running its oldest workload. The GPU
 * runs for a vGPU only while it exists and is not in failsafe mode.
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

/** The GPU accesses the page at GGTT index `entry` of the vGPU's graphics memory. */
export function gpuDmaGgtt<W extends GvtWorld>(
  world: W,
  host: GvtHost<W> & HostGgtt<W>,
  config: GvtConfig,
  args: { readonly entry: number; readonly write: boolean },
): GpuStep {
  const refused = refusal(world);
  if (refused !== null) return refused;
  // A graphics address outside the vGPU's ranges never reaches the bus: the scanner refuses it.
  if (!ownsGgttIndex(config.layout, args.entry)) return { result: fail('EFAULT'), accesses: [] };
  const pte = ggttEntryForGpu(world, config, host, args.entry);
  const access = accessThrough(world, host, pte, `ggtt ${args.entry}`, args.write);
  return { result: succeed({ entry: args.entry, ...accessDetail(access) }), accesses: [access] };
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
