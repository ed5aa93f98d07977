/**
 * The meta-test shared by `meta-*.test.ts`: for every flawed design, XenGT mutant and vIOMMU
 * differential mutant, the shortest counterexample `explore` finds for an invariant has the length
 * `check` shrinks to, for every invariant both report. `check` samples and shrinks; `explore`
 * enumerates the scope breadth-first, so a longer `check` trace would mean the shrinker or
 * minimizer stopped short of the minimum, and a longer `explore` trace (or none) that the scope
 * misses what `check` can generate. (The mediator's own mutants on XenGT, `xenGtMediatorMutants`,
 * break it through PPGTT commands that the XenGT scope leaves out, and are not compared.)
 *
 * The comparison runs `explore` to the length of `check`'s longest counterexample, up to
 * `META_DEPTH`, with only those invariants checked, and stops once each is broken. Some
 * counterexamples are longer than 4 steps and are compared only when `DMAPROP_EXPLORE_DEEP=1`
 * (depth 5: about 400,000 transitions and 15 s each):
 * - mutant/xen-map/balloon-frees-referenced-page, tot-pages-matches-owned-frames: 5 steps;
 * - mutant/xen-map/map-takes-no-ref, tot-pages-matches-owned-frames: 5 steps.
 * Both were compared at depth 5 when this test was written, and agree (5 = 5). Since the XenGT
 *   interleavings (seed 1 draws other sequences) both also break zombie-without-frames-is-dead, in
 *   6 steps (write, balloon out, vGPU destroyed, the frame populated twice, the guest destroyed:
 *   its tot_pages never reaches 0): pinned here, not compared (depth 6 is beyond the budget).
 *   map-takes-no-ref also breaks round-trip-returns-everything in 5 steps (issue 18: write, balloon
 *   out, write, two populates by dom0, the second not undone by its decrease_reservation); explore
 *   to depth 5 finds 5 (197,924 states, 18 s).
 * - xen/lookup, shadow-matches-guest-entry: 5 steps (the raw mfn of a page the guest gave back
 *   comes back to it at another gfn, two DMA cache entries hold it, and releasing one drops the
 *   other; cache-kref-matches-shadow-users breaks one step earlier, at 4). `dmaprop explore
 *   --design xen/lookup --depth 5` finds 5 and 4 (653,459 states, 2 min 26 s with every invariant).
 * - iommu/lazy, no-dma-to-free-frame: 5 steps, and no-dma-to-foreign-frame: 6 steps. `dmaprop
 *   explore --design iommu/lazy --depth 6` finds 5 and 6 (26,345 states, 15 s).
 * - viommu/shadow-unmap-skips-flush: every counterexample, 5 to 8 steps (the shadow maps only on
 *   an invalidation, and the stale entry needs a DMA through the old mapping first). `dmaprop
 *   explore --design viommu/shadow-unmap-skips-flush --depth 9` finds 8, 7, 6, 5 and 5 (27,607
 *   states, 22 s), the lengths check shrinks to.
 * - viommu/nested-flush-leaves-combined, no-dma-to-foreign-frame: 5 steps; the same explore to
 *   depth 9 finds 5 (7,350 states, 11 s).
 * - viommu/shadow-unmap-skips-flush and viommu/shadow-wait-before-unmap,
 *   invalidated-giova-unreachable: 5 steps (map, invalidate, clear, the invalidation started, its
 *   wait completed); explore to depth 5 finds 5 (640 and 664 states, under a second each).
 * - viommu/context-clear-keeps-shadow, viommu/shadow-same-did-skips-sync and
 *   viommu/nested-same-did-skips-flush (the device's life, in the lifecycle scope): 4 steps each;
 *   viommu/te-on-keeps-no-dmar: 2 (and 4 for a blocked device); compared in every run (1 to 2 s
 *   each).
 *
 * Interleaving designs and mutants (`iommu/unpin-before-sync`, `vfioInterleavingMutants`,
 * `passthroughInterleavingMutants`): the cheap designs are compared in every run; the costly ones
 * (`COSTLY`) and every mutant only with `DMAPROP_DEEP=1`. Their counterexamples
 * beyond depth 4, compared at depth 5 when this was written, agree:
 * - mutant/vfio-mediated/unmap-skips-recheck: 5 steps (map, pin, UNMAP_DMA started — it notifies
 *   and drops iommu->lock —, pin again, the unmap's recheck skipped); explore depth 5 finds 5
 *   (2,729 states, 2 s).
 * - iommu/unpin-before-sync: reachable-frame-owned-by-guest 5, depth 5 finds 5 (5,919 states,
 *   5 s); no-dma-to-foreign-frame 7, depth 7 finds 7 (67,192 states, 67 s).
 * - mutant/iommu-lazy-held/fq-queues-before-pte-clear: no-stale-iotlb-outside-flush-queue 5, depth 5
 *   finds 5 (9,525 states, 6 s).
 */
import { expect } from 'vitest';
import { checkDesign } from '../../src/check.js';
import type { AnyDesign } from '../../src/design.js';
import { runTrace } from '../../src/execute.js';
import { exploreDesign } from '../../src/explore.js';
import { designs } from '../../properties/registry.js';
import { iommufdDifferentialMutants, iommufdMutants } from '../../properties/iommufd/mutants.js';
import { passthroughInterleavingMutants } from '../../properties/passthrough/mutants.js';
import { vfioInterleavingMutants } from '../../properties/vfio/mutants.js';
import { differentialMutants } from '../../properties/viommu/mutants.js';
import { xenGtMutants } from '../../properties/xengt/mutants.js';
import { DEEP as DEEP_TIER } from '../helpers.js';

export const META_DEPTH = process.env['DMAPROP_EXPLORE_DEEP'] === '1' ? 5 : 4;

