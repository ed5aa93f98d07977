/**
 * Context entries copied from a crashed kernel (kdump; docs/reference/vtd.md §3.14). A kdump kernel
 * that finds translation enabled copies the old kernel's root and context tables
 * (drivers/iommu/intel/iommu.c `copy_translation_tables` → `copy_context_table`, Linux v6.12, read
 * in Debian's linux-source-6.12 6.12.118): each present entry is kept as it was, its DID reserved
 * (`set_bit(did, iommu->domain_ids)`), and its source-id marked copied (`set_context_copied`), so
 * that a device still running the crashed kernel's DMA keeps translating through the old
 * kernel's page tables instead of faulting. The new kernel's first attach of such a device
 * (`domain_context_mapping_one`) tears the copied entry down before it writes its own.
 *
 * The teardown's order is the decision (`CopiedContextTeardown`). Debian's 6.12.118 carries Lu
 * Baolu's c1e4f1dccbe9d ("iommu/vt-d: Clear Present bit before tearing down context entry",
 * January 2026), `copied_context_tear_down`: clear the Present bit, write it back, invalidate the
 * context cache (device-selective, the old DID) and the IOTLB (DSI of the old DID), zero the entry,
 * write it back (`copiedContextTearDown`). Before it, `domain_context_mapping_one` invalidated
 * the old DID first and cleared the entry after, on the grounds that "the device is supposed to
 * finish reset at its driver probe stage, so no in-flight DMA will exist" (`invalidateBeforeClear`):
 * a request in between walks the still-present entry and caches it again, and the clear comes too
 * late for the cache, so the device keeps the crashed kernel's domain after the attach.
 *
 * Phases (`splitCopiedTeardown`): the attach runs the hook's steps up to and including its last
 * invalidation, then the rest with `domain_context_mapping_one`'s own `context_clear_entry` and the
 * new entry. Between the two the device may DMA (the window); before the first no DMA is modelled
 * (the world starts with empty caches).
 *
 * The model's context entry has a Present bit and a DID only, so clearing Present and zeroing the
 * entry have the same effect here (both leave it not present); both are kept as steps because the
 * source has both. `copiedContexts` is the `iommu->copied_tables` bitmap; the model clears a
 * source-id's bit when the attach returns (v6.12 clears it inside the teardown, which nothing in the
 * model observes), and while it is set the device's requests without PASID are still the crashed
 * kernel's: the reach views leave them out (`views.ts`), as kdump intends. What the device
 * reaches through the old DID once the attach has returned is a breach.
 *
 * Left out: scalable mode's copied path (`intel_pasid_setup_sm_context`, pasid.c, which the fix
 * changed the same way), the root table and its copy, a copied entry whose DID is beyond
 * `cap_ndoms` (no invalidation at all), the old kernel's interrupt remapping table.
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import { writeBackContextEntry } from './coherency.js';
import { invalidateContextCache } from './context-cache.js';
import { attachDevice, clearContext, isDeviceId } from './domain.js';
import { flushDomain } from './invalidate.js';
import { getDomain, writableContext, writableContexts } from './state.js';
import type { IommuState } from './types.js';
import { withoutKey } from '../record.js';

/**
 * One step of a copied entry's teardown, in the source's words: `clear-present`
 * (`context_clear_present`), `write-back` (`__iommu_flush_cache` of the entry), `invalidate-context`
 * (`flush_context(did_old, source-id, DMA_CCMD_DEVICE_INVL)`), `invalidate-iotlb`
 * (`flush_iotlb(did_old, DMA_TLB_DSI_FLUSH)`), `zero` (`context_clear_entry`).
 */
export type CopiedTeardownStep = 'clear-present' | 'write-back' | 'invalidate-context' | 'invalidate-iotlb' | 'zero';

/**
 * The design's decision: the steps that tear down `sourceId`'s copied entry naming `didOld`, in
 * order. `domain_context_mapping_one` then zeroes the entry itself and writes the new one.
 */
export type CopiedContextTeardown = (sourceId: number, didOld: number) => readonly CopiedTeardownStep[];

/** c1e4f1dccbe9d's `copied_context_tear_down` (Debian 6.12.118): Present cleared first. */
export const copiedContextTearDown: CopiedContextTeardown = () => [
  'clear-present',
  'write-back',
  'invalidate-context',
  'invalidate-iotlb',
  'zero',
  'write-back',
];

