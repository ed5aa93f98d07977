/**
 * What the XenGT invariants read, part by part, for incremental checking (`Invariant.reads`).
 * Xen's state is copy-on-write (`models/xen/copy-on-write.ts`): a step hands back host memory,
 * each domain and each of its tables as the same objects unless it changed them, so an invariant
 * that names the tables it reads is skipped after every step that left them alone — a refused
 * request, a grant when it reads only frames, a balloon when it reads only grants. Numbers (a
 * domain's tot_pages, its life) compare by value.
 */
import type { XenDomain, XenState } from '../../models/xen/types.js';

/**
 * The same one, two or three fields of every domain, in domid order (the domain set is fixed). Called for
 * most invariants after every step that changed Xen, so it takes the fields as plain arguments.
 */
export function domainParts(
  xen: XenState,
  field: keyof XenDomain,
  second?: keyof XenDomain,
  third?: keyof XenDomain,
): unknown[] {
  const parts: unknown[] = [];
  for (const domain of xen.domains) {
    parts.push(domain[field]);
    if (second !== undefined) parts.push(domain[second]);
    if (third !== undefined) parts.push(domain[third]);
  }
  return parts;
}

/**
 * What the holders of a frame are recomputed from (`holdersByFrame`): every p2m and maptrack, a
 * grant table's frames and copies in flight (`grant-v2.ts`, `grant-copy.ts`; absent in v1 worlds),
 * and PV page tables' references: page types (pins, validated L1 tables) and the frames' entries.
 */
export function holderParts(xen: XenState): unknown[] {
  return [
    ...domainParts(xen, 'p2m', 'maptrack'),
    ...domainParts(xen, 'sharedFrames', 'statusFrames', 'grantCopies'),
    xen.pageTypes,
    xen.frameContents,
  ];
}

/** The backend's p2m: its pool mappings (map backend) and the pages behind the host's GGTT entries. */
export function backendP2m(xen: XenState, backendDomid: number): unknown {
  return xen.domains[backendDomid]?.p2m;
}
