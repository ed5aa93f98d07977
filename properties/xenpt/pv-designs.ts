/**
 * Flawed designs of the Xen passthrough stack from PV memory's flawed hooks
 * (`pvMemoryFlawedVariants`, properties/xen/pv-variants.ts): the stack with Xen's decisions
 * everywhere but one of `PvMemoryRules`, each declaring the invariants its variant breaks.
 */
import type { PvMemoryRules } from '../../models/xen/pv-rules.js';
import { pvMemoryFlawedVariants } from '../xen/pv-variants.js';
import { xenPtDesign } from './design.js';
import type { XenPtDesign } from './design.js';

/** What each variant lets happen in the stack, in Xen's words (by the hook's name). */
const descriptions: Readonly<Record<string, string>> = {
  'type-change-skips-iommu-unmap':
    "_get_page_type retypes a PV guest's writable frame as a page table without removing it from the guest's IOMMU table (the danger the PV IOMMU sync exists for): its device can DMA-write what the CPU walks as an L1 table",
  'l1-fast-path-ignores-rw':
    "mod_l1_entry's fast path lets an entry gain _PAGE_RW with no get_page_from_l1e (XSA-182, 'x86: fix mod_l1_entry() fast path'): a PV guest makes a read-only mapping of its own page table writable, its type count never counting it",
  'l1-accepts-writable-page-table':
    "get_page_from_l1e accepts an RW entry of a frame in use as a page table without its PGT_writable_page type reference (the class of XSA-148's unchecked PV superpage mappings): a PV guest maps its L1 table writable",
  'grant-unmap-keeps-type':
    "unmap_common_complete drops a writable grant mapping's page reference but not its PGT_writable_page type reference: the frame stays typed writable with a count no mapping holds, and can never become a page table again",
  'grant-iommu-count-drops-per-unmap':
    "unmap_common drops a PV mapper's per-mfn grant IOMMU count on every unmap, also one that leaves the handle live (XSA-394, 'gnttab: only perform IOMMU unmap when the handle is freed'): dom0's netback still holds the device mapping of a grant its IOMMU no longer maps, and the count goes wrong",
  'grant-iommu-count-never-drops':
    "a PV mapper's per-mfn grant IOMMU counts are never dropped (the class of XSA-380's grant IOMMU mappings that outlive their grant): dom0's IOMMU keeps the granted frame DMA-reachable after its last unmap",
};

function pvDesign(rules: PvMemoryRules, breaks: readonly string[]): XenPtDesign {
  return xenPtDesign({
    id: `xenpt/pv-${rules.name}`,
    expected: 'violates',
    pvMemory: rules,
    breaks,
    explore: ['pv-memory'],
    description: descriptions[rules.name] ?? rules.name,
  });
}

export const xenPtPvDesigns: readonly XenPtDesign[] = pvMemoryFlawedVariants.map((variant) =>
  pvDesign(variant.rules, variant.breaks),
);
