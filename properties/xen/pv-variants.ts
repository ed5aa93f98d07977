/**
 * The flawed PV memory hooks (models/xen/pv-rules.ts) and the generic invariants each breaks
 * (properties/xen/pv-invariants.ts), first the one the hook's mechanism breaks directly: what a
 * stack's flawed designs built from them declare.
 */
import {
  pvGrantIommuCountDropsPerUnmap,
  pvGrantIommuCountNeverDrops,
  pvGrantUnmapKeepsType,
  pvL1AcceptsWritablePageTable,
  pvL1FastPathIgnoresRw,
  pvTypeChangeSkipsIommuUnmap,
} from '../../models/xen/pv-rules.js';
import type { PvMemoryRules } from '../../models/xen/pv-rules.js';

export interface PvMemoryVariant {
  readonly rules: PvMemoryRules;
  /** The Xen advisory of the class, where there is one. */
  readonly xsa: string | null;
  readonly breaks: readonly string[];
}

export const pvMemoryFlawedVariants: readonly PvMemoryVariant[] = [
  {
    rules: pvTypeChangeSkipsIommuUnmap,
    xsa: null,
    breaks: ['no-writable-page-table', 'pv-iommu-matches-types-and-grants'],
  },
  {
    rules: pvL1FastPathIgnoresRw,
    xsa: 'XSA-182',
    breaks: ['page-type-count-matches-references', 'no-writable-page-table'],
  },
  {
    rules: pvL1AcceptsWritablePageTable,
    xsa: 'XSA-148 (class)',
    breaks: ['no-writable-page-table', 'page-type-count-matches-references'],
  },
  { rules: pvGrantUnmapKeepsType, xsa: null, breaks: ['page-type-count-matches-references'] },
  {
    rules: pvGrantIommuCountDropsPerUnmap,
    xsa: 'XSA-394',
    breaks: ['grant-iommu-counts-match-mappings', 'pv-iommu-matches-types-and-grants'],
  },
  {
    rules: pvGrantIommuCountNeverDrops,
    xsa: 'XSA-380 (class)',
    breaks: ['grant-iommu-counts-match-mappings', 'pv-iommu-matches-types-and-grants'],
  },
];
