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
 *   another VM taking a free frame and releasing its first; vGPU destroy and create; VM destroy;
 * - fault injection: the first `dma_map_page`, `__gvt_cache_add` or `kvm_write_track_add_gfn` of
 *   each later command fails (the unwinds `models/kvmgt/fault.ts` describes);
 * - operations that take time, started and left in flight: the 8-byte GGTT writes of entry 2 naming
 *   gfn 0 (a DMA cache miss) and gfn 4 (a hit), the two 8-byte page-table stores that
 *   name a page (gfn 0 entry 0 → table gfn 1, table gfn 1 entry 0 → gfn 4), PPGTT create at gfn
 *   0, submission through entry 2 (unless scanned in place) and the GPU's read through the PPGTT;
 *   and the next phase of each operation in flight.
 *
 * The entries, pages and sections are the world's (the vGPU's first two entries, the first page of
 * the upper half of RAM, …), as named above in today's world.
 *
 * Left out: the pin fault point, later counts, clearing a fault; GGTT entries 4, 5 and the out-of-range one, other table indices and gfns, 2-byte
 * stores (refused before anything changes), DMA writes (only where an access lands matters),
 * single pages of a section; started forms of the other stores (a store that clears or half
 * writes an entry translates nothing: its handler has no window).
 *
 * Symmetry: which vCPU runs each operation in flight is left out of the key (a guest command runs
 * on the first idle vCPU, and the vCPUs are interchangeable), and host frames are renamed in order
 * of first appearance (`../generic/frame-symmetry.ts`): VFIO's fields (`../vfio/explore-scope.ts`)
 * and the frame each DMA address of the host's domain maps to. KVMGT pins and maps 4K pages one at
 * a time through VFIO and the host's DMA domain, compares frames and owners, and takes frames in
 * free-list order (kept); the huge page behind guest RAM is laid out at creation. Not with the
 * `2m` part: a 2M entry pins 512 (here `pages2M`) guest pages and checks that their frames are
 * consecutive (`models/gvt/huge2m.ts`, `pinnedContiguous`), then maps the DMA range to `base +
 * page` (`models/kvmgt/host.ts`, `dmaMap`), so the layout of frames decides the outcome: that scope
 * keys the whole state. DMA addresses are not renamed: the host's GGTT entries name fixed ones of
 * the world (`KvmgtWorld.hostGgttDmaAddrs`, written back by the GGTT reset), and a 64K or 2M map
 * takes a run of consecutive ones (`takeDmaAddrs`). gfns, GGTT indices and table indices are
 * guest addresses the templates name. The renaming merges few states here (about 5% at depth 3:
 * frames change hands only through the VMM's RAM sections and another VM's allocations).
 *
 * The fingerprint is written from the state's own words (`./state-words.ts`, issue 23: the generic
 * walk over `kvmgtFrameSplit` was two fifths of the search), renaming the same frames, with the
 * same partition as the key's.
 */
import { pages2M } from '../../models/gvt/huge2m.js';
import { hostGgttIndices, ownGgttIndices } from '../../models/gvt/config.js';
import type { GvtOp } from '../../models/gvt/inflight.js';
import type { KvmgtConfig, KvmgtWorld } from '../../models/kvmgt/config.js';
import type { KvmgtState } from '../../models/kvmgt/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { FrameSymmetry } from '../generic/frame-symmetry.js';
import type { FrameSplit } from '../generic/frame-symmetry.js';
import { vfioFrameFields } from '../vfio/explore-scope.js';
import { kvmgtPhases } from './generators.js';
import { kvmgtStateFingerprint } from './state-words.js';
import type { KvmgtTemplate } from './generators.js';
import { ADVANCE } from '../generic/interleave.js';

const ggtt8 = { present: true, sizeBytes: 8, offsetBytes: 0 } as const;
const pte8 = { present: true, sizeBytes: 8 } as const;

/**
 * The scope's commands in `world` (in today's: GGTT entries 2 and 3, table pages 0 and 1, the
 * batch and surface pages 4 and 5, RAM sections at 0 and 4, the host's entry 0).
 */