/** Counterexamples of `check` (seed 1, 500 runs) known to be longer than 4 steps, with their lengths. */
const DEEP: Readonly<Record<string, Readonly<Record<string, number>>>> = {
  // Seed 1 also breaks a counter's range late (8 steps, since this stop's generation): not compared.
  'xen/domid-freed-at-kill': { 'counters-in-range': 8 },
  // The PV memory designs' DMA effects, beyond depth 4 (not compared): dom0's IOMMU entry of a
  // guest's frame outliving the last grant unmap, the guest's frame given back and reused, then
  // reached. (pv-type-change-skips-iommu-unmap's were here, 6 and 7 steps through a dom0 frame:
  // seed 1 now reaches the free frame in 4 through the guest's own, a table pinned, ballooned out,
  // unpinned, then its device's DMA, compared; and the foreign frame not at all.)
  'xenpt/pv-grant-iommu-count-never-drops': {
    'device-reach-owned-or-held': 5,
    'no-dma-to-foreign-frame': 6,
    'no-dma-to-free-frame': 7,
  },
  // The grant v2 designs' DMA effects, beyond depth 4 (not compared): the status frame left at its
  // gfn(s) after the switch back to v1, freed, reused and reached by the guest's device.
  // Seed 1 also finds the freed status frame reused by dom0 as an L1 table while the guest's p2m
  // still maps it writable (no-writable-page-table, 5 steps).
  'xenpt/gnttab-unpopulate-leaves-status-mapped': { 'no-dma-to-foreign-frame': 6, 'no-writable-page-table': 6 },
  'xenpt/gnttab-status-frame-at-two-gfns': { 'no-dma-to-free-frame': 5, 'no-dma-to-foreign-frame': 6 },
  'mutant/xen-map/balloon-frees-referenced-page': {
    'tot-pages-matches-owned-frames': 5,
    'zombie-without-frames-is-dead': 6,
    // Since the XenGT generators inject faults, seed 1 also finds a failed request that left the
    // early free's damage behind: 6 steps, not compared.
    'failed-op-leaves-state-unchanged': 6,
    // Seed 1 also finds the granter ballooning out a page another domain has mapped through a grant
    // (the early free), then both domains destroyed: the freed page's grant pin outlives the handle
    // that held it, 5 steps. `exploreDesign` to depth 5 with that invariant finds 5 (1,604,679
    // states; its trace creates the granter again where check's destroys the mapper).
    'grant-pins-match-handles': 5,
  },
  'mutant/xen-map/map-takes-no-ref': {
    'tot-pages-matches-owned-frames': 5,
    'zombie-without-frames-is-dead': 6,
    'round-trip-returns-everything': 5,
  },
  'iommu/lazy': { 'no-dma-to-free-frame': 5, 'no-dma-to-foreign-frame': 6 },
  // iommufd's: a DMA into the frame freed under a stale IOTLB entry (map, DMA, unmap, munmap, DMA),
  // under a pin the unmap did not notify (map, pin, unmap, munmap, the driver's DMA), or under the
  // storage domain's translation, taken by another VM (map, unmap, munmap, allocation, DMA):
  // `explore --depth 5` finds 5 for each (4,996, 4,620 and 4,570 states, 2 to 5 s).
  'iommufd/lazy': { 'no-dma-to-free-frame': 5 },
  'iommufd/unmap-under-access': { 'no-dma-to-free-frame': 5 },
  'mutant/iommufd/unmap-skips-storage-domain': { 'no-dma-to-foreign-frame': 5 },
  // The first-level PASID teardown with a DSI: its stale entry needs attach, map, DMA with the
  // PASID, detach and an unmap (or the group out); the no-tag attach's free frame, a discard more.
  'iommu/first-level-teardown-dsi': {
    'no-stale-iotlb-outside-flush-queue': 5,
    'no-dma-to-free-frame': 9,
    'reachable-frame-owned-by-guest': 8,
    'reachable-frame-pinned': 6,
  },
  'iommu/first-level-no-cache-tag': { 'reachable-frame-owned-by-guest': 5, 'no-dma-to-free-frame': 6 },
  'xen/lookup': { 'shadow-matches-guest-entry': 5 },
  // The thread's five steps (test/xengt/interleaved-race.test.ts).
  'xen/lookup-then-map': { 'no-dma-to-foreign-frame': 5 },
  // (Its lifecycle invariants are found through commands outside its scope: `OUTSIDE_SCOPE`.)
  'viommu/shadow-unmap-skips-flush': {
    'no-dma-to-foreign-frame': 9,
    'reachable-frame-owned-by-guest': 6,
    'reachable-frame-pinned': 5,
    'no-stale-iotlb-outside-flush-queue': 5,
    'invalidated-giova-unreachable': 5,
  },
  'viommu/nested-flush-leaves-combined': { 'no-dma-to-foreign-frame': 5 },
  'viommu/shadow-wait-before-unmap': { 'invalidated-giova-unreachable': 5 },
  // Scalable mode's ignored PASID-cache invalidation: map, invalidate, clear the RID_PASID entry,
  // PASID-cache and domain-selective IOTLB invalidations; explore to depth 5 finds 5 for both.
  'viommu/pasid-cache-ignored': { 'blocked-device-reaches-nothing': 5, 'earlier-domain-unreachable': 5 },
  // QEMU v10.2.0's gated PASID-cache sync: suspend and resume (GCMD.TE off, on: the cache emptied),
  // a map shadowed by the PASID-based IOTLB invalidation, then the teardown by the book (clear,
  // PASID-cache, domain-selective IOTLB): 7 steps, beyond the explorer's depth; pinned, not compared.
  'viommu/pasid-cache-gated': { 'blocked-device-reaches-nothing': 7, 'earlier-domain-unreachable': 7 },
  'mutant/vfio-mediated/unmap-skips-recheck': { 'frame-refcount-matches-holders': 5, 'locked-vm-matches-pins': 5 },
  // Since the PASID commands joined the passthrough generators (issue 21), seed 1's 500 runs reach
  // the free frame in 6 steps (explore's shortest, 4, agreed before).
  'iommu/unpin-before-sync': {
    'no-dma-to-foreign-frame': 7,
    'reachable-frame-owned-by-guest': 5,
    'no-dma-to-free-frame': 6,
  },
  // The non-coherent IOMMU's unmap without write-back: the DMA into another VM's frame after the
  // frame's reuse (5, as iommu/lazy's 6 less its discard).
  'iommu/noncoherent-unmap-skips-writeback': { 'no-dma-to-foreign-frame': 6 },
  // Since generation aims its windows, seed 1 also reaches the frame through the entry the early
  // queue left: not compared (depth 6 to 9).
  'mutant/iommu-lazy-held/fq-queues-before-pte-clear': {
    'no-stale-iotlb-outside-flush-queue': 5,
    'reachable-frame-pinned': 6,
    'reachable-frame-owned-by-guest': 7,
    'no-dma-to-free-frame': 8,
    'no-dma-to-foreign-frame': 9,
  },
  // Map, start a channel program, munmap, UNMAP_DMA (the program not quiesced), the program
  // completes into the freed frame: explore to depth 5 finds 5 (4,477 states, 1.5 s).
  'mutant/vfio-mediated/ccw-unmap-skips-quiesce': { 'no-dma-to-free-frame': 5, 'no-dma-to-foreign-frame': 6 },
  // A replay that fails (a fault or an unmapped vaddr while the IOMMU group is out, the group back).
  'vfio/mixed-replay-skips-unwind': {
    // Since the multi-group weights favour joins, faults and SET_IOMMU, seed 1 fails the replay in
    // 4 steps (compared) and finds these later: the domain out of step with VFIO (5), a charge out
    // of range (6; 7 before), the release (8).
    'domains-match-mappings': 5,
    'counters-in-range': 6,
    'released-container-uncharged': 8,
  },
  // Since the multi-group lifecycle generation, seed 1 also finds the unreplayed domain's later
  // consequences: a mapping charged twice its pages to locked_vm (6), the release (9).
  'vfio/mixed-attach-skips-replay': {
    'counters-in-range': 6,
    'locked-vm-within-limit': 9,
    'released-container-uncharged': 9,
  },
  // Every device closed, both groups out, both back, an allocation failing in the second's attach,
  // VFIO_SET_IOMMU: 8 steps, beyond any depth the explorer reaches here; pinned, not compared.
  'vfio/set-iommu-unwind-skips-attached': {
    'attached-group-in-container-domain': 8,
    'failed-op-leaves-state-unchanged': 8,
  },
  // kvmgt/no-ggtt-reset's shared cache entry: 5 steps again since the guest's stores grew to weight
  // 44 (the vGPU destroyed and created, two 4-byte stores, a PPGTT created; 4 from the KVMGT
  // workloads until then, `SHRINKS_SHORT`); the shortest is 3 (a GGTT write after destroy and create).
  'kvmgt/no-ggtt-reset': { 'cache-kref-matches-shadow-users': 5 },
  // Since the guest's stores grew to weight 44, seed 1's 500 runs reach the cache's dropped reference
  // through a PPGTT (a store, an unmap, the announcement, a GGTT write preempted by an unmap, a
  // store: 7 steps); pinned, not compared.
  'kvmgt/unmap-under-cache-lock': { 'cache-kref-matches-shadow-users': 7 },
  // A group leaves with the guest's memory mapped for the other (close, map, DMA, the group out),
  // then UNMAP_DMA (pinned: 5; 6 at seed 1 since the PASID commands joined the generators, issue
  // 21), a discard and a DMA into the freed frame or its reach (7).
  'iommu/context-clear-flushes-cleared-did': {
    // The freed frame taken by another VM, then the DMA (since the merged lifecycle generation; not
    // compared; seed 1's lengths since this stop's generation: 8 and 6, were 9 and 7).
    'no-dma-to-foreign-frame': 8,
    'no-dma-to-free-frame': 7,
    'reachable-frame-owned-by-guest': 6,
    'reachable-frame-pinned': 6,
  },
  'iommu/detach-keeps-context': {
    // The freed frame taken by another VM, then the DMA (since the merged lifecycle generation; not
    // compared; seed 1's lengths since this stop's generation: 8 and 6, were 9 and 7).
    'no-dma-to-foreign-frame': 8,
    'no-dma-to-free-frame': 7,
    'reachable-frame-owned-by-guest': 6,
    'reachable-frame-pinned': 6,
  },
};

