/**
 * The differential pair's small scope for `dmaprop explore` (exhaustive breadth-first search): one
 * well-behaved guest program run on the shadow and the nested vIOMMU side by side.
 *
 * Covered, from every state, in this order (the search order): the guest driver mapping its first
 * free GIOVA page to GPA page 0 read-only or to GPA page 1 writable, and a two-page writable
 * buffer there to GPA pages 0-1 (at GIOVA pages 1-2 the shadow guest invalidates the covering
 * aligned block 0-3); unmapping its first or second mapped GIOVA page; the device reading at GIOVA
 * pages 0, 1 and 2 and writing at page 0 (a read-only mapping faults the write in both designs);
 * the balloon driver giving back the first or second page it does not hold (a mapped one is
 * refused, EBUSY) and taking back the first one it holds; another owner taking a free frame.
 * Picks resolve against the guest's state, as the generators' do (`../resolve.ts`), so the
 * driver's own refusals are reached too: a map over a live page (EEXIST), of a page the balloon
 * holds (EFAULT).
 *
 * Left out: unmaps of several pages (the frame renaming below needs every UNMAP_DMA to be one
 * page), maps at a GIOVA page other than the first free one and of GPA pages past 1, DMA at GIOVA
 * page 3 and writes elsewhere, ballooning past the second free page.
 *
 * Symmetry: host frames are interchangeable identities, and one renaming applies to both sides at
 * once, since the invariant compares the frames the two sides' DMAs land in. The key renames every
 * frame number (the `mfn` and `frame` fields of VFIO, the IOMMU and the stack, and the allocator's
 * free list, whose order decides the next allocation and is kept) in order of first appearance
 * over a fixed traversal — the shadow side then the nested side, objects by sorted key — then
 * any frame not seen yet by number, and lists each side's frames in the new order. The allocation
 * counter is left out except under the `random` policy, the only one that reads it.
 *
 * Why a renaming changes no step's outcome: the models compare, store and index frames and hand
 * them out in free-list order. Their one use of frame arithmetic is VFIO's coalescing of
 * physically contiguous frames into one IOMMU map or unmap (`models/passthrough/forward.ts`,
 * where contiguity decides the invalidated block), and it needs an ioctl of several pages: every
 * MAP_DMA of both VMMs is one page, and every UNMAP_DMA in this scope is too (a one-page guest
 * unmap in shadow, a balloon request's stage-2 unmap in nested). Superpages need 512 contiguous
 * pages. `test/explore/symmetry.test.ts` checks that renaming both sides commutes with the step.
 */
import type { ViommuPairState } from '../../../models/viommu/pair.js';
import type { ViommuState } from '../../../models/viommu/types.js';
import type { ExploreScope } from '../../../src/design.js';
import { stableJson } from '../../../src/explore.js';
import type { Pick } from '../../pick.js';
import { OTHER_OWNER } from '../../vfio/world.js';
import type { DriverTemplate } from '../resolve.js';

const pick = (index: number): Pick => ({ pick: index });

/** The scope's driver operations, in search order (see the header for what they cover). */
export const differentialExploreTemplates: readonly DriverTemplate[] = [
  { kind: 'map', giovaPage: pick(0), gpaPage: 0, pages: 1, write: false },
  { kind: 'map', giovaPage: pick(0), gpaPage: 1, pages: 1, write: true },
  { kind: 'map', giovaPage: pick(0), gpaPage: 0, pages: 2, write: true },
  { kind: 'unmap', giovaPage: pick(0), pages: 1 },
  { kind: 'unmap', giovaPage: pick(1), pages: 1 },
  { kind: 'dma', giovaPage: 0, write: false },
  { kind: 'dma', giovaPage: 1, write: false },
  { kind: 'dma', giovaPage: 2, write: false },
  { kind: 'dma', giovaPage: 0, write: true },
  { kind: 'balloonOut', gpaPage: pick(0) },
  { kind: 'balloonOut', gpaPage: pick(1) },
  { kind: 'balloonIn', gpaPage: pick(0) },
  { kind: 'allocateToOther', owner: OTHER_OWNER },
];

/** Fields that hold a host frame number wherever they sit in a side's state (the memory's own lists apart). */
const FRAME_FIELDS: ReadonlySet<string> = new Set(['mfn', 'frame']);

type Rename = (mfn: number) => number;

/** `stableJson` of plain data with the number of every frame field renamed. */
function renamedJson(value: unknown, rename: Rename): string {
  if (typeof value !== 'object' || value === null) return stableJson(value);
  if (Array.isArray(value)) return `[${value.map((item: unknown) => renamedJson(item, rename)).join(',')}]`;
  const record = value as Readonly<Record<string, unknown>>;
  const fields: string[] = [];
  for (const field of Object.keys(record).sort()) {
    const item = record[field];
    if (item === undefined || typeof item === 'function') continue;
    const text = FRAME_FIELDS.has(field) && typeof item === 'number' ? String(rename(item)) : renamedJson(item, rename);
    fields.push(`${JSON.stringify(field)}:${text}`);
  }
  return `{${fields.join(',')}}`;
}

/** One side without its frames list: everything else as is, frame numbers renamed, the free list in order. */
function sideKey(side: ViommuState, rename: Rename): string {
  const { memory, ...vfio } = side.host.vfio;
  const rest = renamedJson({ ...side, host: { ...side.host, vfio } }, rename);
  const random = memory.policy === 'random' ? `,${memory.randomSeed},${memory.allocCount}` : '';
  return `${rest}|F${memory.policy}${random}:${memory.freeList.map(rename).join(',')}`;
}

/** The canonical key of a pair state: both sides with their frames renamed by one renaming (see the header). */
export function differentialStateKey(state: ViommuPairState): string {
  const names = new Map<number, number>();
  const rename = (mfn: number): number => {
    let name = names.get(mfn);
    if (name === undefined) {
      name = names.size;
      names.set(mfn, name);
    }
    return name;
  };
  const sides = [state.shadow, state.nested];
  let key = sides.map((side) => sideKey(side, rename)).join('||');
  for (const side of sides) for (const frame of side.host.vfio.memory.frames) rename(frame.mfn);
  // Each side's frames in the order of their new names (Map iteration follows naming order).
  for (const side of sides) {
    key += '|f';
    const frames = side.host.vfio.memory.frames;
    for (const mfn of names.keys()) {
      const frame = frames[mfn];
      key += frame === undefined ? ';?' : `;${frame.owner ?? '-'},${frame.refcount}`;
    }
  }
  return key;
}

export const differentialExploreScope: ExploreScope<ViommuPairState, DriverTemplate> = {
  description: `vIOMMU differential (shadow and nested side by side): maps at the first free GIOVA page (GPA 0 read-only, GPA 1 writable, a two-page buffer at GPA 0-1), one-page unmaps of the first two mapped pages, device reads at GIOVA 0-2 and a write at 0, balloon out of the first two pages the balloon does not hold and in of the first it holds, another owner's allocation; no multi-page unmaps (${differentialExploreTemplates.length} commands per state; frames renamed by one renaming of both sides)`,
  templates: () => differentialExploreTemplates,
  key: differentialStateKey,
};
