/**
 * Effect invariants of the VFIO stacks: where device accesses actually landed, and whether the
 * host survived. They show the concrete exploit.
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { DmaAccess, VfioResult, VfioState } from '../../../models/vfio/types.js';
import type { Invariant, Transition } from '../../../src/design.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

function landed(transition: Transition<VfioState, VfioCommand>): DmaAccess[] {
  const accesses = (transition.result as VfioResult | null)?.accesses ?? [];
  return accesses.filter((access) => access.outcome === 'landed');
}

function ownerName(owner: number | null): string {
  return owner === null ? 'free' : `owner ${owner}`;
}

export const noDmaToForeignFrame: VfioInvariant = {
  name: 'no-dma-to-foreign-frame',
  class: 'effect',
  description: "a device access never lands in a frame owned by someone other than the guest's VMM",
  check(transition) {
    const vm = transition.after.process.owner;
    const hit = landed(transition).find((access) => access.owner !== null && access.owner !== vm);
    if (hit === undefined) return null;
    return {
      message: `device ${hit.deviceId} ${hit.write ? 'wrote' : 'read'} address page ${hit.addressPage}, landing in mfn ${String(hit.mfn)} of ${ownerName(hit.owner)}`,
      actual: `mfn ${String(hit.mfn)} of ${ownerName(hit.owner)}`,
      expected: `a frame of the guest (owner ${vm})`,
    };
  },
};

export const noDmaToFreeFrame: VfioInvariant = {
  name: 'no-dma-to-free-frame',
  class: 'effect',
  description: 'a device access never lands in a free frame',
  check(transition) {
    const hit = landed(transition).find((access) => access.owner === null);
    if (hit === undefined) return null;
    return {
      message: `device ${hit.deviceId} ${hit.write ? 'wrote' : 'read'} address page ${hit.addressPage}, landing in free mfn ${String(hit.mfn)}`,
      actual: `mfn ${String(hit.mfn)} free`,
      expected: `a frame of the guest (owner ${transition.after.process.owner})`,
    };
  },
};

export const noKernelCrash: VfioInvariant = {
  name: 'no-kernel-crash',
  class: 'effect',
  description: 'the host never hits the type1 BUG_ON (a driver kept pins through a dma_unmap callback)',
  check({ after }) {
    const crash = after.crash;
    if (crash === null) return null;
    return {
      message: `kernel BUG_ON in ${crash.where}: ${crash.reason}`,
      actual: `${crash.externalPins} external pins left at iova page ${crash.iovaPage}`,
      expected: 'the driver unpins every page of the range in its dma_unmap callback',
    };
  },
};