/**
 * Counterexamples `check` (seed 1) finds through commands the stack's explore scope leaves out,
 * with why: explore cannot reach them at any depth, so they are not compared.
 */
const OUTSIDE_SCOPE: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  // Undeclared: the other VM frees the frame the copied entry maps, then the DMA in the window lands
  // in it; the scope's other VM frees nothing (its declared breaks are all one step).
  'iommu/kdump-invalidate-before-clear': {
    'no-dma-to-free-frame': "the other VM frees the crashed domain's frame, the DMA in the window: 2 steps",
  },
  // Since the guest's stores grew to weight 44, seed 1 splits a 2M entry part-way over RAM the VMM
  // unmapped (an unmap of gfns 6-7, the announcement, the 2M entry stored over gfns 4-7: 3 steps);
  // explore does not reach that route within its scope; its shortest is 4 steps.
  'kvmgt/2m-split-error-leaks': {
    'cache-kref-matches-shadow-users': 'an unmap of gfns 6-7, a PPGTT, a 2M entry over gfns 4-7: 3 steps',
  },
  // A population failing part-way: the scope's stores write entry 0 only and its faults strike the
  // first attempt (check at seed 1: a 2M entry and a table in one directory, a fault at the second
  // page track, the announcement; explore to depth 4 finds none, 74 s).
  'kvmgt/shipped-populate-unwind': {
    'cache-kref-matches-shadow-users': 'a directory with two entries, a fault at its second page track: 4 steps',
    'failed-op-leaves-state-unchanged': 'a directory with two entries, a fault at its second page track: 4 steps',
    'spt-refcount-matches-references': 'a directory over two tables, a fault at the third page track: 4 steps',
  },
  // A 64K split failing part-way and its entry rewritten (issue 21): the scope's faults strike the
  // first attempt, where a split maps nothing (check at seed 1: a fault at the second pin, the
  // announcement, a directory entry with IPS, the table's entry stored twice).
  'kvmgt/64k-split-error-keeps-slots': {
    'cache-kref-matches-shadow-users': 'a fault at the second pin, a 64K entry split part-way, then rewritten: 5 steps',
  },
  // Since issue 21's aimed KVMGT generation, check at seed 1 also reaches the free frame past the
  // 2M page's first (undeclared): a PPGTT at gfn 5, a 2M entry over gfns 4-7 stored into it, the
  // GPU reading its second page ([0][1]); the scope's `2m` part stores the entry into gfn 0 and
  // its GPU accesses take page 0 (3 steps).
  'kvmgt/2m-pin-skips-contiguity': {
    'no-dma-to-free-frame': 'a 2M entry over gfns 4-7 in a PPGTT at gfn 5, the GPU reading its second page: 3 steps',
  },
  // The one-group scope has no PASID attach nor group lifecycle: the PASID entry torn down without
  // its write-back, the device closed, its group out (3 steps).
  'iommu/noncoherent-pasid-skips-writeback': {
    'reused-did-carries-no-earlier-translations': 'attach a PASID, close the device, the group out: 3 steps',
  },
  // The one-group scope has no group lifecycle: seed 1 takes the group out after the DSI-only
  // teardown (attach, map, DMA with the PASID, close, the group out: 5 steps).
  'iommu/first-level-teardown-dsi': {
    'reused-did-carries-no-earlier-translations': 'the device closed, its group out of the container: 5 steps',
  },
  // The gfn's frame, left in the HVM guest's unsynced IOMMU table, handed to dom0 and pinned as its
  // L1 table: the stack's own scope has no PV MMU command (the PV memory designs' has).
  'xenpt/unmap-not-synced': {
    'no-writable-page-table': 'balloon-out, the frame populated to dom0, pinned as an L1: 3 steps',
  },
  // Since the KVMGT generators draw fault injection, seed 1 also finds this: another owner's frame
  // released (the host GPU driver's page behind host GGTT entry 1) and a store through entry 1. The
  // scope names only the other VM's frame and host entry 0.
  'cmdbuf/scan-in-place': { 'no-dma-to-free-frame': 'the host page of GGTT entry 1, released, 4 steps' },
  // The orphan pin is leaked when the container is released: seed 1 takes the group out of the
  // container (map, the failed pin, both devices closed, the group out: 5 steps). The mediated
  // world has no vfio-pci device, and the scope's group lifecycle is the first vfio-pci device's.
  'mdev/pin-unwind-skips-earlier': {
    'frame-refcount-matches-holders': 'the mdev group out of its container, 5 steps',
    'locked-vm-matches-pins': 'the mdev group out of its container, 5 steps',
    'released-container-uncharged': 'the mdev group out of its container, 5 steps',
  },
  // The device's life (detach, attach, context-cache invalidation) is the lifecycle scope's, which
  // its own designs use; this design's scope is the invalidation's (map, unmap, invalidate, DMA).
  'viommu/shadow-unmap-skips-flush': {
    'blocked-device-reaches-nothing': 'guestDetach and guestInvalidateContext, 5 steps',
    'earlier-domain-unreachable': 'guestDetach and guestInvalidateContext, 5 steps',
    // Seed 1's 5-step route since this stop's generation: explore to depth 5 finds none in the scope.
    'no-dma-to-free-frame': "seed 1's free-frame DMA, 5 steps, not in the scope to depth 5",
  },
  // The VMM's exec and the VADDR protocol (issue 21, §1.20) are not in the VFIO scope: adding the
  // exec, UNMAP_DMA VADDR and the re-supply to every VFIO world's scope would widen every VFIO
  // design's comparison. check shrinks them to map, exec, unmap (3 steps; the release after a
  // close, 4) and map, exec, invalidate, re-supply (4 steps).
  'vfio/exec-locked-vm-underflow': {
    'locked-vm-matches-pins': 'MAP_DMA, exec, UNMAP_DMA: 3 steps',
    'counters-in-range': 'MAP_DMA, exec, UNMAP_DMA: 3 steps',
    'released-container-uncharged': 'MAP_DMA, close, exec, the group out: 4 steps',
  },
  'vfio/exec-charge-not-moved': {
    'locked-vm-matches-pins': 'MAP_DMA, exec, UNMAP_DMA VADDR, MAP_DMA VADDR: 4 steps',
  },
  // Its flaw is on the p2mRemove fault point's path (`startDecreaseReservation`: the hook acts only
  // when that fault strikes); the XenGT scope injects only at the host mapping (its grant map's
  // undo_out): inject, balloon out (2 steps), then a GTT write of the page. Since this stop's
  // generation seed 1 also reaches the frame's later life, each trace opening with the same fault:
  // the page freed while mapped and handed to dom0, then reached. Adding the fault point to the
  // scope is not cheap: depth 4 is already 146,391 states (27 s) for this design without it, and
  // these DMA traces are 5 steps; every XenGT design's comparison would search the fault too.
  'xen/balloon-ignores-remove-error': {
    'frame-refcount-matches-holders': 'a p2mRemove fault, then a balloon-out, 2 steps',
    'shadow-frame-owned-by-guest': 'a p2mRemove fault, a balloon-out, a GTT write of the gfn, 3 steps',
    'free-iff-unreferenced': 'a p2mRemove fault, the balloon-out twice (the page freed), dom0 populates it: 4 steps',
    'round-trip-returns-everything': 'a p2mRemove fault, a balloon-out, a GTT write, dom0 populates the page: 4 steps',
    'no-dma-to-foreign-frame':
      'a p2mRemove fault, a balloon-out, dom0 populates the page, it is shadowed and read: 5 steps',
    'no-dma-to-free-frame': 'a GTT write, a p2mRemove fault, the balloon-out twice, a DMA read: 5 steps',
  },
  // Its flaw is on a 2M entry's split, and the XenGT scope has no PPGTT command: a PPGTT created, a
  // page of the 2M page ballooned out, the 2M entry stored (or stored, ballooned, created).
  'xengt/2m-split-error-leaks': {
    'cache-kref-matches-shadow-users': 'ppgttCreate, a balloon-out, a 2M entry stored: 3 steps',
    'failed-op-leaves-state-unchanged': 'a 2M entry stored, a balloon-out, ppgttCreate: 3 steps',
  },
};

