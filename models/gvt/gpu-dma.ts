/**
 * A GPU access through one of the vGPU's PPGTTs, in the two phases it takes on the real bus: the
 * GPU walks the shadow page tables and its TLB keeps the leaf's DMA address (`translate`), and
 * the access reaches the bus later, where the host IOMMU translates the address as it is then
 * (`access`; strict mode: `dma_unmap_page` has invalidated the IOTLB before it returns). In
 * between, the mediator may rewrite the shadow entry and the VMM's UNMAP_DMA may unmap the
 * address: the access then faults, or lands wherever the address has been mapped since.
 *
 * The walk follows a dispatch that flushed the post-shadow entries (`intel_vgpu_flush_post_shadow`,
 * under the vGPU lock); while another operation holds that lock the walk uses the tables as
 * they are (a partially written entry is scratch). Left out: the GPU's TLB invalidation at
 * context switch (an access in flight is the TLB's one stale entry), several engines.
 */
import type { GvtConfig } from './config.js';
import { accessDetail, accessThrough, ppgttLeaf } from './gpu.js';
import type { GvtHost } from './host.js';
import type { GpuDmaOp } from './inflight.js';
import { flushPostShadow } from './ppgtt.js';
import type { GpuAccess, GvtWorld } from './types.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';

export interface PpgttDmaArgs {
  readonly rootGfn: number;
  readonly pdIndex: number;
  readonly ptIndex: number;
  readonly write: boolean;
}

/** A GPU step: its answer and where its accesses landed. */
export interface GpuDmaStep {
  readonly result: OpResult;
  readonly accesses: readonly GpuAccess[];
}

/**
 * The walk: refused without a vGPU (ENODEV), in failsafe mode (EIO), or for a root or index the
 * vGPU has not (EINVAL). A walk that ends on scratch (a level not present) is done: the access
 * reads or writes the scratch page. One that ends on a DMA address leaves the access in flight.
 */
export function startPpgttDma<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  args: PpgttDmaArgs,
  flush: boolean,
): { readonly step: GpuDmaStep; readonly op: GpuDmaOp | null } {
  const refused = (errno: string): { step: GpuDmaStep; op: null } => ({
    step: { result: fail(errno), accesses: [] },
    op: null,
  });
  if (world.vgpu === null) return refused('ENODEV');
  if (world.vgpu.failsafe) return refused('EIO');
  const entries = config.layout.entriesPerTable;
  const validIndex = (index: number): boolean => Number.isInteger(index) && index >= 0 && index < entries;
  if (
    !world.vgpu.mms.some((mm) => mm.rootGfn === args.rootGfn) ||
    !validIndex(args.pdIndex) ||
    !validIndex(args.ptIndex)
  ) {
    return refused('EINVAL');
  }
  // The workload is dispatched: partially written entries are shadowed first.
  if (flush) flushPostShadow(world, host, config);
  const pte = ppgttLeaf(world, args.rootGfn, args.pdIndex, args.ptIndex);
  const via = `ppgtt ${args.rootGfn} [${args.pdIndex}][${args.ptIndex}]`;
  if (pte.kind !== 'dma') {
    const access = accessThrough(world, host, pte, via, args.write);
    return { step: { result: succeed(accessDetail(access)), accesses: [access] }, op: null };
  }
  const op: GpuDmaOp = { kind: 'gpuDmaPpgtt', via, dmaAddr: pte.dmaAddr, write: args.write, phase: 'access' };
  return { step: { result: succeed({ translated: pte.dmaAddr }), accesses: [] }, op };
}

/** The access reaches the bus: the host translates its DMA address now, and it lands (or faults). */
export function landPpgttDma<W extends GvtWorld>(world: W, host: GvtHost<W>, op: GpuDmaOp): GpuDmaStep {
  const access = accessThrough(world, host, { kind: 'dma', dmaAddr: op.dmaAddr }, op.via, op.write);
  return { result: succeed(accessDetail(access)), accesses: [access] };
}
