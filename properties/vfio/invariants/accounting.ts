/**
 * Accounting invariants of the VFIO stacks (docs/reference/vfio-type1.md §1.13): frame references agree with
 * their holders, locked_vm with the pins, dma_avail with the mappings, and every domain with the
 * mappings; mappings stay disjoint.
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import {
  describeHolder,
  frameRefcountMismatches,
  lockedVmAccounting,
  overlappingMappings,
  slotAccounting,
  translationDisagreements,
} from '../../../models/vfio/views.js';
import type { Invariant } from '../../../src/design.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

export const frameRefcountMatchesHolders: VfioInvariant = {
  name: 'frame-refcount-matches-holders',
  class: 'accounting',
  reads: (state) => [state],
  description:
    "each frame's reference count equals its holders: process pages, IOMMU-path pins, external pins, other owners",
  check({ after }) {
    const [mismatch] = frameRefcountMismatches(after);
    if (mismatch === undefined) return null;
    const holders = mismatch.holders.length === 0 ? 'no holder' : mismatch.holders.map(describeHolder).join(', ');
    return {
      message: `mfn ${mismatch.mfn}: refcount ${mismatch.refcount}, ${mismatch.holders.length} holders (${holders})`,
      actual: `refcount ${mismatch.refcount}`,
      expected: `refcount ${mismatch.holders.length}`,
    };
  },
};

export const lockedVmMatchesPins: VfioInvariant = {
  name: 'locked-vm-matches-pins',
  class: 'accounting',
  reads: (state) => [state],
  description:
    'mm->locked_vm equals the pages the mappings charged, which equal the pages §1.13 inv. 7 says are pinned',
  check({ after }) {
    const account = lockedVmAccounting(after);
    if (account.processPages === account.perMappingPages && account.perMappingPages === account.expectedPages)
      return null;
    return {
      message: `locked_vm ${account.processPages} pages, mappings charged ${account.perMappingPages}, pinned pages ${account.expectedPages}`,
      actual: `locked_vm ${account.processPages}`,
      expected: `locked_vm ${account.expectedPages}`,
    };
  },
};

export const lockedVmWithinLimit: VfioInvariant = {
  name: 'locked-vm-within-limit',
  class: 'accounting',
  reads: (state) => [state],
  description: 'without CAP_IPC_LOCK, locked_vm never exceeds RLIMIT_MEMLOCK',
  check({ after }) {
    const account = lockedVmAccounting(after);
    if (account.capIpcLock || account.processPages <= account.limitPages) return null;
    return {
      message: `locked_vm ${account.processPages} pages above RLIMIT_MEMLOCK ${account.limitPages}`,
      actual: `locked_vm ${account.processPages}`,
      expected: `at most ${account.limitPages}`,
    };
  },
};

export const dmaSlotsAccounted: VfioInvariant = {
  name: 'dma-slots-accounted',
  class: 'accounting',
  reads: (state) => [state],
  description: 'dma_avail + mappings = dma_entry_limit',
  check({ after }) {
    const slots = slotAccounting(after);
    if (slots === null || slots.dmaAvail + slots.mappings === slots.limit) return null;
    return {
      message: `dma_avail ${slots.dmaAvail} + ${slots.mappings} mappings ≠ dma_entry_limit ${slots.limit}`,
      actual: `${slots.dmaAvail + slots.mappings}`,
      expected: `${slots.limit}`,
    };
  },
};

export const mappingsDisjoint: VfioInvariant = {
  name: 'mappings-disjoint',
  class: 'accounting',
  reads: (state) => [state],
  description: 'the container’s mappings are pairwise disjoint IOVA ranges',
  check({ after }) {
    const [pair] = overlappingMappings(after);
    if (pair === undefined) return null;
    return {
      message: `mappings at iova pages ${pair.first} and ${pair.second} overlap`,
      actual: 'overlapping mappings',
      expected: 'disjoint mappings',
    };
  },
};

export const domainsMatchMappings: VfioInvariant = {
  name: 'domains-match-mappings',
  class: 'accounting',
  reads: (state) => [state],
  description: 'every IOMMU domain translates exactly the mapped pages, to the same frames, with the mapping’s prot',
  check({ after }) {
    const [problem] = translationDisagreements(after);
    if (problem === undefined) return null;
    return {
      message: `domain ${problem.domainId} iova page ${problem.iovaPage}: ${problem.problem}`,
      actual: problem.problem,
      expected: 'the translation of the mapping',
    };
  },
};