/**
 * Counterexamples `check` (seed 1) leaves longer than the shortest `explore` finds, with both
 * lengths: a known gap of the shrinker.
 */
const SHRINKS_SHORT: Readonly<Record<string, Readonly<Record<string, { check: number; shortest: number }>>>> = {
  // Seed 1 leaves the domain out of step with the IOAS through three maps, the third failing past
  // RLIMIT_MEMLOCK (3 steps); the shortest is one map running off the end of the guest's RAM
  // (EFAULT after its first page), which no minimizer move makes of a map that fails by ENOMEM.
  'mutant/iommufd/map-error-skips-unwind': { 'iommu-matches-ioas': { check: 3, shortest: 1 } },
  // (vfio/map-unwind-returns-slot-twice was here: with fast-check's bias on, seed 1 shrank the
  // doubled DMA slot to 3 steps, a MAP_DMA failing after a munmap of its page, then GET_INFO, against
  // the shortest 2; unbiased, it finds the shortest, the failing two-page MAP_DMA, then GET_INFO.)
  'vfio/mixed-unmap-skips-unpin': {
    'failed-op-leaves-state-unchanged': { check: 3, shortest: 1 },
  },
  // (kvmgt/shipped-unmap's dropped references were here, 4 steps against the shortest 2: seed 1
  // finds the 2 since the KVMGT generators enable the guest's PPGTT workload together.)
  // Since the KVMGT workloads (`WORKLOADS`), seed 1 reaches a pin no cache entry holds through a
  // PPGTT's 2M entry (a GGTT entry cleared, the entry stored, the PPGTT created: 3 steps; the
  // unmap's BUG_ON and the refused command one more); the shortest is a fault and a GGTT write (2),
  // and no minimizer move turns the PPGTT's commands into a GGTT write.
  // Since the guest's stores grew to weight 44 the vGPU's and the device's teardown go the same
  // route (a 2M entry stored, a GGTT entry cleared, the PPGTT created, the VM destroyed: 4; the
  // shortest 3).
  'kvmgt/dma-map-error-keeps-pin': {
    'vgpu-pins-held': { check: 3, shortest: 2 },
    'no-kernel-crash': { check: 4, shortest: 3 },
    'failed-op-leaves-state-unchanged': { check: 4, shortest: 3 },
    'destroyed-vgpu-leaves-nothing': { check: 4, shortest: 3 },
    'closed-device-holds-nothing': { check: 4, shortest: 3 },
  },
  // The same since the workloads: a fault and a PPGTT over a 2M entry (4 since the guest's stores
  // grew to weight 44: two stores, the fault, the announcement; 3 before); the shortest is a fault
  // and a GGTT write (2), and the crash, the teardowns and the failed op one more than theirs (3).
  'kvmgt/cache-add-error-keeps-map': {
    'vgpu-pins-held': { check: 4, shortest: 2 },
    'no-kernel-crash': { check: 4, shortest: 3 },
    'destroyed-vgpu-leaves-nothing': { check: 4, shortest: 3 },
    'closed-device-holds-nothing': { check: 4, shortest: 3 },
    'failed-op-leaves-state-unchanged': { check: 4, shortest: 3 },
  },
  // Since the guest's stores grew to weight 44, seed 1's failed population stores two entries
  // before the fault and the announcement (4); the shortest is 3.
  'kvmgt/2m-release-unpins-4k': { 'failed-op-leaves-state-unchanged': { check: 4, shortest: 3 } },
  // (vfio/map-unwind-skips-uncharge's gaps are gone: seed 1 now shrinks each break to its shortest.)
  // Seed 1 shares a DMA address through the PPGTT (4 steps before the guest's stores grew to weight
  // 44: the vGPU destroyed and created, a 2M entry stored, a PPGTT created; 5 since, pinned in `DEEP`
  // for depth 4); the shortest is a GGTT write after destroy and create (3), and no minimizer move
  // turns the PPGTT's commands into a GGTT write.
  'kvmgt/no-ggtt-reset': { 'cache-kref-matches-shadow-users': { check: 5, shortest: 3 } },
  // Seed 1's balloon reaches the backend's mapping in 3 steps since this stop's generation; the
  // shortest is 2.
  'mutant/xen-map/balloon-ignores-owner': { 'backend-mappings-match-shadow': { check: 3, shortest: 2 } },
};

