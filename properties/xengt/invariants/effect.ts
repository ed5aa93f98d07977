/**
 * Effect invariants: where the GPU's accesses for the vGPU actually landed (through a GTT entry,
 * a PPGTT, or a workload's commands). They show the concrete exploit.
 */
import type { GpuAccess } from '../../../models/gvt/types.js';
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { gpuAccessesOf } from '../../gvt/invariants.js';
import { describeShadowPlace, ownerName } from '../views.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

/** The first access that landed outside the guest's frames: in a free frame, or in another domain's. */
function landedOutside(result: unknown, guestDomid: number, where: 'free' | 'foreign'): GpuAccess | undefined {
  // Checked after every step, most of which report no access: a plain loop, no closure.
  for (const access of gpuAccessesOf(result)) {
    if (access.outcome !== 'landed' || access.owner === guestDomid) continue;
    if ((access.owner === null) === (where === 'free')) return access;
  }
  return undefined;
}

function through(access: GpuAccess): string {
  return `GPU DMA through ${describeShadowPlace(access.via)}`;
}

export function noDmaToForeignFrame(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'no-dma-to-foreign-frame',
    class: 'effect',
    description: "a GPU DMA for the vGPU never lands in a frame owned by a domain other than the vGPU's guest",
    check({ result }) {
      const hit = landedOutside(result, config.guestDomid, 'foreign');
      if (hit === undefined) return null;
      return {
        message: `${through(hit)} landed in mfn ${String(hit.mfn)}, owned by ${ownerName(hit.owner)}`,
        actual: `mfn ${String(hit.mfn)} owned by ${ownerName(hit.owner)}`,
        expected: `a frame owned by dom${config.guestDomid}`,
      };
    },
  };
}

export function noDmaToFreeFrame(config: XenGtConfig): XenGtInvariant {
  return {
    name: 'no-dma-to-free-frame',
    class: 'effect',
    description: 'a GPU DMA for the vGPU never lands in a free frame',
    check({ result }) {
      const hit = landedOutside(result, config.guestDomid, 'free');
      if (hit === undefined) return null;
      return {
        message: `${through(hit)} landed in free mfn ${String(hit.mfn)}`,
        actual: `mfn ${String(hit.mfn)} free`,
        expected: `a frame owned by dom${config.guestDomid}`,
      };
    },
  };
}
