/**
 * Mutants of the Xen passthrough stack: its sound design (`xenpt/hvm-shared-pt`, or the synced
 * table where the mechanism needs one) with one deliberate flaw, through the same hooks the flawed
 * designs use or one of the Xen model's bugs (`xenBugs`). Together with the flawed designs they
 * break every invariant of the stack (test/meta/mutants.test.ts); each is caught on 20/20 fresh
 * seeds at the default budget (`bench/declared-breaks.ts`).
 */
import { soundDeferredFlush } from '../../models/xenpt/config.js';
import { perDeviceScratch } from '../../models/xen/pci.js';
import { xenPtDesign } from './design.js';
import type { XenPtDesign } from './design.js';

export const xenPtMutants: readonly XenPtDesign[] = [
  xenPtDesign({
    id: 'mutant/xenpt/unmap-skips-page-put',
    expected: 'violates',
    xenBugs: ['unmap-skips-page-put'],
    description: 'GNTTABOP_unmap_grant_ref frees the handle but never drops its page references',
    breaks: ['frame-refcount-matches-holders', 'round-trip-returns-everything'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/unmap-skips-pin-drop',
    expected: 'violates',
    xenBugs: ['unmap-skips-pin-drop'],
    description: 'GNTTABOP_unmap_grant_ref drops the page references but leaves the pin counters',
    breaks: ['grant-pins-match-mappings-and-copies'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/unmap-keeps-status-bits',
    expected: 'violates',
    xenBugs: ['unmap-keeps-status-bits'],
    description: 'the unmap drops the pins but leaves GTF_reading and GTF_writing set',
    breaks: ['grant-status-matches-pins'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/free-keeps-tot-pages',
    expected: 'violates',
    xenBugs: ['free-keeps-tot-pages'],
    description: "freeing a frame forgets to decrement its owner's tot_pages",
    breaks: ['tot-pages-matches-owned-frames', 'counters-in-range'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/balloon-frees-referenced-page',
    expected: 'violates',
    xenBugs: ['balloon-frees-referenced-page'],
    description: 'decrease_reservation frees the page outright, whatever else still references it (a grant mapping)',
    breaks: ['free-iff-unreferenced'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/put-before-and-after-flush',
    expected: 'violates',
    deferredFlush: { ...soundDeferredFlush, name: 'put-before-and-after-flush', putsPage: 'before-and-after-flush' },
    description:
      "XSA-346's held reference added on top of the old put: add_to_physmap puts the moved page before the deferred flush and again after it, one reference too many",
    breaks: ['frame-refcount-matches-holders'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/flush-without-flags',
    expected: 'violates',
    deferredFlush: { ...soundDeferredFlush, name: 'flush-without-flags', passesFlushFlags: false },
    description:
      "add_to_physmap's deferred iommu_iotlb_flush called without flush flags: it returns at once, the old dfn's IOTLB entry stays",
    breaks: ['iotlb-matches-context-unless-pending'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/move-error-keeps-page-ref',
    expected: 'violates',
    deferredFlush: { ...soundDeferredFlush, name: 'move-error-keeps-page-ref', putsPageOnError: false },
    description:
      "xenmem_add_to_physmap_one's error path forgets the page reference it took (a destination it cannot free)",
    breaks: ['failed-op-leaves-state-unchanged', 'frame-refcount-matches-holders'],
  }),
  xenPtDesign({
    id: 'mutant/xenpt/shared-pseudo-domid',
    expected: 'violates',
    scratch: { ...perDeviceScratch, name: 'shared-pseudo-domid', pseudoDomid: () => 0 },
    description:
      'each quarantined device has its own scratch page but all share one pseudo domain id: one device hits the IOTLB entries another cached, into its scratch page',
    breaks: ['quarantined-dma-lands-in-own-scratch'],
  }),
];