/** Interleaving designs and mutants whose comparison takes 10 to 35 s: only with `DMAPROP_DEEP=1`. */
const COSTLY = new Set([
  // Issue 21's shipped 2M free (its scope's `2m` part), about 19 s (agreed when registered: check at
  // seed 1 and 500 runs against explore, cache-kref-matches-shadow-users 3 = 3); and its shipped
  // population unwind, outside the scope (OUTSIDE_SCOPE): only its check would run.
  'kvmgt/shipped-free-skips-2m',
  'kvmgt/shipped-populate-unwind',
  // Its 64K split failing part-way, outside the scope likewise (OUTSIDE_SCOPE).
  'kvmgt/64k-split-error-keeps-slots',
  // The four longest comparisons left in the default tier (1.8 to 2.5 s each on an idle machine)
  // after issue 21's KVMGT and vIOMMU merges and issue 23's iommufd scope, to bring npm test back
  // toward its two minutes; each agreed in the default tier before the move (this session).
  'kvmgt/2m-pin-skips-contiguity',
  'vfio/exec-charge-not-moved',
  'kvmgt/destroy-keeps-ggtt',
  'kvmgt/2m-lookup-ignores-size',
  // The four longest comparisons after the second round of issue 21's merges (1.9 to 3.5 s each),
  // to keep npm test within its two minutes; each agreed when compared in the default tier
  // (this session's npm test before the move).
  'kvmgt/2m-release-unpins-4k',
  'kvmgt/2m-size-change-remaps',
  'kvmgt/shipped-unmap',
  'vfio/exec-locked-vm-underflow',
  // And the next four (1.2 to 1.6 s), for the same reason.
  'viommu/nested-flush-leaves-combined',
  'viommu/shadow-same-did-skips-sync',
  'kvmgt/track-add-error-keeps-registration',
  'viommu/shadow-wait-before-unmap',
  // The six longest comparisons of the default tier (1.6 to 3.2 s each: their check's 1,000 runs
  // and shrinking, then the explorer to depth 4), to keep npm test within its two minutes after
  // issue 21's merges; each agreed when last compared in the default tier.
  'cmdbuf/scan-in-place',
  'kvmgt/unmap-under-cache-lock',
  'viommu/shadow-unmap-skips-flush',
  'vfio/mixed-unmap-skips-unpin',
  'gvt/no-write-protect',
  'mdev/ignores-unmap',
  // Issue 21's VFIO designs whose comparison takes 0.5 to 9 s (their check's 500 runs, and the
  // VM_PFNMAP scope's extra maps), to keep npm test within its two minutes: compared when added,
  // and agreeing (update-vaddr-with-mdev and get-info-overflows-argsz 1 = 1;
  // pfnmap-ram-unpinned and pfnmap-charged every break, 1 to 3 steps; pins-zero-page every break).
  'vfio/update-vaddr-with-mdev',
  'vfio/get-info-overflows-argsz',
  'vfio/pfnmap-ram-unpinned',
  'vfio/pfnmap-charged',
  'vfio/pins-zero-page',
  // The VFIO unwind and reconfiguration designs whose comparison takes 2 to 8 s (a default-tier
  // budget of a few seconds for all of them): compared when added, and agreeing as pinned in
  // `DEEP` and `SHRINKS_SHORT` (attach-skips-replay: 4 = 4 for both of its breaks).
  'vfio/map-unwind-skips-uncharge',
  'vfio/mixed-attach-skips-replay',
  'vfio/mixed-replay-skips-unwind',
  'mdev/pin-unwind-skips-earlier',
  'iommu/unpin-before-sync',
  'mutant/vfio-passthrough/map-before-pin',
  'mutant/iommu-lazy-held/fq-queues-before-pte-clear',
  // Issue 18's KVMGT designs whose comparison takes 5 to 10 s (each agreed when added).
  'kvmgt/dma-map-error-keeps-pin',
  'kvmgt/cache-add-error-keeps-map',
  'kvmgt/no-ggtt-reset',
  // Issue 21's 64K entries (their scope's `64k` part, the directory entry with the IPS bit), about 45 s each to depth
  // 4 with every invariant: agreed when added (check at seed 1 and 500 runs against explore to
  // depth 4): 64k-removal-first-page cache-kref-matches-shadow-users 4 = 4, 64k-split-unmasked
  // shadow-matches-guest-entry 3 = 3.
  'kvmgt/64k-removal-first-page',
  'kvmgt/64k-split-unmasked',
  // Issue 21's failed 2M split (its scope's `2m` part), 15 s (check at seed 1 and 500 runs, then
  // explore to depth 4): agreed when added, cache-kref-matches-shadow-users 4 = 4 (a pin fault, a
  // GGTT entry cleared, the 2M entry over gfns 4-7 stored, the PPGTT created).
  'kvmgt/2m-split-error-leaks',
  // Outside the scope (OUTSIDE_SCOPE): only its 19 s check would run.
  'xengt/2m-split-error-leaks',
  // Its one counterexample is 5 steps, beyond the default depth: the default tier would only
  // re-run its 8 s check to pin the known length. Compared at depth 5 in the deeper tier.
  'xen/lookup-then-map',
  // Issue 18's vIOMMU and VFIO lifecycle designs and the ccw mutant, 1 to 2 s each (each agreed
  // when added: te-on-keeps-no-dmar 2 = 2, context-clear-keeps-shadow 4 = 4, nested-same-did 4 = 4,
  // mixed-detach-keeps-pins and ccw-unmap-skips-quiesce as pinned in DEEP and SHRINKS_SHORT).
  // The registered designs whose comparison takes 2.5 to 4 s in the default tier (each agreed
  // there for as long as it ran in it): the deeper tier compares them.
  'kvmgt/unmap-unlocked',
  'iommu/lazy',
  'xen/lookup',
  'viommu/te-on-keeps-no-dmar',
  'viommu/context-clear-keeps-shadow',
  'viommu/nested-same-did-skips-flush',
  // Issue 21's scalable vIOMMU: its 500-run check takes about 4 s for 5-step counterexamples
  // (pinned in DEEP; explore to depth 5 agreed when added).
  'viommu/pasid-cache-ignored',
  // QEMU v10.2.0's gate: its 500-run check takes about 9 s (7-step counterexamples, pinned in DEEP).
  'viommu/pasid-cache-gated',
  'vfio/mixed-detach-keeps-pins',
  'mutant/vfio-mediated/ccw-unmap-skips-quiesce',
  // Issue 18's waits that never end, 1 to 2 s each (each agreed when added: map, pin, unmap 3 = 3;
  // the KVMGT unmap of shadowed RAM 1 = 1).
  'mdev/unmap-callback-under-lock',
  'kvmgt/unmap-under-iommu-lock',
  // Issue 18's attach error path (4 = 4 since the multi-group weights), and
  // the multi-group VFIO_SET_IOMMU (8 steps, pinned in DEEP: its 500-run check alone takes 5 s).
  'vfio/set-iommu-unwind-skips-attached',
  'vfio/mixed-attach-error-skips-detach',
  // Issue 18's Xen and XenGT lifecycle designs, 4 to 25 s each (each agreed when added:
  // map-unwind-keeps-device-ref, map-unwind-keeps-device-pin, no-ggtt-reset and
  // domid-freed-at-kill: its 3-step zombie through the backend's foreign map).
  'xen/map-unwind-keeps-device-ref',
  'xen/map-unwind-keeps-device-pin',
  'xen/domid-freed-at-kill',
  'xengt/no-ggtt-reset',
  // Outside the scope (OUTSIDE_SCOPE): only its 5 s check would run.
  'xen/balloon-ignores-remove-error',
  // Issue 21's XenGT GGTT halves: its 500-run check takes 4 to 5 s for a 1-step counterexample
  // (agreed when added: shadow-matches-guest-entry 1 = 1, the scope's first half of entry 0).
  'xengt/shadows-half-written-ggtt',
  // Issue 18's passthrough lifecycle designs (the two-group lifecycle scope), about 10 s each: each
  // agreed when added (reused-did 2 = 2 and 4 = 4, unowned 4 = 4, stale IOTLB 4 = 4); their 5- and
  // 7-step counterexamples, pinned in DEEP, were not compared at depth 5 or 7.
  'iommu/context-clear-flushes-cleared-did',
  'iommu/detach-keeps-context',
  // Issue 21's PASID teardown without the PASID-cache invalidation (the two-group lifecycle scope
  // with PASID 1): agreed when added, reused-did 4 = 4 (explore to depth 4: 18,129 states, 26 s).
  'iommu/pasid-teardown-skips-pasid-cache',
  // Issue 21's unmap without write-back on a non-coherent IOMMU (the one-group scope): agreed when
  // added, explore to depth 4 (5,612 states, 17 s): reachable-frame-pinned 2 = 2,
  // reachable-frame-owned-by-guest 3 = 3, no-stale-iotlb-outside-flush-queue 3 = 3,
  // no-dma-to-free-frame 4 = 4; no-dma-to-foreign-frame (5, as iommu/lazy's) not compared.
  'iommu/noncoherent-unmap-skips-writeback',
  // Issue 21's first-level PASID designs (the one-group scope with PASID 1), about 20 s each: agreed
  // when added. first-level-no-cache-tag: explore to depth 4 (16 s) finds
  // no-stale-iotlb-outside-flush-queue 4 = 4 and reachable-frame-pinned 4 = 4 (map, attach, DMA with
  // the PASID, unmap); first-level-teardown-dsi: its stale entry is 5 steps (DEEP above), and explore
  // to depth 5 (25,791 states, 102 s) finds no-stale-iotlb-outside-flush-queue 5 = 5.
  'iommu/first-level-teardown-dsi',
  'iommu/first-level-no-cache-tag',
  // Outside the scope (OUTSIDE_SCOPE): only its 13 s check would run.
  'iommu/noncoherent-pasid-skips-writeback',
  // Issue 21's context cache (the one-group scope with its way out, `detachWindow`), 17 to 19 s
  // each. noncoherent-context-skips-writeback: unowned 3 (map, close, the group out started),
  // reused-did 4 (close, started, a read, the rest); context-cache-skips-flush: reused-did 3 (close,
  // a read, the group out), unowned 4 (map, a read, close, started).
  'iommu/noncoherent-context-skips-writeback',
  'iommu/context-cache-skips-flush',
  // Issue 19's Xen passthrough designs, 1 to 25 s each (each agreed when added, check at seed 1 and
  // 500 runs against explore to depth 4: no-quarantine 3; put-before-flush 4 and 3;
  // remove-page-defers-flush 3 and 2; unmap-not-synced 3, 1 and 1 (and 3 for 2 in SHRINKS_SHORT);
  // release-devices-after-memory 3, 2, 4, 2 and 2 (the teardown's window over the whole scope: the
  // costliest); shared-scratch 2).
  'xenpt/no-quarantine',
  'xenpt/put-before-flush',
  'xenpt/remove-page-defers-flush',
  'xenpt/unmap-not-synced',
  'xenpt/release-devices-after-memory',
  'xenpt/shared-scratch',
  // Its PV memory designs, in the scope with the PV page tables and dom0's grant maps
  // (`explore: ['pv-memory']`), about 6 s each to depth 3 (each agreed when added: type-change 1
  // and 3, l1-fast-path 3 and 3, l1-accepts 2 and 2, grant-unmap-keeps-type 3, the two grant IOMMU
  // count designs 3 and 3). Seed 1 now also finds pv-grant-iommu-count-never-drops'
  // no-writable-page-table in 4 (grant, map, unmap, the granted frame pinned as an L1): the scope
  // pins the granted frame too since then (`explore-pv.ts`), and explore to depth 4 finds 4
  // (354,921 states, 85 s alone; type-change's depth 4 went from 321,128 to 340,587 states).
  ...designs.filter((design) => design.id.startsWith('xenpt/pv-')).map((design) => design.id),
  // Its grant v2 / copy designs, in the scope with set_version, grant-table frames, grants and
  // copies (`explore: ['grants']`), about 8 s each to depth 3 (each agreed when added: set-version
  // 3; unpopulate 3, 3 and 4; two-gfns 4, 4 and 5; copy-skips-bounds 1; copy-writes-readonly 2;
  // copy-releases-before-copy 1, 2, 2 and 4).
  'xenpt/gnttab-set-version-ignores-pins',
  'xenpt/gnttab-unpopulate-leaves-status-mapped',
  'xenpt/gnttab-status-frame-at-two-gfns',
  'xenpt/gnttab-copy-skips-bounds',
  'xenpt/gnttab-copy-writes-readonly-grant',
  'xenpt/gnttab-copy-releases-before-copy',
  // The iommufd passthrough designs (issue 23's scope, `properties/iommufd/explore-scope.ts`): their
  // 500-run check alone takes 3 to 14 s. Each agreed when added, explore to the longest (depth 5:
  // 2 to 5 s): lazy 3, 4 and 5; access-ignores-unmap 3, 3, 3 and 3; access-unpins-contained-only 4;
  // unmap-under-access 3, 3, 4, 4 and 5; pins-uncharged 1; domain-not-filled 4.
  'iommufd/lazy',
  'iommufd/access-ignores-unmap',
  'iommufd/access-unpins-contained-only',
  'iommufd/unmap-under-access',
  'iommufd/pins-uncharged',
  'iommufd/domain-not-filled',
]);

