/**
 * Frames of other owners (another VM, the host kernel): a free frame handed to someone else, and
 * given back. This is how a frame VFIO let go of gets reused, which makes "DMA lands in a frame
 * owned by another domain" reachable when a translation outlives its pin.
 */
import { allocFrame, putRef } from '../memory/frames.js';
import type { VfioConfig } from './config.js';
import { attemptAlloc, err, ok, runOp } from './state.js';
import type { VfioResult, VfioState } from './types.js';

export interface OtherOwnerArgs {
  readonly owner: number;
}

export interface OtherFrameArgs {
  readonly mfn: number;
}

/** The next free frame (allocator policy) goes to `owner` with its allocation reference. */
export function allocateToOther(state: VfioState, _config: VfioConfig, args: OtherOwnerArgs): VfioResult {
  return runOp(state, (ctx) => {
    if (!Number.isInteger(args.owner) || args.owner < 0 || args.owner === state.process.owner) return err('EINVAL');
    if (!attemptAlloc(state, ctx)) return err('ENOMEM');
    const mfn = allocFrame(state.memory, args.owner);
    if (mfn === null) return err('ENOMEM');
    state.otherAllocations.push({ owner: args.owner, mfn });
    return ok({ mfn, owner: args.owner });
  });
}

/** The other owner frees `mfn`: its allocation reference goes. */
export function releaseFromOther(state: VfioState, _config: VfioConfig, args: OtherFrameArgs): VfioResult {
  return runOp(state, () => {
    const index = state.otherAllocations.findIndex((allocation) => allocation.mfn === args.mfn);
    const allocation = state.otherAllocations[index];
    if (allocation === undefined) return err('ENOENT');
    // The shared zero page is never freed.
    if (allocation.mfn === state.process.zeroMfn) return err('EPERM');
    state.otherAllocations.splice(index, 1);
    putRef(state.memory, allocation.mfn);
    return ok({ mfn: allocation.mfn, owner: allocation.owner });
  });
}
