/**
 * The VMM process's page table (`VmmProcess.pages`), shared between copies of a state until one of
 * them writes it (copy-on-write). Most steps never touch it (an UNMAP_DMA, a device's DMA, a phase
 * of an operation in flight over pages already present), so a step's copy of the state takes the
 * same object and marks it shared; the first write of a page by either side copies the table
 * (pages and all) into its own state first. The mark is for good: a state handed out is never
 * edited in place, and a draft that was copied (a `runOp` snapshot) must not write into its copy.
 *
 * Every write goes through `writablePages` (the type makes `pages` and a page's `mfn` read-only
 * elsewhere). A table nothing copied (a state being built, iommufd's own deep copies) is written
 * in place, as before.
 */
import type { ProcessPage, VmmProcess } from './types.js';

/** A page of a table the caller owns. */
export type WritablePage = { -readonly [K in keyof ProcessPage]: ProcessPage[K] };

const shared = new WeakSet<object>();

/** `pages` for a copy of the state that holds them: the same object, from now on shared by both. */
export function sharePages(pages: VmmProcess['pages']): VmmProcess['pages'] {
  shared.add(pages);
  return pages;
}

/** The process's page table to edit in place: its own copy first, if another state shares it. */
export function writablePages(process: VmmProcess): Record<string, WritablePage> {
  const pages = process.pages;
  if (!shared.has(pages)) return pages as Record<string, WritablePage>;
  const copy: Record<string, WritablePage> = {};
  for (const key in pages) copy[key] = { ...(pages[key] as ProcessPage) };
  process.pages = copy;
  return copy;
}

/** Points the present page at `vaddrPage` at `mfn` (or makes it not present: `null`). */
export function setPageMfn(process: VmmProcess, vaddrPage: number, mfn: number | null): void {
  const page = writablePages(process)[vaddrPage];
  if (page !== undefined) page.mfn = mfn;
}
