/**
 * Read-only views of the mediator's state for invariants and reports: every shadow entry the GPU
 * can use (host GGTT entries of the vGPU's ranges, PPGTT shadow leaves) and who uses each DMA
 * address. Reference: docs/reference/gvt-kvmgt.md §4.9.
 */
import type { GvtConfig } from './config.js';
import { ownGgttIndices } from './config.js';
import type { GvtHost } from './host.js';
import { dmaLeaves } from './huge2m.js';
import { guestLeafGfn } from './ips64k.js';
import type { GuestPage, GvtVgpu, GvtWorld } from './types.js';
import { pairMemo } from '../pair-memo.js';

/** A leaf shadow entry holding a DMA address, with where it is. */
export interface ShadowUse {
  /** `ggtt 3`, or `spt gfn 2 [1]`. */
  readonly where: string;
  readonly dmaAddr: number;
  /** The guest page the guest's entry at the same place names now, when the entry is present. */
  readonly guestGfn: number | null;
}

// Keyed on the vGPU and the guest's pages, which a step hands back unchanged unless it changed
// them: the invariants after a step of the hypervisor alone reuse the last state's uses.
const usesMemo = pairMemo<
  GvtVgpu,
  Readonly<Record<string, GuestPage>>,
  { config: GvtConfig; uses: readonly ShadowUse[] }
>();

/**
 * Every leaf shadow entry that holds a DMA address, GGTT first, then spts by gfn (memoized: call
 * it on finished states only).
 */
export function shadowUses(
  vgpu: GvtVgpu,
  config: GvtConfig,
  guestPages: Readonly<Record<string, GuestPage>>,
): readonly ShadowUse[] {
  const known = usesMemo(vgpu, guestPages, () => ({ config, uses: collectShadowUses(vgpu, config, guestPages) }));
  return known.config === config ? known.uses : collectShadowUses(vgpu, config, guestPages);
}

function collectShadowUses(
  vgpu: GvtVgpu,
  config: GvtConfig,
  guestPages: Readonly<Record<string, GuestPage>>,
): ShadowUse[] {
  const uses: ShadowUse[] = [];
  for (const index of ownGgttIndices(config.layout)) {
    const pte = vgpu.ggttHost[index];
    if (pte?.kind !== 'dma') continue;
    const guest = vgpu.ggttGuest[index];
    uses.push({ where: `ggtt ${index}`, dmaAddr: pte.dmaAddr, guestGfn: guest?.present === true ? guest.gfn : null });
  }
  for (const spt of Object.values(vgpu.spts)) {
    spt.entries.forEach((pte, index) => {
      const guestGfn = guestLeafGfn(spt, guestPages[spt.gfn], index, config.layout);
      // A 2M entry whole is one use; split, each of its table's entries is one, of its own page.
      for (const leaf of dmaLeaves(pte)) {
        const where = `spt gfn ${spt.gfn} [${index}]${pte.kind === 'split2m' ? `[${leaf.page}]` : ''}`;
        const pageGfn = guestGfn === null || pte.kind !== 'split2m' ? guestGfn : guestGfn + leaf.page;
        uses.push({ where, dmaAddr: leaf.dmaAddr, guestGfn: pageGfn });
      }
    });
  }
  return uses;
}

/** A leaf shadow entry and where a GPU access through it lands. */
export interface ReachedFrame extends ShadowUse {
  /** The frame the hypervisor translates the DMA address to, or null (an IOMMU fault). */
  readonly mfn: number | null;
}

/** Every leaf shadow entry of the vGPU and the frame a GPU access through it reaches now. */
export function shadowReach<W extends GvtWorld>(
  world: W,
  config: GvtConfig,
  host: Pick<GvtHost<W>, 'translate'>,
): ReachedFrame[] {
  if (world.vgpu === null) return [];
  return shadowUses(world.vgpu, config, world.guestPages).map((use) => ({
    ...use,
    mfn: host.translate(world, use.dmaAddr),
  }));
}

/** Shadow entries holding each DMA address. */
export function usersByDmaAddr(uses: readonly ShadowUse[]): Map<number, number> {
  const users = new Map<number, number>();
  for (const use of uses) users.set(use.dmaAddr, (users.get(use.dmaAddr) ?? 0) + 1);
  return users;
}

/** Shadow entries (roots and non-leaf entries) pointing at each spt, by gfn. */
export function sptReferences(vgpu: GvtVgpu): Map<number, number> {
  const references = new Map<number, number>();
  const add = (gfn: number): void => {
    references.set(gfn, (references.get(gfn) ?? 0) + 1);
  };
  for (const mm of vgpu.mms) add(mm.rootGfn);
  for (const spt of Object.values(vgpu.spts)) {
    for (const pte of spt.entries) if (pte.kind === 'table') add(pte.gfn);
  }
  return references;
}
