/**
 * Effect invariants: what a DMA actually did. They show the concrete exploit.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant, Transition } from '../../../src/design.js';
import { ownerName } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

interface Landing {
  readonly entry: number;
  readonly mfn: number;
  readonly owner: number | null;
  readonly guestDomid: number;
}

/** The frame a GPU DMA of this step landed in, with its owner at that moment. */
function landing(transition: Transition<XenGtState, XenGtCommand>): Landing | null {
  const { before, command, result } = transition;
  if (before === null || command?.kind !== 'gpuDma' || result?.ok !== true) return null;
  const mfn = result.detail?.['mfn'];
  if (typeof mfn !== 'number' || before.vgpu === null) return null;
  const owner = before.xen.memory.frames[mfn]?.owner ?? null;
  return { entry: command.entry, mfn, owner, guestDomid: before.vgpu.domid };
}

export const noDmaToForeignFrame: XenGtInvariant = {
  name: 'no-dma-to-foreign-frame',
  class: 'effect',
  description: "a GPU DMA never lands in a frame owned by a domain other than the vGPU's guest",
  check(transition) {
    const hit = landing(transition);
    if (hit === null || hit.owner === null || hit.owner === hit.guestDomid) return null;
    return {
      message: `GPU DMA through GTT entry ${hit.entry} landed in mfn ${hit.mfn}, owned by ${ownerName(hit.owner)}`,
      actual: `mfn ${hit.mfn} owned by ${ownerName(hit.owner)}`,
      expected: `a frame owned by dom${hit.guestDomid}`,
    };
  },
};

export const noDmaToFreeFrame: XenGtInvariant = {
  name: 'no-dma-to-free-frame',
  class: 'effect',
  description: 'a GPU DMA never lands in a free frame',
  check(transition) {
    const hit = landing(transition);
    if (hit === null || hit.owner !== null) return null;
    return {
      message: `GPU DMA through GTT entry ${hit.entry} landed in free mfn ${hit.mfn}`,
      actual: `mfn ${hit.mfn} free`,
      expected: `a frame owned by dom${hit.guestDomid}`,
    };
  },
};