function templatesOf(
  world: KvmgtWorld,
  config: Pick<KvmgtConfig, 'unmapLock' | 'gvt'>,
  parts: readonly KvmgtScopePart[],
): { templates: KvmgtTemplate[]; started: KvmgtTemplate[]; description: string } {
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
    // The `64k` part (issue 21): the same directory entry with the IPS bit, so the table is a 64K table.
    ...(parts.includes('64k')
      ? [{ kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: table, ...pte8, ips: true } as const]
      : []),
    // The `2m` part: the directory entry with the PS bit, a 2M page over gfns 0.. (a host huge page
    // in the default world) and over the next range (4K pages).
    ...(parts.includes('2m')
      ? ([0, Math.min(pages2M(world.layout), ram - 1)] as const).map(
          (targetGfn) => ({ kind: 'guestWritePte', gfn: 0, index: 0, targetGfn, ...pte8, pse: true }) as const,
        )
      : []),
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
    // Issue 18: the first DMA map, DMA cache insert or page-track add of each later command fails.
    { kind: 'injectFault', point: 'dmaMap', nth: 1 },
    { kind: 'injectFault', point: 'cacheAdd', nth: 1 },
    { kind: 'injectFault', point: 'trackAdd', nth: 1 },
  ];
  const phases = kvmgtPhases(config);
  const started: KvmgtTemplate[] = [
    { kind: 'ggttWrite', index: first, gfn: 0, ...ggtt8, phased: true },
    { kind: 'ggttWrite', index: first, gfn: surface, ...ggtt8, phased: true },
    { kind: 'guestWritePte', gfn: 0, index: 0, targetGfn: table, ...pte8, phased: true },
    { kind: 'guestWritePte', gfn: table, index: 0, targetGfn: surface, ...pte8, phased: true },
    { kind: 'ppgttCreate', rootGfn: 0, phased: true },
    ...((phases['submitBatch'] ?? 1) > 1 ? [{ kind: 'submitBatch', ggttIndex: first, phased: true } as const] : []),
    { kind: 'gpuDmaPpgtt', rootGfn: 0, pdIndex: 0, ptIndex: 0, write: false, phased: true },
  ];
  const span = (start: number, pages: number): string => `${start}-${start + pages - 1}`;
  const description = `KVMGT: GGTT entries ${first}-${second} written (8-byte, cleared, a 4-byte half), the guest's page tables at gfns 0-${table}${parts.includes('64k') ? ' (the directory entry also with the IPS bit)' : ''}${parts.includes('2m') ? ' (the directory entry also a 2M entry with the PS bit, over gfns 0 and ' + String(pages2M(world.layout)) + ')' : ''} and a batch command at gfn ${surface}, PPGTT create/destroy at gfn 0, submission and execution, GPU reads through entries ${first}-${second} and the PPGTT, the VMM's RAM sections ${sections.map((gfn) => span(gfn, sectionPages)).join(' and ')}, another VM's allocations, vGPU and VM lifecycle, fault injection at the first DMA map, cache insert or page-track add (${templates.length} commands per state), ${started.length} operations started and left in flight, and the next phase of each one in flight (the vCPU running an operation left out of the key${parts.includes('2m') ? '' : ', frames renamed in order of first appearance'})`;
  return { templates, started, description };
}

/**
 * What a design's scope may add to the stack's own, where its flaw is: `64k`, the guest's
 * directory entry with the IPS bit (issue 21), so that the table it names is a 64K table whose
 * entries are split (`models/gvt/ips64k.ts`); `2m`, the guest's directory entry with the PS bit
 * naming a 2M page (`models/gvt/huge2m.ts`) over gfns 0 and the next 2M range. Left out of the others' scope: one more command
 * per state (about 9% more states at depth 3) for every KVMGT comparison of the default tier.
 */
export type KvmgtScopePart = '64k' | '2m';

export const kvmgtScopeParts: readonly KvmgtScopePart[] = ['64k', '2m'];

/**
 * The scope in `world`, for a design's phases and scope parts. `interleavings: false` leaves out
 * the started operations and the advances (the atomic scope, to count what interleavings add).
 */
export function kvmgtExploreScope(
  world: KvmgtWorld,
  config: Pick<KvmgtConfig, 'unmapLock' | 'gvt'>,
  interleavings = true,
  parts: readonly KvmgtScopePart[] = [],
): ExploreScope<KvmgtState, KvmgtTemplate> {
  const { templates, started, description } = templatesOf(world, config, parts);
  const atomic = templates;
  const all = [...templates, ...started];
  return {
    description,
    templates: (state) =>
      interleavings ? [...all, ...state.inflight.map((_, op): KvmgtTemplate => ({ kind: ADVANCE, op }))] : atomic,
    ...(parts.includes('2m')
      ? {
          key: (state) => stableJson({ ...state, inflight: state.inflight.map(withoutVcpu) }),
          // The partitions of `stableFingerprint` of that, and of `kvmgtFrameSymmetry.fingerprint`
          // below, from compact words (`./state-words.ts`).
          fingerprint: (state) => kvmgtStateFingerprint(state, false),
        }
      : {
          key: (state) => kvmgtFrameSymmetry.key(kvmgtFrameSplit(state)),
          fingerprint: (state) => kvmgtStateFingerprint(state, true),
        }),
  };
}

const kvmgtFrameSymmetry = new FrameSymmetry(vfioFrameFields);

/**
 * A KVMGT state as the frame renaming takes it (`../generic/frame-symmetry.ts`): its host memory,
 * and the rest with the vCPUs left out of the operations in flight and each frame the host's DMA
 * domain maps written as an `mfn` field (the map is keyed by DMA address, which is kept).
 */
export function kvmgtFrameSplit(state: KvmgtState): FrameSplit {
  const { memory, ...vfio } = state.vfio;
  const map: Record<string, { readonly mfn: number }> = {};
  for (const [dmaAddr, mfn] of Object.entries(state.hostDma.map)) map[dmaAddr] = { mfn };
  return {
    view: { ...state, vfio, hostDma: { free: state.hostDma.free, map }, inflight: state.inflight.map(withoutVcpu) },
    memory,
  };
}

/** An operation in flight as the key sees it: which vCPU runs it does not matter. */
function withoutVcpu(op: GvtOp): GvtOp {
  return 'vcpu' in op ? { ...op, vcpu: 0 } : op;
}
