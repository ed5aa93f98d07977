/**
 * Views of the KVMGT state the invariants share: every leaf shadow entry of the vGPU with the
 * frame it reaches through the host IOMMU domain, the frames the container pins, and owner names.
 */
import { DMA_POOL_BASE, HOST_OWNER, OTHER_OWNER, VM_OWNER } from '../../models/kvmgt/config.js';
import type { KvmgtConfig } from '../../models/kvmgt/config.js';
import type { KvmgtState } from '../../models/kvmgt/types.js';
import { shadowReach } from '../../models/gvt/views.js';
import type { ReachedFrame } from '../../models/gvt/views.js';
import { kvmgtHost } from '../../models/kvmgt/host.js';
import { type1Backend } from '../../models/vfio/state.js';

const reachCache = new WeakMap<KvmgtState, ReachedFrame[]>();

/**
 * Every leaf shadow entry of the vGPU and where a GPU access through it lands, and every GPU
 * access in flight (its walk done, the DMA address in the GPU's TLB) and where it would land now
 * (memoised per state).
 */
export function reachedFrames(state: KvmgtState, config: KvmgtConfig): ReachedFrame[] {
  const cached = reachCache.get(state);
  if (cached !== undefined) return cached;
  const host = kvmgtHost(config);
  const reached = [
    ...shadowReach(state, config.gvt, host),
    ...state.inflight.flatMap((op): ReachedFrame[] =>
      op.kind === 'gpuDmaPpgtt'
        ? [
            {
              where: `GPU access in flight (${op.via})`,
              dmaAddr: op.dmaAddr,
              guestGfn: null,
              mfn: host.translate(state, op.dmaAddr),
            },
          ]
        : [],
    ),
  ];
  reachCache.set(state, reached);
  return reached;
}

/** Frames with an external pin (`vfio_pfn`) in the container. */
export function pinnedFrames(state: KvmgtState): Set<number> {
  const pinned = new Set<number>();
  for (const dma of type1Backend(state.vfio)?.dmas ?? []) {
    for (const pin of Object.values(dma.externalPins)) pinned.add(pin.mfn);
  }
  return pinned;
}

/** DMA addresses of the host domain that are the mediator's: its pool's, above the host's own GGTT pages. */
export function mediatorDmaAddrs(state: KvmgtState): number[] {
  return Object.keys(state.hostDma.map)
    .map(Number)
    .filter((dmaAddr) => dmaAddr >= DMA_POOL_BASE);
}

export function ownerName(owner: number | null): string {
  switch (owner) {
    case null:
      return 'nobody (free)';
    case VM_OWNER:
      return 'the VM';
    case OTHER_OWNER:
      return 'another VM';
    case HOST_OWNER:
      return "the host's GPU driver";
    default:
      return `owner ${owner}`;
  }
}

export function hex(value: number): string {
  return `0x${value.toString(16)}`;
}
