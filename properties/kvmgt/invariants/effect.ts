/**
 * Effect invariants of the KVMGT stack: where the GPU's accesses for the vGPU actually landed.
 */
import { VM_OWNER } from '../../../models/kvmgt/config.js';
import type { KvmgtCommand, KvmgtState } from '../../../models/kvmgt/types.js';
import type { Invariant } from '../../../src/design.js';
import { gpuAccessesOf } from '../../gvt/invariants.js';
import { ownerName } from '../views.js';

type KvmgtInvariant = Invariant<KvmgtState, KvmgtCommand>;

export const noDmaToForeignFrame: KvmgtInvariant = {
  name: 'no-dma-to-foreign-frame',
  class: 'effect',
  description: 'a GPU access for the vGPU never lands in a frame owned by anyone but its VM',
  check({ result }) {
    const hit = gpuAccessesOf(result).find(
      (access) => access.outcome === 'landed' && access.owner !== null && access.owner !== VM_OWNER,
    );
    if (hit === undefined) return null;
    return {
      message: `GPU ${hit.write ? 'write' : 'read'} through ${hit.via} landed in mfn ${String(hit.mfn)}, owned by ${ownerName(hit.owner)}`,
      actual: `mfn ${String(hit.mfn)} owned by ${ownerName(hit.owner)}`,
      expected: 'a frame owned by the VM',
    };
  },
};

export const noDmaToFreeFrame: KvmgtInvariant = {
  name: 'no-dma-to-free-frame',
  class: 'effect',
  description: 'a GPU access for the vGPU never lands in a free frame',
  check({ result }) {
    const hit = gpuAccessesOf(result).find((access) => access.outcome === 'landed' && access.owner === null);
    if (hit === undefined) return null;
    return {
      message: `GPU ${hit.write ? 'write' : 'read'} through ${hit.via} landed in free mfn ${String(hit.mfn)}`,
      actual: `mfn ${String(hit.mfn)} free`,
      expected: 'a frame owned by the VM',
    };
  },
};
