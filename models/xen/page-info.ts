/**
 * Reading a frame's page type (`page->u.inuse.type_info`, xen/arch/x86/include/asm/mm.h). The
 * transitions (`get_page_type` / `put_page_type`, xen/arch/x86/mm.c) live in `page-type.ts`.
 */
import type { PageTypeInfo, XenState } from './types.js';

/** A frame nobody has typed: `PGT_none`, count 0. */
export const untypedPage: PageTypeInfo = { type: 'none', count: 0, validated: false, pinned: false };

export function pageTypeOf(state: XenState, mfn: number): PageTypeInfo {
  return state.pageTypes?.[mfn] ?? untypedPage;
}
