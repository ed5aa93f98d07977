/**
 * What the XenGT invariants read, part by part, for incremental checking (`Invariant.reads`).
 * Xen's state is copy-on-write (`models/xen/copy-on-write.ts`): a step hands back host memory,
 * each domain and each of its tables as the same objects unless it changed them, so an invariant
 * that names the tables it reads is skipped after every step that left them alone — a refused
 * request, a grant when it reads only frames, a balloon when it reads only grants. Numbers (a
 * domain's tot_pages, its life) compare by value.
 */
import type { XenDomain, XenState } from '../../models/xen/types.js';

/** The same fields of every domain, in domid order (the domain set is fixed). */
export function domainParts(xen: XenState, ...fields: readonly (keyof XenDomain)[]): unknown[] {
  const parts: unknown[] = [];
  for (const domain of xen.domains) for (const field of fields) parts.push(domain[field]);
  return parts;
}

/** What the holders of a frame are recomputed from (`holdersByFrame`): every p2m and maptrack. */
export function holderParts(xen: XenState): unknown[] {
  return domainParts(xen, 'p2m', 'maptrack');
}

/** The backend's p2m: its pool mappings (map backend) and the pages behind the host's GGTT entries. */
export function backendP2m(xen: XenState, backendDomid: number): unknown {
  return xen.domains[backendDomid]?.p2m;
}