/**
 * The default tier compares the registered flawed designs (but `COSTLY`); every mutant's comparison
 * (the XenGT, vIOMMU differential, VFIO and passthrough interleaving mutants, and iommufd's and
 * its differential's: about 15 s together before iommufd's, which add about 60 s of check,
 * each agreed when added and at every change of its model since) runs in the deeper tier, so that
 * `npm test` stays under two minutes as the designs grow.
 */
const flawed: readonly AnyDesign[] = [
  ...designs.filter((design) => design.expected === 'violates' && (DEEP_TIER || !COSTLY.has(design.id))),
  ...(DEEP_TIER
    ? [
        ...xenGtMutants,
        ...differentialMutants,
        ...vfioInterleavingMutants,
        ...passthroughInterleavingMutants,
        ...iommufdMutants,
        ...iommufdDifferentialMutants,
      ]
    : []),
];

/**
 * Flawed designs compared only when `DMAPROP_EXPLORE_DEEP=1`: their shortest counterexample is
 * within depth 4 but the scope is wide there, and the comparison alone takes longer than the
 * default tier allows. Each was compared when it was added, with the figures given.
 */
const DEEP_ONLY: Readonly<Record<string, string>> = {
  // check (seed 1, 500 runs) shrinks no-dma-to-foreign-frame to 4 steps (submission started,
  // the other vCPU's store, the copy, the GPU runs it); explore finds 4 at depth 4 (about 17 s).
  'cmdbuf/scan-then-copy': 'no-dma-to-foreign-frame: 4 = 4, explore to depth 4 takes about 17 s',
};

