/**
 * Where a device's DMA lands (docs/reference/vtd.md §3.1, §3.3, §3.4). A request names a source-id, a PASID
 * (or none) and an IOVA. The context entry (or PASID entry) gives the domain; a blocked domain
 * faults; an identity domain passes the address through; a paging domain's IOTLB is consulted
 * first, tagged by (DID, PASID), and only on a miss is the page table walked — the walk's leaf is
 * then cached. With caching mode a walk that finds nothing caches a not-present entry, so the page
 * keeps faulting until an invalidation covers it, even once mapped.
 *
 * A first-level domain (`cache-tags.ts`) walks its table the same way (the model keeps one table
 * format: the x86 first-level format's bits are left out) and marks the entries it caches
 * first-level, which only PASID-based invalidations reach (`invalidate.ts`).
 *
 * With the context cache modelled (`context-cache.ts`) a request without PASID takes its domain
 * from the cached context entry first, and a walk of a present context entry fills the cache.
 *
 * The walk reads the page table as the IOMMU sees it in memory (`coherency.ts`): without coherent
 * walks, a PTE write not yet written back is not seen.
 *
 * A nested domain (§3.6) walks the guest's first-level table, handed in by the caller since it
 * lives in guest memory (`FirstLevelTable`; none given = an empty table), then its parent's
 * second-level table at the GPA page found; the combined translation is cached under the nested
 * domain's DID. A first-level entry that is not present is never cached (first-stage entries are
 * the exception to caching mode's rule, §3.4).
 *
 * A fault is an outcome, not a refusal: `dma` succeeds and reports `landed: 'fault'` with the
 * reason (the IOTLB fill it performed stays). Only a malformed request (bad source-id, PASID or
 * IOVA) is refused with EINVAL.
 *
 * Left out: fault recording registers and fault reporting to the driver, ATS translated requests
 * and device-TLBs, page requests (PRI), interrupt requests, snoop and memory type, the distinction
 * of VT-d fault reason codes (a reason name is reported instead).
 */
import { IOVA_PAGE_LIMIT, PAGE_SIZE_BYTES, isNatural } from './address.js';
import { isDeviceId, isPasid, requestDomainId } from './domain.js';
import { iotlbInsert, iotlbLookup } from './iotlb.js';
import { pasidCacheFill } from './pasid.js';
import { contextCacheFill } from './context-cache.js';
import { iommuContextEntry } from './coherency.js';
import { lookupLeafAsIommu } from './page-table.js';
import { registerRequest } from './requests.js';
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { getDomain } from './state.js';
import type { FirstLevelTable, IommuDomain, IommuState } from './types.js';

export type FaultReason =
  'no-context' | 'blocked' | 'beyond-width' | 'first-level-not-present' | 'not-present' | 'no-read' | 'no-write';

export interface DmaRequest {
  readonly deviceId: number;
  /** `null` = request without PASID. */
  readonly pasid: number | null;
  readonly iova: number;
  readonly write: boolean;
}

export type DmaOutcome =
  | {
      readonly landed: 'frame';
      readonly frame: number;
      readonly domainId: number;
      readonly via: 'iotlb' | 'walk' | 'identity';
    }
  | {
      readonly landed: 'fault';
      readonly reason: FaultReason;
      readonly domainId: number | null;
      readonly via: 'context' | 'iotlb' | 'walk';
    };

function wellFormed(request: DmaRequest): boolean {
  return isDeviceId(request.deviceId) && (request.pasid === null || isPasid(request.pasid)) && isNatural(request.iova);
}

function permissionFault(request: DmaRequest, read: boolean, write: boolean): FaultReason | null {
  if (request.write && !write) return 'no-write';
  if (!request.write && !read) return 'no-read';
  return null;
}

function resolve(state: IommuState, request: DmaRequest, fill: boolean, firstLevel: FirstLevelTable): DmaOutcome {
  const domainId = wellFormed(request) ? requestDomainId(state, request.deviceId, request.pasid) : null;
  const domain = domainId === null ? undefined : getDomain(state, domainId);
  if (domainId === null) return { landed: 'fault', reason: 'no-context', domainId, via: 'context' };
  const iovaPage = Math.floor(request.iova / PAGE_SIZE_BYTES);
  // A context entry left pointing at a freed domain (`releaseDomain`): the hardware still looks the
  // DID up in the IOTLB; a miss walks the freed table pages, which the model treats as not present.
  if (domain === undefined) return orphanedContext(state, request, domainId, iovaPage);
  if (domain.type === 'blocked') return { landed: 'fault', reason: 'blocked', domainId, via: 'context' };
  if (domain.type === 'identity') return { landed: 'frame', frame: iovaPage, domainId, via: 'identity' };
  if (iovaPage >= IOVA_PAGE_LIMIT) return { landed: 'fault', reason: 'beyond-width', domainId, via: 'walk' };
  const cached = iotlbLookup(state, domainId, request.pasid, iovaPage);
  if (cached !== undefined) {
    if (cached.kind === 'not-present') return { landed: 'fault', reason: 'not-present', domainId, via: 'iotlb' };
    const reason = permissionFault(request, cached.read, cached.write);
    if (reason !== null) return { landed: 'fault', reason, domainId, via: 'iotlb' };
    return { landed: 'frame', frame: cached.frame + (iovaPage - cached.iovaPage), domainId, via: 'iotlb' };
  }
  if (domain.type === 'nested') return walkNested(state, domain, request, iovaPage, fill, firstLevel);
  const leaf = lookupLeafAsIommu(state, domain, iovaPage);
  if (leaf === null) {
    // Caching mode's not-present entries exclude first-stage ones (§3.4).
    if (fill && state.caps.cachingMode && domain.firstLevel !== true) {
      iotlbInsert(state, { kind: 'not-present', domainId, pasid: request.pasid, iovaPage });
    }
    return { landed: 'fault', reason: 'not-present', domainId, via: 'walk' };
  }
  if (fill) {
    iotlbInsert(state, {
      kind: 'translation',
      domainId,
      pasid: request.pasid,
      iovaPage: leaf.iovaPage,
      frame: leaf.frame,
      pages: leaf.pages,
      read: leaf.read,
      write: leaf.write,
      // A first-level domain's walk (PGTT 1): only a PASID-based invalidation drops the entry.
      ...(domain.firstLevel === true ? { firstLevel: true as const } : {}),
    });
  }
  const reason = permissionFault(request, leaf.read, leaf.write);
  if (reason !== null) return { landed: 'fault', reason, domainId, via: 'walk' };
  return { landed: 'frame', frame: leaf.frame + (iovaPage - leaf.iovaPage), domainId, via: 'walk' };
}

