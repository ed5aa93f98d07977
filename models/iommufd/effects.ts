/**
 * The translation changes a step makes, in the order the source makes them, for a stack to
 * forward to an IOMMU model the way models/passthrough/forward.ts does for type1: the type1
 * model's `TranslationEffect`, with `domainId` the paging hwpt's object id (a device on a nested
 * hwpt is attached to its parent's stage 2). Per domain, an unmap's pages then one `iotlb-sync`
 * (`iommu_unmap` syncs before it returns), and only then the unpin; a map pins first. A replace
 * is one `attach` to the new domain (`iommu_group_replace_domain` switches without a blocked
 * window); a domain leaving its IOAS is unmapped page by page, synced, then `domain-free`.
 *
 * The step collects them while it runs (`collectEffects`); a refused step reports none, except a
 * refusal that keeps its partial state (refusal.ts), which reports what it did.
 */
import type { TranslationEffect } from '../vfio/types.js';

let collector: TranslationEffect[] | null = null;

export function recordEffect(effect: TranslationEffect): void {
  collector?.push(effect);
}

/** Runs `body`, recording its effects into `effects` (kept when `body` throws: a partial refusal has them). */
export function collectEffects<T>(effects: TranslationEffect[], body: () => T): T {
  const outer = collector;
  collector = effects;
  try {
    return body();
  } finally {
    collector = outer;
  }
}
