/**
 * The KVMGT stack's small scope for `dmaprop explore` (exhaustive breadth-first search).
 *
 * The world starts with the vGPU created and its aperture and hidden entries (GGTT 2..5) mapping
 * guest pages 4..7. Covered, from every state, in this order:
 * - the guest's GGTT writes through the trapped BAR: entry 2 to gfn 0 (a page the guest also uses
 *   as a page table) or gfn 4, entry 3 to gfn 0, all 8-byte, entry 2 cleared, and a 4-byte write
 *   of entry 2's low half (the partial path);
 * - the guest's stores into its own RAM: the root table gfn 0 entry 0 pointing at table gfn 1 or
 *   cleared, table gfn 1 entry 0 pointing at gfn 4 (8-byte) or at gfn 5 (4-byte: a partial
 *   write, shadowed at the next flush); a batch command at gfn 4 entry 0, storing to the vGPU's
 *   entry 2 or to the host's entry 0, or forbidden;
 * - PPGTT create and destroy rooted at gfn 0; batch submission through entry 2; the GPU running
 *   the oldest workload, reading through GGTT entries 2 and 3 and through the PPGTT rooted at gfn
 *   0 (directory and table entry 0);
 * - the VMM unmapping, mapping back, unplugging and plugging RAM sections gfn 0..1 and 4..5;
 *   another VM taking a free frame and releasing its first; vGPU destroy and create; VM destroy.
 *
 * Left out: GGTT entries 4, 5 and the out-of-range one, other table indices and gfns, 2-byte
 * stores (refused before anything changes), DMA writes (only where an access lands matters),
 * single pages of a section. No symmetry reduction: the key is the whole state.
 */
import type { KvmgtState } from '../../models/kvmgt/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import type { KvmgtTemplate } from './generators.js';

const ggtt8 = { present: true, sizeBytes: 8, offsetBytes: 0 } as const;
const pte8 = { present: true, sizeBytes: 8 } as const;
const sections = [0, 4] as const;

const templates: readonly KvmgtTemplate[] = [
  { kind: 'ggttWrite', index: 2, gfn: 0, ...ggtt8 },
  { kind: 'ggttWrite', index: 2, gfn: 4, ...ggtt8 },
  { kind: 'ggttWrite', index: 3, gfn: 0, ...ggtt8 },
  { kind: 'ggttWrite', index: 2, gfn: 0, present: false, sizeBytes: 8, offsetBytes: 0 },
  { kind: 'ggttWrite', index: 2, gfn: 0, present: true, sizeBytes: 4, offsetBytes: 0 },
  { kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: 1, ...pte8 },
  { kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: 0, present: false, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: 1, index: 0, targetGfn: 4, ...pte8 },
  { kind: 'guestWritePte', gfn: 1, index: 0, targetGfn: 5, present: true, sizeBytes: 4 },
  { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'store', ggttIndex: 2 },
  { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'store', ggttIndex: 0 },
  { kind: 'guestWriteCmd', gfn: 4, index: 0, op: 'forbidden', ggttIndex: 2 },
  { kind: 'ppgttCreate', rootGfn: 0 },
  { kind: 'ppgttDestroy', rootGfn: 0 },
  { kind: 'submitBatch', ggttIndex: 2 },
  { kind: 'gpuExecute' },
  { kind: 'gpuDma', entry: 2, write: false },
  { kind: 'gpuDma', entry: 3, write: false },
  { kind: 'gpuDmaPpgtt', rootGfn: 0, pdIndex: 0, ptIndex: 0, write: false },
  ...sections.flatMap((gfn): KvmgtTemplate[] => [
    { kind: 'vmmUnmapRam', gfn, npages: 2 },
    { kind: 'vmmMapRam', gfn, npages: 2 },
    { kind: 'vmmUnplugRam', gfn, npages: 2 },
    { kind: 'vmmPlugRam', gfn, npages: 2 },
  ]),
  { kind: 'otherVmAllocate' },
  { kind: 'otherVmRelease', mfn: { pick: 0 } },
  { kind: 'vgpuDestroy' },
  { kind: 'vgpuCreate' },
  { kind: 'vmDestroy' },
];

export const kvmgtExploreScope: ExploreScope<KvmgtState, KvmgtTemplate> = {
  description: `KVMGT: GGTT entries 2-3 written (8-byte, cleared, a 4-byte half), the guest's page tables at gfns 0-1 and a batch command at gfn 4, PPGTT create/destroy at gfn 0, submission and execution, GPU reads through entries 2-3 and the PPGTT, the VMM's RAM sections 0-1 and 4-5, another VM's allocations, vGPU and VM lifecycle (${templates.length} commands per state, no symmetry reduction)`,
  templates: () => templates,
  key: (state) => stableJson(state),
};
