/**
 * First-level domains and their cache tags (docs/reference/vtd.md §3.3, §3.12), read in the v6.12
 * source (`/usr/src/linux-source-6.12`, drivers/iommu/intel/):
 *
 * - Which paging domains are first-level: `first_level_by_default(type)` (iommu.c), called by
 *   `alloc_domain` for DMA and unmanaged (VFIO) domains — none in legacy mode; when the IOMMU
 *   supports only one of first-level (`ecap.FLTS`) and second-level (`ecap.SLTS`) translation, that
 *   one; with both, every type but `IOMMU_DOMAIN_UNMANAGED`. A nesting parent is second-level
 *   (`intel_iommu_domain_alloc_user` → `paging_domain_alloc(dev, false)`).
 * - Cache tags: each attach of a domain through a device and PASID (`IOMMU_NO_PASID`, 0, for the
 *   requests without PASID) assigns a tag carrying the DID (`cache_tag_assign_domain` from
 *   `dmar_domain_attach_device` and `intel_iommu_set_dev_pasid`; a second user of the same
 *   (DID, PASID) counts up), and the detach unassigns it (`cache_tag_unassign_domain`). A flush
 *   of the domain is one invalidation per tag (`cache_tag_flush_range`, `cache_tag_flush_all`):
 *   for a first-level domain a PASID-based one of the tag's PASID (`qi_batch_add_piotlb`), for a
 *   second-level one a DID-based PSI or DSI.
 *
 * Modelled: tags of first-level domains only, as PASID → users in the domain (`cacheTags`; the
 * tags of one IOMMU carry the same DID). A second-level domain's tags all carry its DID and its
 * DID-based flushes reach every PASID of it, so its tags change nothing the model can show.
 *
 * Left out: device-TLB tags (no ATS), several IOMMUs (one DID per domain), the nesting tags
 * (`nested.ts` flushes a parent's nested domains by DID).
 */
import type { DomainType, IommuCaps, IommuDomain, IommuState } from './types.js';
import { getDomain } from './state.js';

/** `IOMMU_NO_PASID`: the PASID of the requests without PASID (RID2PASID) and of their cache tag. */
export const NO_PASID = 0;

/** `first_level_by_default(type)` (iommu.c): whether a new paging domain of `type` is first-level. */
export function firstLevelByDefault(caps: IommuCaps, type: DomainType): boolean {
  if (!caps.scalableMode) return false;
  const firstLevel = caps.firstLevelTranslation === true;
  const secondLevel = caps.secondLevelTranslation !== false;
  if (firstLevel !== secondLevel) return firstLevel;
  return type !== 'unmanaged';
}

/** Whether DID `domainId` names a live first-level domain. */
export function isFirstLevelDomain(state: IommuState, domainId: number): boolean {
  return getDomain(state, domainId)?.firstLevel === true;
}

/** The PASIDs of a first-level domain's cache tags, ascending (empty for a second-level one). */
export function cacheTagPasids(domain: IommuDomain): number[] {
  return Object.keys(domain.cacheTags ?? {})
    .map(Number)
    .sort((left, right) => left - right);
}

/**
 * `cache_tag_assign_domain(domain, dev, pasid)` for a first-level domain: the tag of (DID, PASID)
 * gains a user. Nothing for a second-level or unknown domain. The record is replaced whole.
 */
export function assignCacheTag(state: IommuState, domainId: number, pasid: number): void {
  const domain = getDomain(state, domainId);
  if (domain?.firstLevel !== true) return;
  const tags = domain.cacheTags ?? {};
  domain.cacheTags = { ...tags, [pasid]: (tags[pasid] ?? 0) + 1 };
}

/** `cache_tag_unassign_domain`: the tag of (DID, PASID) loses a user, and goes with its last. */
export function unassignCacheTag(state: IommuState, domainId: number, pasid: number): void {
  const domain = getDomain(state, domainId);
  const users = domain?.cacheTags?.[pasid];
  if (domain === undefined || users === undefined) return;
  const tags = { ...domain.cacheTags };
  if (users > 1) tags[pasid] = users - 1;
  else delete tags[pasid];
  domain.cacheTags = tags;
}
