/**
 * Latent invariants: what the GPU *could* reach, checked whether or not a DMA happens. They pin
 * the root cause, usually in fewer steps than the effect invariants.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { describeHolders, holdersByFrame, ownerName, reachableFrames } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

export function shadowFrameOwnedByGuest(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'shadow-frame-owned-by-guest',
    class: 'latent',
    description: "every frame reachable through the shadow GTT is owned by the vGPU's guest",
    check({ after }) {
      const guestDomid = after.vgpu?.domid;
      for (const { entry, mfn } of reachableFrames(after, config)) {
        const owner = after.xen.memory.frames[mfn]?.owner ?? null;
        if (owner === guestDomid) continue;
        return {
          message: `shadow GTT entry ${entry} reaches mfn ${mfn}, which is ${owner === null ? 'free' : `owned by ${ownerName(owner)}`}`,
          actual: `mfn ${mfn} ${owner === null ? 'free' : `owned by ${ownerName(owner)}`}`,
          expected: `owned by dom${String(guestDomid)}`,
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
      'every frame reachable through the shadow GTT is kept alive by a reference of the backend, which the guest cannot drop',
    check({ after }) {
      const reachable = reachableFrames(after, config);
      if (reachable.length === 0) return null;
      const holders = holdersByFrame(after.xen);
      for (const { entry, mfn } of reachable) {
        const frameHolders = holders[mfn] ?? [];
        if (frameHolders.some((holder) => holder.domid === config.backendDomid)) continue;
        return {
          message: `shadow GTT entry ${entry} reaches mfn ${mfn}, held only by ${describeHolders(frameHolders)}`,
          actual: describeHolders(frameHolders),
          expected: `a reference held by the backend dom${config.backendDomid}`,
        };
      }
      return null;
    },
  };
}
