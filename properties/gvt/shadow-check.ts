/**
 * "Shadow == translation of the guest entry" (docs/reference/gvt-kvmgt.md §4.9 inv. 3 and 4), as one view over
 * the mediator's state, shared by the KVMGT and XenGT stacks. A host GGTT entry or a shadow
 * page-table entry may always be scratch (not present, half written, or not mappable); otherwise a
 * leaf must hold the DMA address the cache gives the gfn the guest's entry names now, and a
 * non-leaf must point at the shadow of the table the guest's entry names now. Entries pending a
 * partial write must be scratch. A vGPU in failsafe mode no longer shadows anything and is exempt.
 */
import type { GvtConfig } from '../../models/gvt/config.js';
import { ownGgttIndices } from '../../models/gvt/config.js';
import { entrySlotOf, guestLeafGfn } from '../../models/gvt/ips64k.js';
import { entryPages } from '../../models/gvt/dma-cache.js';
import type { GuestPage, GvtVgpu, ShadowPte } from '../../models/gvt/types.js';

export interface ShadowMismatch {
  readonly where: string;
  readonly guest: string;
  readonly shadow: string;
  readonly expected: string;
}

function describeShadow(pte: ShadowPte): string {
  switch (pte.kind) {
    case 'scratch':
      return 'scratch';
    case 'dma':
      return `DMA address 0x${pte.dmaAddr.toString(16)}`;
    case 'table':
      return `shadow table of gfn ${pte.gfn}`;
    case 'split2m':
      return `split 2M table of gfn ${pte.baseGfn}`;
  }
}

/**
 * What the shadow of a guest entry naming `gfn` must be (besides scratch), or null if it matches.
 * A leaf's DMA address must be the cache entry's of the gfn, and of the same size: a 2M shadow's
 * a 2M entry's (`huge2m.ts`); a split 2M entry's table holds each page's own translation.
 */
function leafMismatch(vgpu: GvtVgpu, guestGfn: number | null, pte: ShadowPte): string | null {
  if (pte.kind === 'scratch') return null;
  if (guestGfn === null) return 'scratch (guest entry not present)';
  if (pte.kind === 'dma') {
    const entry = vgpu.cache[guestGfn];
    const pages = pte.pages ?? 1;
    if (entry?.dmaAddr === pte.dmaAddr && (pages === 1 || entryPages(entry) === pages)) return null;
    return entry === undefined
      ? `scratch (gfn ${guestGfn} has no DMA cache entry)`
      : `scratch or DMA address 0x${entry.dmaAddr.toString(16)} of gfn ${guestGfn} mapping ${pages} pages (its entry maps ${entryPages(entry)})`;
  }
  if (pte.kind === 'split2m') {
    if (pte.baseGfn !== guestGfn) return `scratch or the 2M page of gfn ${guestGfn}`;
    for (const [page, sub] of pte.entries.entries()) {
      const expected = leafMismatch(vgpu, guestGfn + page, sub);
      if (expected !== null) return `in the split table's entry ${page}: ${expected}`;
    }
    return null;
  }
  return pte.gfn === guestGfn ? null : `scratch or the shadow table of gfn ${guestGfn}`;
}

/**
 * The first shadow entry that is not scratch or the translation of its guest entry. `settling`
 * (`gfn:index`) names page-table entries an operation in flight is still shadowing (a trapped
 * store whose handler has not finished): their shadow may be the old translation until it does.
 */
export function shadowMismatch(
  vgpu: GvtVgpu,
  config: GvtConfig,
  guestPages: Readonly<Record<string, GuestPage>>,
  settling: ReadonlySet<string> = new Set(),
): ShadowMismatch | null {
  if (vgpu.failsafe) return null;
  for (const index of ownGgttIndices(config.layout)) {
    const pte = vgpu.ggttHost[index];
    if (pte === undefined) continue;
    const guest = vgpu.ggttGuest[index];
    const guestGfn = guest?.present === true ? guest.gfn : null;
    const pending = vgpu.ggttPartial[index] !== undefined;
    const expected = pending
      ? pte.kind === 'scratch'
        ? null
        : 'scratch (half written)'
      : leafMismatch(vgpu, guestGfn, pte);
    if (expected === null) continue;
    return {
      where: `GGTT entry ${index}`,
      guest: guestGfn === null ? 'not present' : `gfn ${guestGfn}`,
      shadow: describeShadow(pte),
      expected,
    };
  }
  for (const spt of Object.values(vgpu.spts)) {
    for (const [index, pte] of spt.entries.entries()) {
      // In a 64K table a slot follows the used slot whose split fills it (`ips64k.ts`).
      const slot = entrySlotOf(spt, config.layout, index);
      if (settling.has(`${spt.gfn}:${index}`) || settling.has(`${spt.gfn}:${slot}`)) continue;
      const guestGfn = guestLeafGfn(spt, guestPages[spt.gfn], index, config.layout);
      const pending = spt.postShadow.includes(slot);
      const expected = pending
        ? pte.kind === 'scratch'
          ? null
          : 'scratch (partially written)'
        : leafMismatch(vgpu, guestGfn, pte);
      if (expected === null) continue;
      return {
        where: `page table gfn ${spt.gfn} entry ${index}`,
        guest: guestGfn === null ? 'not present' : `gfn ${guestGfn}`,
        shadow: describeShadow(pte),
        expected,
      };
    }
  }
  return null;
}
