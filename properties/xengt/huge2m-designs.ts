/**
 * Flawed variants of the mediator's 2M entries on the XenGT stack (issue 21; docs/reference/xen.md
 * §2.9b), each made through a typed hook a user's design could supply (`GvtHooks`) on the sound
 * `xen/map` design and caught by the generic GVT-g and Xen invariants alone. XenGT's host refuses
 * a 2M map (`models/xengt/host.ts`), so every 2M entry there is split into 4K maps.
 */
import { xenGtDesign } from './design.js';
import type { XenGtDesign } from './design.js';

/**
 * `split_2MB_gtt_entry` as every XenGT tree ships it (the `gtt.c` of intel/gvt-linux's XenGT
 * branches, before commit 4a61648af68f): a 4K map failing part-way runs `ppgtt_invalidate_spt(spt);
 * return ret;` — the parent table's reference put, the sub table and the maps its entries took
 * never given back (the put of the parent, a double free when the caller frees it again,
 * CVE-2022-3707, is left out).
 */
export const xenGt2mSplitErrorLeaks = xenGtDesign({
  id: 'xengt/2m-split-error-leaks',
  backend: 'map',
  expected: 'violates',
  gvtHooks: { failedSplit2MReleases: () => 0 },
  description:
    "a 2M entry's split into 4K maps (split_2MB_gtt_entry; XenGT's host never maps 2M) failing part-way — a page of the 2M page past the first ballooned out, or never the guest's — unwound as XenGT's gtt.c has it, before the fix of CVE-2022-3707 (4a61648af68f): ppgtt_invalidate_spt on the parent table instead of invalidating the sub table's entries, so the 4K maps already taken keep their DMA cache references and the backend its foreign mappings of the guest's pages, with no shadow entry holding them",
  breaks: ['cache-kref-matches-shadow-users', 'failed-op-leaves-state-unchanged'],
});

export const xenGtHuge2mDesigns: readonly XenGtDesign[] = [xenGt2mSplitErrorLeaks];