function orphanedContext(state: IommuState, request: DmaRequest, domainId: number, iovaPage: number): DmaOutcome {
  const cached = iovaPage < IOVA_PAGE_LIMIT ? iotlbLookup(state, domainId, request.pasid, iovaPage) : undefined;
  if (cached === undefined) return { landed: 'fault', reason: 'no-context', domainId, via: 'context' };
  if (cached.kind === 'not-present') return { landed: 'fault', reason: 'not-present', domainId, via: 'iotlb' };
  const reason = permissionFault(request, cached.read, cached.write);
  if (reason !== null) return { landed: 'fault', reason, domainId, via: 'iotlb' };
  const frame = cached.kind === 'translation' ? cached.frame + (iovaPage - cached.iovaPage) : cached.frame;
  return { landed: 'frame', frame, domainId, via: 'iotlb' };
}

/** The first-level walk, then stage 2 at the GPA page found; caches the combined translation. */
function walkNested(
  state: IommuState,
  domain: IommuDomain,
  request: DmaRequest,
  iovaPage: number,
  fill: boolean,
  firstLevel: FirstLevelTable,
): DmaOutcome {
  const domainId = domain.domainId;
  const entry = Object.hasOwn(firstLevel, iovaPage) ? firstLevel[iovaPage] : undefined;
  if (entry === undefined) return { landed: 'fault', reason: 'first-level-not-present', domainId, via: 'walk' };
  const parent = domain.parentDomainId === null ? undefined : getDomain(state, domain.parentDomainId);
  const leaf =
    parent === undefined || !isNatural(entry.gpaPage) ? null : lookupLeafAsIommu(state, parent, entry.gpaPage);
  if (leaf === null) return { landed: 'fault', reason: 'not-present', domainId, via: 'walk' };
  const frame = leaf.frame + (entry.gpaPage - leaf.iovaPage);
  const read = leaf.read;
  const write = entry.write && leaf.write;
  if (fill) {
    iotlbInsert(state, {
      kind: 'nested',
      domainId,
      pasid: request.pasid,
      iovaPage,
      gpaPage: entry.gpaPage,
      frame,
      read,
      write,
    });
  }
  const reason = permissionFault(request, read, write);
  if (reason !== null) return { landed: 'fault', reason, domainId, via: 'walk' };
  return { landed: 'frame', frame, domainId, via: 'walk' };
}

/** What a DMA would do now, without touching the IOTLB. `firstLevel`: the table of a nested domain. */
export function translate(state: IommuState, request: DmaRequest, firstLevel: FirstLevelTable = {}): DmaOutcome {
  return resolve(state, request, false, firstLevel);
}

/** A device DMA: consults the IOTLB, walks on a miss and caches the result; reports where it landed. */
export function dma(state: IommuState, request: DmaRequest, firstLevel: FirstLevelTable = {}): OpResult {
  if (!wellFormed(request)) return fail('EINVAL');
  if (request.pasid !== null && state.pasidCache !== undefined) {
    // The walk reads the PASID entry through the PASID cache, filling it (`pasid.ts`).
    const domainId = requestDomainId(state, request.deviceId, request.pasid);
    if (domainId !== null) pasidCacheFill(state, request.deviceId, request.pasid, domainId);
  }
  if (request.pasid === null && state.contextCache !== undefined) {
    // The walk reads the context entry (as memory holds it) through the context cache, filling it
    // with a present entry (`context-cache.ts`).
    const domainId = iommuContextEntry(state, request.deviceId);
    if (domainId !== null) contextCacheFill(state, request.deviceId, domainId);
  }
  const outcome = resolve(state, request, true, firstLevel);
  const common = {
    deviceId: request.deviceId,
    pasid: request.pasid,
    iovaPage: Math.floor(request.iova / PAGE_SIZE_BYTES),
    write: request.write,
    domainId: outcome.domainId,
    via: outcome.via,
  };
  return outcome.landed === 'frame'
    ? succeed({ ...common, landed: 'frame', frame: outcome.frame, reason: null })
    : succeed({ ...common, landed: 'fault', frame: null, reason: outcome.reason });
}

/**
 * A DMA's translate phase: like `dma`, and a request that found a frame stays registered as
 * translated and not yet landed (`requests.ts`) until the caller completes it or an invalidation
 * drains it.
 */
export function translateRequest(state: IommuState, request: DmaRequest, firstLevel: FirstLevelTable = {}): OpResult {
  const result = dma(state, request, firstLevel);
  const domainId = result.detail?.['domainId'];
  if (result.detail?.['landed'] === 'frame' && typeof domainId === 'number') {
    registerRequest(state, {
      deviceId: request.deviceId,
      pasid: request.pasid,
      domainId,
      iovaPage: Math.floor(request.iova / PAGE_SIZE_BYTES),
    });
  }
  return result;
}
