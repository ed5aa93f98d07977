/**
 * Reach statistics of the vIOMMU stack (`--stats`): states the generators must reach in a fair
 * share of runs for a passing run to mean something.
 */
import type { ViommuCommand, ViommuResult, ViommuState } from '../../models/viommu/types.js';
import { shadowedEntries } from '../../models/viommu/vmm.js';
import type { Transition } from '../../src/design.js';

export const DMA_THROUGH_STALE_GUEST_ENTRY = 'DMA at a GIOVA page the guest cleared without invalidating';
export const BALLOON_OF_MAPPED_PAGE = 'balloon out of a GPA page the vIOMMU table still maps';
export const FREED_FRAME_REUSED = 'a frame of guest RAM taken by another owner';
export const DMA_VIA_COMBINED_ENTRY = 'DMA translated by a combined IOTLB entry';
export const TRAP_CHANGED_SHADOW = 'trapped invalidation changed the host mappings';
export const CONTEXT_CHANGED_WHILE_REACHABLE =
  "device detached or moved while the host still maps its old domain's pages";
/**
 * The situation, not its outcome: a design whose VMM skips the resync (the flaw it is there for) must
 * reach it as often as a sound one.
 */
export const CONTEXT_SYNC_UNMAPPED = "context-cache invalidation while the device's old domain's pages are retired";

/** Scalable mode (`models/viommu/pasid.ts`): the guest moves its device by its RID_PASID entry. */
export const PASID_ENTRY_CHANGED_WHILE_REACHABLE =
  "RID_PASID entry cleared or set up while the host still maps its old domain's pages";
export const PASID_CACHE_INVALIDATED_WHILE_RETIRED =
  "PASID-cache invalidation while the device's old domain's pages are retired";
export const PIOTLB_CHANGED_SHADOW = 'PASID-based IOTLB invalidation changed the host mappings';
/**
 * QEMU v10.2.0's gate (docs/reference/viommu.md §7.9): the PASID-cache invalidation of a cleared
 * entry whose old pages the host still maps, with the VMM's PASID cache empty (a GCMD.TE switch, or a
 * setup without its PASID-cache invalidation, emptied it). The situation: a sound VMM unmaps there,
 * the gated one does not, and both must reach it.
 */
export const PASID_CACHE_INVALIDATED_UNCACHED =
  "PASID-cache invalidation of a cleared RID_PASID entry the VMM's PASID cache does not hold, its pages still shadowed";
/** The moment the guest's contract for its RID_PASID write starts to bind (invariants 7 and 8). */
export const PASID_WRITE_SETTLED = "RID_PASID write's PASID-cache and IOTLB invalidations done, old pages retired";

/**
 * The labels a default run must reach. A DMA through an entry the guest cleared without
 * invalidating is also counted and reported, but it needs an unmap, no invalidation, then a DMA
 * at the same page, and stays rarer (a few % of runs).
 */
export function viommuReach(mode: 'shadow' | 'nested', scalable = false): readonly string[] {
  const device = scalable
    ? [
        PASID_ENTRY_CHANGED_WHILE_REACHABLE,
        PASID_CACHE_INVALIDATED_WHILE_RETIRED,
        PIOTLB_CHANGED_SHADOW,
        PASID_WRITE_SETTLED,
        PASID_CACHE_INVALIDATED_UNCACHED,
      ]
    : [CONTEXT_CHANGED_WHILE_REACHABLE, CONTEXT_SYNC_UNMAPPED];
  return [
    BALLOON_OF_MAPPED_PAGE,
    FREED_FRAME_REUSED,
    mode === 'nested' ? DMA_VIA_COMBINED_ENTRY : TRAP_CHANGED_SHADOW,
    ...device,
  ];
}

/**
 * Floors at the default budget (`Design.reachFloors`): about a third of the fewest runs in 1,000 a
 * default run of `viommu/shadow` and `viommu/nested` reached each label in (`dmaprop check --design
 * viommu/shadow viommu/nested --seed 1 … 3 --stats`: 139, 237, 164, 190, 152 and 83 runs).
 */