/** Flawed designs whose stack declares an explore scope: these are compared. */
export const flawedDesigns: readonly AnyDesign[] = flawed.filter(
  (design) => design.explore !== undefined && (META_DEPTH > 4 || DEEP_ONLY[design.id] === undefined),
);

/** Flawed designs of stacks with no explore scope yet (or none for their commands): listed as to-do, not compared. */
export const unexploredDesigns: readonly AnyDesign[] = flawed.filter((design) => design.explore === undefined);

/** The i-th of n interleaved slices of the flawed designs (the meta-test is split across files to run in parallel). */
export function flawedSlice(index: number, count: number): AnyDesign[] {
  return flawedDesigns.filter((_, position) => position % count === index);
}

/**
 * Designs whose 500-run check at seed 1 finds nothing, with a seed that finds it.
 * mutant/vfio-mediated/unmap-skips-recheck is caught on 14/20 fresh seeds at the default budget,
 * before and after the VFIO lifecycle commands (issue 18) joined the generators; at 500 runs on
 * about a third of seeds (3, 7, 9, 11 of 1 to 12), and seed 1 stopped being one of them.
 */
const CHECK_SEED: Readonly<Record<string, number>> = {
  'mutant/vfio-mediated/unmap-skips-recheck': 3,
  // Since the XenGT generators draw domain creation and faults, seed 1's 500 runs find nothing
  // (it is caught on 20/20 fresh seeds at the default 1,000); seed 3 finds its three breaks.
  'mutant/xen-map/destroy-skips-release-mappings': 3,
  // Its four steps (attach, DMA with the PASID, close, the group out) at 500 runs: seeds 2 to 7 find
  // them; seed 1's 500 runs do not (caught on 20/20 fresh seeds at the default 1,000).
  'iommu/pasid-teardown-skips-pasid-cache': 2,
  // Its unwind needs an injected grant-map fault, which the Xen-side generation draws once in 128
  // commands: seed 1 first fails it at run 734 since generation dropped fast-check's bias (run 16
  // before, 695bd48). Seed luck, not a rarer find: on one fresh set of 20 seeds, median first run 78,
  // worst 300 unbiased against 75 and 379 biased; seeds 1-20 unbiased median 62, worst 734 (seed 1).
  'mutant/xen-map/grant-map-unwind-drops-pins-twice': 2,
};

