/**
 * The VMM process's page table (`VmmProcess.pages`), copied on write (`../copy-on-write.ts`): most
 * steps never touch it (an UNMAP_DMA, a device's DMA, a phase of an operation in flight over pages
 * already present), so a step's copy of the state shares it, and the first write of a page copies
 * the table (pages and all) into the draft. Every write goes through `writablePages` (the type
 * makes `pages` and a page's `mfn` read-only elsewhere).
 */
import { unshared } from '../copy-on-write.js';
import type { ProcessPage, VmmProcess } from './types.js';

/** A page of a table the caller owns. */
export type WritablePage = { -readonly [K in keyof ProcessPage]: ProcessPage[K] };

function copyPages(pages: VmmProcess['pages']): Record<string, WritablePage> {
  const copy: Record<string, WritablePage> = {};
  for (const key in pages) copy[key] = { ...(pages[key] as ProcessPage) };
  return copy;
}

/** The process's page table to edit in place: its own copy first, if another state shares it. */
export function writablePages(process: VmmProcess): Record<string, WritablePage> {
  const pages = unshared(process.pages, copyPages);
  process.pages = pages;
  return pages;
}

/** Points the present page at `vaddrPage` at `mfn` (or makes it not present: `null`). */
export function setPageMfn(process: VmmProcess, vaddrPage: number, mfn: number | null): void {
  const page = writablePages(process)[vaddrPage];
  if (page !== undefined) page.mfn = mfn;
}