/** `domain_context_mapping_one` before c1e4f1dccbe9d: the old DID invalidated, the entry cleared after. */
export const invalidateBeforeClear: CopiedContextTeardown = () => ['invalidate-context', 'invalidate-iotlb'];

/** Whether `sourceId`'s context entry is a copied one whose attach has not returned (`context_copied`). */
export function contextCopied(state: IommuState, sourceId: number): boolean {
  return state.copiedContexts !== undefined && Object.hasOwn(state.copiedContexts, sourceId);
}

/**
 * `copy_context_table` for one source-id: the crashed kernel's present entry naming `domainId`
 * kept, the source-id marked copied. The model's old domain is an ordinary domain the caller
 * built (its tables stand for the old kernel's, which the new kernel never frees). EINVAL for a bad
 * source-id, ENOENT for an unknown domain, EBUSY when the entry is present already.
 */
export function copyContextEntry(
  state: IommuState,
  args: { readonly deviceId: number; readonly domainId: number },
): OpResult {
  if (!isDeviceId(args.deviceId)) return fail('EINVAL');
  if (getDomain(state, args.domainId) === undefined) return fail('ENOENT');
  const context = Object.hasOwn(state.contexts, args.deviceId) ? state.contexts[args.deviceId] : undefined;
  if (context !== undefined && context.domainId !== null) return fail('EBUSY');
  const own = writableContext(state, args.deviceId);
  if (own === undefined) writableContexts(state)[args.deviceId] = { domainId: args.domainId, pasids: {} };
  else own.domainId = args.domainId;
  state.copiedContexts = { ...state.copiedContexts, [args.deviceId]: true };
  return succeed({ deviceId: args.deviceId, domainId: args.domainId });
}

/** One teardown step on `sourceId`'s entry, whose copied DID was `didOld`. */
export function copiedTeardownStep(
  state: IommuState,
  sourceId: number,
  didOld: number,
  step: CopiedTeardownStep,
): void {
  switch (step) {
    case 'clear-present':
    case 'zero':
      // Not present either way (the model's entry has no other field); nothing when already so.
      clearContext(state, { deviceId: sourceId });
      return;
    case 'write-back':
      writeBackContextEntry(state, sourceId);
      return;
    case 'invalidate-context':
      invalidateContextCache(state, { granularity: 'device', domainId: didOld, sourceId });
      return;
    case 'invalidate-iotlb':
      flushDomain(state, didOld);
      return;
  }
}

/**
 * The attach's two phases: the steps up to and including the last invalidation (all of them when
 * none invalidates), and the rest. The window the device's DMA may fall into lies between them.
 */
export function splitCopiedTeardown(
  steps: readonly CopiedTeardownStep[],
): readonly [readonly CopiedTeardownStep[], readonly CopiedTeardownStep[]] {
  const last = Math.max(steps.lastIndexOf('invalidate-context'), steps.lastIndexOf('invalidate-iotlb'));
  const cut = last < 0 ? steps.length : last + 1;
  return [steps.slice(0, cut), steps.slice(cut)];
}

/** The copied entry's DID (`context_domain_id`), or null when `sourceId` has no copied present entry. */
export function copiedDomainId(state: IommuState, sourceId: number): number | null {
  if (!contextCopied(state, sourceId)) return null;
  const context = Object.hasOwn(state.contexts, sourceId) ? state.contexts[sourceId] : undefined;
  return context?.domainId ?? null;
}

/**
 * `domain_context_mapping_one` after the teardown's steps: `context_clear_entry`, the source-id no
 * longer copied, then the new entry naming `domainId`, written back, with the caching-mode flush
 * (`attachDevice`). ENOENT for an unknown domain, with the state unchanged.
 */
export function finishCopiedAttach(
  state: IommuState,
  args: { readonly deviceId: number; readonly domainId: number },
): OpResult {
  if (!isDeviceId(args.deviceId)) return fail('EINVAL');
  if (getDomain(state, args.domainId) === undefined) return fail('ENOENT');
  clearContext(state, { deviceId: args.deviceId });
  forgetCopied(state, args.deviceId);
  return attachDevice(state, args);
}

function forgetCopied(state: IommuState, sourceId: number): void {
  const copied = state.copiedContexts;
  if (copied === undefined || !Object.hasOwn(copied, sourceId)) return;
  const rest = withoutKey(copied, sourceId);
  if (rest === undefined) delete state.copiedContexts;
  else state.copiedContexts = rest;
}