export function exploreAgreesWithCheck(design: AnyDesign): void {
  const check = checkDesign(design, { seed: CHECK_SEED[design.id] ?? 1, runs: 500 });
  expect(check.verdict, `${design.id}: check finds a violation`).toBe('violated');
  const outside = OUTSIDE_SCOPE[design.id] ?? {};
  const lengths = new Map(
    check.violations.flatMap((found) =>
      outside[found.invariant] === undefined ? [[found.invariant, found.length] as const] : [],
    ),
  );
  // The Xen passthrough designs with a PV or grants part in their scope: compared to depth 4 only
  // (depth 4 is about 250,000 states there; depth 5 takes over 20 minutes), their longer DMA
  // effects pinned in DEEP.
  const limit = design.id.startsWith('xenpt/pv-') || design.id.startsWith('xenpt/gnttab-') ? 4 : META_DEPTH;
  const reachable = [...lengths].filter(([, length]) => length <= limit).map(([invariant]) => invariant);
  const beyond = [...lengths].filter(([, length]) => length > limit).map(([invariant]) => invariant);
  // Every counterexample beyond the depth compared is a known deep one, of its known length (the
  // 500 runs need not find every deep one: iommu/lazy's 6-step foreign DMA is rare).
  const knownDeep = DEEP[design.id] ?? {};
  expect(
    Object.fromEntries(beyond.map((invariant) => [invariant, lengths.get(invariant)])),
    `${design.id}: counterexamples longer than ${limit} steps`,
  ).toEqual(Object.fromEntries(beyond.map((invariant) => [invariant, knownDeep[invariant]])));
  const depth = Math.max(1, ...reachable.map((invariant) => lengths.get(invariant) ?? 0));
  const explored = exploreDesign(design, { depth, invariants: reachable, maxStates: 2_000_000 });
  const shortest = Object.fromEntries(explored.violations.map((found) => [found.invariant, found.length]));
  const gaps = SHRINKS_SHORT[design.id] ?? {};
  for (const [invariant, gap] of Object.entries(gaps)) {
    expect(lengths.get(invariant), `${design.id} ${invariant}: check's known longer trace`).toBe(gap.check);
  }
  expect(shortest, `${design.id}: explore's shortest vs check's shrunk lengths`).toEqual(
    Object.fromEntries(reachable.map((invariant) => [invariant, gaps[invariant]?.shortest ?? lengths.get(invariant)])),
  );
  for (const found of explored.violations) {
    const replay = runTrace(design, found.steps, { invariants: [found.invariant] });
    expect(replay.violations[0]?.afterStep, `${design.id} ${found.invariant} replays`).toBe(found.length);
  }
}
