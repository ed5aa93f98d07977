/**
 * Latent invariants: what the GPU *could* reach through every leaf shadow entry of the vGPU
 * (its GTT entries and PPGTT shadow leaves), checked whether or not a DMA happens. They pin the
 * root cause, usually in fewer steps than the effect invariants.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { backendP2m, holderParts } from '../reads.js';
import { describeHolders, describeShadowPlace, holdersByFrame, ownerName, reachedFrames } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

export function shadowFrameOwnedByGuest(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'shadow-frame-owned-by-guest',
    class: 'latent',
    description: "every frame reachable through the vGPU's shadow entries is owned by the vGPU's guest",
    reads: (state) => [state.vgpu, state.guestPages, state.xen.memory, backendP2m(state.xen, config.backendDomid)],
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
      "every frame reachable through the vGPU's shadow entries is kept alive by a reference of the backend, which the guest cannot drop",
    reads: (state) => [state.vgpu, state.guestPages, state.xen.memory, ...holderParts(state.xen)],
    check({ after }) {
      const reached = reachedFrames(after, config);
      if (reached.length === 0) return null;
      const holders = holdersByFrame(after.xen);
      for (const { where, mfn } of reached) {
        if (mfn === null) continue;
        const frameHolders = holders[mfn] ?? [];
        if (frameHolders.some((holder) => holder.domid === config.backendDomid)) continue;
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
