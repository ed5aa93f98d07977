/**
 * Effect invariants of the passthrough stack over iommufd: where the devices' accesses landed — an
 * assigned device's DMA through VT-d, an access driver's DMA into a page it pinned, and
 * `iommufd_access_rw`'s copy — and whether the kernel warned. They show the concrete exploit.
 */
import type { IommufdPtCommand, IommufdPtState } from '../../../models/iommufd-pt/types.js';
import type { Invariant, Transition } from '../../../src/design.js';

export type IommufdPtInvariant = Invariant<IommufdPtState, IommufdPtCommand>;

interface Landing {
  readonly who: string;
  readonly mfn: number;
  readonly owner: number | null;
}

function who(command: IommufdPtCommand): string {
  if (command.kind === 'deviceDma')
    return `device ${command.deviceIndex}'s DMA ${command.write ? 'write' : 'read'} at iova page ${command.iovaPage}`;
  if (command.kind === 'accessDma')
    return `access ${command.accessId}'s driver ${command.write ? 'write' : 'read'} at iova page ${command.iovaPage}`;
  return `access ${'accessId' in command ? command.accessId : '?'}'s iommufd_access_rw`;
}

/** The frames the step's device accesses landed in, with their owner then. */
export function landings(transition: Transition<IommufdPtState, IommufdPtCommand>): Landing[] {
  const { command, result, after } = transition;
  if (command === null || result === null || !result.ok) return [];
  if (command.kind === 'deviceDma' || command.kind === 'accessDma') {
    const mfn = result.detail?.['mfn'];
    if (result.detail?.['outcome'] !== 'landed' || typeof mfn !== 'number') return [];
    const owner = result.detail['owner'];
    return [{ who: who(command), mfn, owner: typeof owner === 'number' ? owner : null }];
  }
  if (command.kind === 'accessRw') {
    const mfns = String(result.detail?.['mfns'] ?? '');
    if (mfns === '') return [];
    return mfns.split(',').map((text) => {
      const mfn = Number(text);
      return { who: who(command), mfn, owner: after.iommufd.memory.frames[mfn]?.owner ?? null };
    });
  }
  return [];
}

export const noDmaToForeignFrame: IommufdPtInvariant = {
  name: 'no-dma-to-foreign-frame',
  class: 'effect',
  description: "a device access never lands in a frame owned by someone other than the guest's VMM",
  check(transition) {
    const vm = transition.after.iommufd.process.owner;
    const hit = landings(transition).find((landing) => landing.owner !== null && landing.owner !== vm);
    if (hit === undefined) return null;
    return {
      message: `${hit.who} landed in mfn ${hit.mfn} of owner ${String(hit.owner)}`,
      actual: `mfn ${hit.mfn} of owner ${String(hit.owner)}`,
      expected: `a frame of the guest (owner ${vm})`,
    };
  },
};

export const noDmaToFreeFrame: IommufdPtInvariant = {
  name: 'no-dma-to-free-frame',
  class: 'effect',
  description: 'a device access never lands in a free frame',
  check(transition) {
    const hit = landings(transition).find((landing) => landing.owner === null);
    if (hit === undefined) return null;
    return {
      message: `${hit.who} landed in free mfn ${hit.mfn}`,
      actual: `mfn ${hit.mfn} free`,
      expected: `a frame of the guest (owner ${transition.after.iommufd.process.owner})`,
    };
  },
};

/**
 * iopt_unmap_iova_range answers EDEADLOCK only past `WARN_ON(tries > 100)`: an access kept its pins
 * through every unmap callback. A kernel warning is a bug of whoever caused it, whatever the design.
 */
export const noKernelWarning: IommufdPtInvariant = {
  name: 'no-kernel-warning',
  class: 'effect',
  description:
    'the host never hits the WARN_ON of iopt_unmap_iova_range (an access kept its pins through the unmap callback: EDEADLOCK)',
  check({ command, result }) {
    if (command === null || result === null || result.error !== 'EDEADLOCK') return null;
    return {
      message: `${command.kind} warned in iopt_unmap_iova_range: an access still pins the area after its unmap callback`,
      actual: 'EDEADLOCK (WARN_ON)',
      expected: 'every access unpins what it pinned in the range when notified',
    };
  },
};
