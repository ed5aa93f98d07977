/**
 * Latent invariants: what the GPU *could* reach through every leaf shadow entry of the vGPU
 * (its GTT entries and PPGTT shadow leaves), checked whether or not a DMA happens. They pin the
 * root cause, usually in fewer steps than the effect invariants.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { shadowUses } from '../../../models/gvt/views.js';
import { backendP2m, holderParts } from '../reads.js';
import {
  describeHolders,
  describeShadowPlace,
  holderCensus,
  holdersByFrame,
  ownerName,
  reachedFrames,
} from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

/**
 * What a latent check reads: the tables whose leaf entries `reachedFrames` follows (it also notes
 * the guest's entries, unchecked here), the GPU's accesses in flight, and `more` of Xen's parts —
 * or nothing at all while no shadow entry holds a DMA address and no access is in flight: then
 * nothing is reachable and the check holds whatever Xen does, which is so in most states (no
 * vGPU, or only scratch entries).
 */
function reachReads(
  state: XenGtState,
  config: XenGtConfig,
  more: (xen: XenGtState['xen']) => readonly unknown[],
): readonly unknown[] {
  const vgpu = state.vgpu;
  const uses = vgpu === null ? 0 : shadowUses(vgpu, config.gvt, state.guestPages).length;
  if (uses === 0 && !state.inflight.some((op) => op.kind === 'gpuDma')) return [];
  return [vgpu?.ggttHost, vgpu?.spts, state.inflight, ...more(state.xen)];
}

/** What the holders of a frame are counted from, and the frames' owners. */
const holdersAndMemory = (xen: XenGtState['xen']): readonly unknown[] => [xen.memory, ...holderParts(xen)];

export function shadowFrameOwnedByGuest(config: XenGtConfig): XenGtInvariant {
  // Where a DMA address lands (the backend's IOMMU context, or memory itself) and whose it is.
  const translation = (xen: XenGtState['xen']): readonly unknown[] => [
    xen.memory,
    backendP2m(xen, config.backendDomid),
  ];
  return {
    name: 'shadow-frame-owned-by-guest',
    class: 'latent',
    description:
      "every frame reachable through the vGPU's shadow entries, or by a GPU access translated and in flight, is owned by the vGPU's guest",
    reads: (state) => reachReads(state, config, translation),
    check({ after }) {
      for (const { where, mfn } of reachedFrames(after, config)) {
        if (mfn === null) continue;
        const owner = after.xen.memory.frames[mfn]?.owner ?? null;
        if (owner === config.guestDomid) continue;
        const whose = owner === null ? 'free' : `owned by ${ownerName(owner)}`;
        return {
          message: `shadow ${describeShadowPlace(where)} reaches mfn ${mfn}, which is ${whose}`,
          actual: `mfn ${mfn} ${whose}`,
          expected: `owned by dom${config.guestDomid}`,
        };
      }
      return null;
    },
  };
}

export function shadowFrameHeldByBackend(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'shadow-frame-held-by-backend',
    class: 'latent',
    description:
      "every frame reachable through the vGPU's shadow entries, or by a GPU access translated and in flight, is kept alive by a reference of the backend, which the guest cannot drop",
    reads: (state) => reachReads(state, config, holdersAndMemory),
    check({ after }) {
      const reached = reachedFrames(after, config);
      if (reached.length === 0) return null;
      const backendHeld = holderCensus(after.xen).byDomain[config.backendDomid] ?? [];
      for (const { where, mfn } of reached) {
        if (mfn === null || (backendHeld[mfn] ?? 0) > 0) continue;
        const frameHolders = holdersByFrame(after.xen)[mfn] ?? [];
        return {
          message: `shadow ${describeShadowPlace(where)} reaches mfn ${mfn}, held only by ${describeHolders(frameHolders)}`,
          actual: describeHolders(frameHolders),
          expected: `a reference held by the backend dom${config.backendDomid}`,
        };
      }
      return null;
    },
  };
}