export const viommuReachFloors: Readonly<Record<string, number>> = {
  [BALLOON_OF_MAPPED_PAGE]: 46,
  [FREED_FRAME_REUSED]: 79,
  [DMA_VIA_COMBINED_ENTRY]: 54,
  [TRAP_CHANGED_SHADOW]: 63,
  [CONTEXT_CHANGED_WHILE_REACHABLE]: 50,
  [CONTEXT_SYNC_UNMAPPED]: 27,
  // Scalable mode, from `viommu/scalable` at seeds 1–3 (196/216/200, 146/154/163, 96/114/108 and 33/54/32 runs).
  [PASID_ENTRY_CHANGED_WHILE_REACHABLE]: 65,
  [PASID_CACHE_INVALIDATED_WHILE_RETIRED]: 49,
  [PIOTLB_CHANGED_SHADOW]: 32,
  [PASID_WRITE_SETTLED]: 11,
  // Since the scalable generators draw the driver's runs (teardown, setup, suspend-resume), seeds 1–3
  // reach the four above in 161/189/175, 368/364/357, 155/181/163 and 209/232/228 runs, and this
  // one in 34/28/27.
  [PASID_CACHE_INVALIDATED_UNCACHED]: 9,
};

function mapsGpa(state: ViommuState, gpaPage: number): boolean {
  return Object.values(state.guest.table).some((entry) => entry.gpaPage === gpaPage);
}

export function classifyViommuStep(transition: Transition<ViommuState, ViommuCommand>): string[] {
  const { before, command, after } = transition;
  const result = transition.result as ViommuResult | null;
  if (before === null || command === null || result === null || !result.ok) return [];
  const labels: string[] = [];
  if (command.kind === 'guestBalloonOut' && mapsGpa(before, command.gpaPage)) labels.push(BALLOON_OF_MAPPED_PAGE);
  if (command.kind === 'allocateToOther') {
    const mfn = result.detail?.['mfn'];
    // The guest's RAM was populated from the lowest frames: one of them now has another owner.
    if (typeof mfn === 'number' && mfn < after.guestRam.pages) labels.push(FREED_FRAME_REUSED);
  }
  if (command.kind === 'deviceDma') {
    const cleared = !Object.hasOwn(after.guest.table, command.giovaPage);
    if (cleared && result.detail?.['outcome'] === 'landed') labels.push(DMA_THROUGH_STALE_GUEST_ENTRY);
    if (after.nestedDid !== null && result.detail?.['via'] === 'iotlb') labels.push(DMA_VIA_COMBINED_ENTRY);
  }
  if ((command.kind === 'guestDetach' || command.kind === 'guestAttach') && after.guest.retired.length > 0) {
    if (before.guest.retired.length < after.guest.retired.length) labels.push(CONTEXT_CHANGED_WHILE_REACHABLE);
  }
  if (command.kind === 'guestInvalidateContext' && before.guest.retired.length > 0) labels.push(CONTEXT_SYNC_UNMAPPED);
  if ((command.kind === 'guestClearPasid' || command.kind === 'guestSetupPasid') && after.guest.retired.length > 0) {
    if (before.guest.retired.length < after.guest.retired.length) labels.push(PASID_ENTRY_CHANGED_WHILE_REACHABLE);
  }
  if (command.kind === 'guestInvalidatePasidCache' && before.guest.retired.length > 0) {
    labels.push(PASID_CACHE_INVALIDATED_WHILE_RETIRED);
    if (
      before.guest.did === null &&
      before.pasidCache === null &&
      before.guest.translation &&
      shadowedEntries(before).size > 0
    )
      labels.push(PASID_CACHE_INVALIDATED_UNCACHED);
  }
  if (command.kind === 'guestInvalidatePiotlb') {
    const changed = Number(result.detail?.['mappedPages'] ?? 0) + Number(result.detail?.['unmappedPages'] ?? 0);
    if (changed > 0) labels.push(PIOTLB_CHANGED_SHADOW);
  }
  if (before.guest.pasidFlush !== null && after.guest.pasidFlush === null && after.guest.retired.length > 0)
    labels.push(PASID_WRITE_SETTLED);
  if (command.kind === 'guestInvalidate') {
    const changed = Number(result.detail?.['mappedPages'] ?? 0) + Number(result.detail?.['unmappedPages'] ?? 0);
    if (changed > 0) labels.push(TRAP_CHANGED_SHADOW);
  }
  return labels;
}
