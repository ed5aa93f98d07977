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
 * The entries, pages and sections are the world's (the vGPU's first two entries, the first page of
 * the upper half of RAM, …), as named above in today's world.
 *
 * Left out: GGTT entries 4, 5 and the out-of-range one, other table indices and gfns, 2-byte
 * stores (refused before anything changes), DMA writes (only where an access lands matters),
 * single pages of a section. No symmetry reduction: the key is the whole state.
 */
import { hostGgttIndices, ownGgttIndices } from '../../models/gvt/config.js';
import type { KvmgtWorld } from '../../models/kvmgt/config.js';
import type { KvmgtState } from '../../models/kvmgt/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import type { KvmgtTemplate } from './generators.js';

const ggtt8 = { present: true, sizeBytes: 8, offsetBytes: 0 } as const;
const pte8 = { present: true, sizeBytes: 8 } as const;

/**
 * The scope's commands in `world` (in today's: GGTT entries 2 and 3, table pages 0 and 1, the
 * batch and surface pages 4 and 5, RAM sections at 0 and 4, the host's entry 0).
 */
function templatesOf(world: KvmgtWorld): { templates: KvmgtTemplate[]; description: string } {
  const own = ownGgttIndices(world.layout);
  const [first = 0, second = first] = own;
  const host = hostGgttIndices(world.layout)[0] ?? 0;
  const ram = world.ramPages;
  const surface = Math.floor(ram / 2);
  const next = Math.min(surface + 1, ram - 1);
  const table = Math.min(1, ram - 1);
  const sectionPages = world.ramSectionPages;
  const sections = [...new Set([0, surface - (surface % sectionPages)])];
  const templates: KvmgtTemplate[] = [
    { kind: 'ggttWrite', index: first, gfn: 0, ...ggtt8 },
    { kind: 'ggttWrite', index: first, gfn: surface, ...ggtt8 },
    { kind: 'ggttWrite', index: second, gfn: 0, ...ggtt8 },
    { kind: 'ggttWrite', index: first, gfn: 0, present: false, sizeBytes: 8, offsetBytes: 0 },
    { kind: 'ggttWrite', index: first, gfn: 0, present: true, sizeBytes: 4, offsetBytes: 0 },
    { kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: table, ...pte8 },
    { kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: 0, present: false, sizeBytes: 8 },
    { kind: 'guestWritePte', gfn: table, index: 0, targetGfn: surface, ...pte8 },
    { kind: 'guestWritePte', gfn: table, index: 0, targetGfn: next, present: true, sizeBytes: 4 },
    { kind: 'guestWriteCmd', gfn: surface, index: 0, op: 'store', ggttIndex: first },
    { kind: 'guestWriteCmd', gfn: surface, index: 0, op: 'store', ggttIndex: host },
    { kind: 'guestWriteCmd', gfn: surface, index: 0, op: 'forbidden', ggttIndex: first },
    { kind: 'ppgttCreate', rootGfn: 0 },
    { kind: 'ppgttDestroy', rootGfn: 0 },
    { kind: 'submitBatch', ggttIndex: first },
    { kind: 'gpuExecute' },
    { kind: 'gpuDma', entry: first, write: false },
    { kind: 'gpuDma', entry: second, write: false },
    { kind: 'gpuDmaPpgtt', rootGfn: 0, pdIndex: 0, ptIndex: 0, write: false },
    ...sections.flatMap((gfn): KvmgtTemplate[] => [
      { kind: 'vmmUnmapRam', gfn, npages: sectionPages },
      { kind: 'vmmMapRam', gfn, npages: sectionPages },
      { kind: 'vmmUnplugRam', gfn, npages: sectionPages },
      { kind: 'vmmPlugRam', gfn, npages: sectionPages },
    ]),
    { kind: 'otherVmAllocate' },
    { kind: 'otherVmRelease', mfn: { pick: 0 } },
    { kind: 'vgpuDestroy' },
    { kind: 'vgpuCreate' },
    { kind: 'vmDestroy' },
  ];
  const span = (start: number, pages: number): string => `${start}-${start + pages - 1}`;
  const description = `KVMGT: GGTT entries ${first}-${second} written (8-byte, cleared, a 4-byte half), the guest's page tables at gfns 0-${table} and a batch command at gfn ${surface}, PPGTT create/destroy at gfn 0, submission and execution, GPU reads through entries ${first}-${second} and the PPGTT, the VMM's RAM sections ${sections.map((gfn) => span(gfn, sectionPages)).join(' and ')}, another VM's allocations, vGPU and VM lifecycle (${templates.length} commands per state, no symmetry reduction)`;
  return { templates, description };
}

/** The scope in `world`. */
export function kvmgtExploreScope(world: KvmgtWorld): ExploreScope<KvmgtState, KvmgtTemplate> {
  const { templates, description } = templatesOf(world);
  return {
    description,
    templates: () => templates,
    key: (state) => stableJson(state),
  };
}
