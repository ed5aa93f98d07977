/**
 * The vIOMMU stack's small scope for `dmaprop explore` (exhaustive breadth-first search).
 *
 * Covered, from every state, in this order: the guest mapping GIOVA page 0 read-only to GPA page
 * 0 or 1, clearing it, and invalidating it page-selectively or the whole domain; the device
 * reading GIOVA page 0; the balloon driver giving GPA pages 0 and 1 back and taking page 0 in
 * again; the VMM discarding GPA pages 0 and 1; another owner taking a free frame.
 *
 * Interleavings: the page-selective invalidation also started (`phased: true`: the trap taken, the
 * VMM's requests left to run), and, while it is in flight, an advance of it (one host phase, or
 * the wait descriptor). The key holds the invalidation in flight with the rest of the state.
 *
 * Left out: GIOVA pages past 0 and GPA pages past 1, writable mappings and DMA writes (where an
 * access lands is what matters), misdirected, malformed, two-page and global invalidations, the
 * guest touching a page, another owner releasing a frame.
 *
 * Symmetry: host frames are interchangeable identities in this scope, so its key and fingerprint
 * rename them in order of first appearance (`../generic/frame-symmetry.ts`; the fields that hold
 * one are VFIO's, `../vfio/explore-scope.ts`, and the IOMMU's `frame`), as the differential pair's
 * key does (`differential/explore-scope.ts`, whose argument this follows). The models compare,
 * store and free frames and take them in free-list order (kept). Their one use of frame arithmetic
 * is the coalescing of physically contiguous frames of one VFIO ioctl into one IOMMU map or unmap
 * (`models/passthrough/forward.ts`), with a leaf that names a run by its first frame; it needs an
 * ioctl of several pages, and here every MAP_DMA and UNMAP_DMA the VMM issues is one page: the
 * shadow VMM maps and unmaps only what the guest maps, GIOVA page 0 (an UNMAP_DMA per run of
 * consecutive GIOVA pages is then one page), and the nested VMM's stage 2 changes one GPA page per
 * balloon request. Superpages need 512 contiguous pages. The lifecycle scope (`withLifecycle`) is
 * keyed whole: translation turned on after off unmaps the no-DMAR mappings of every RAM page, a
 * run of consecutive IOVA pages in one UNMAP_DMA (`refreshAddressSpacesWith`), whose frames'
 * contiguity decides the IOMMU's unmaps and invalidations. GIOVA and GPA pages are addresses and
 * stay.
 */
import type { ViommuCommand, ViommuState } from '../../models/viommu/types.js';
import { GUEST_DID, RID_PASID } from '../../models/viommu/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { stableFingerprint } from '../../src/stable-fingerprint.js';
import { FrameSymmetry } from '../generic/frame-symmetry.js';
import type { FrameSplit } from '../generic/frame-symmetry.js';
import { vfioFrameFields } from '../vfio/explore-scope.js';
import { OTHER_OWNER } from '../vfio/world.js';

const gpaPages = [0, 1];

const templates: readonly ViommuCommand[] = [
  ...gpaPages.map((gpaPage): ViommuCommand => ({ kind: 'guestMap', giovaPage: 0, gpaPage, write: false })),
  { kind: 'guestUnmap', giovaPage: 0 },
  { kind: 'guestInvalidate', granularity: 'page', did: GUEST_DID, giovaPage: 0, mask: 0 },
  { kind: 'guestInvalidate', granularity: 'domain', did: GUEST_DID, giovaPage: 0, mask: 0 },
  { kind: 'deviceDma', giovaPage: 0, write: false },
  ...gpaPages.map((gpaPage): ViommuCommand => ({ kind: 'guestBalloonOut', gpaPage })),
  { kind: 'guestBalloonIn', gpaPage: 0 },
  ...gpaPages.map((gpaPage): ViommuCommand => ({ kind: 'vmmDiscard', gpaPage })),
  { kind: 'allocateToOther', owner: OTHER_OWNER },
];

const started: readonly ViommuCommand[] = [
  ...templates,
  { kind: 'guestInvalidate', granularity: 'page', did: GUEST_DID, giovaPage: 0, mask: 0, phased: true },
];
const advancing: readonly ViommuCommand[] = [...started, { kind: 'advance', op: 0 }];

/**
 * The device's life (`models/viommu/lifecycle.ts`), for the designs whose flaw is there: the guest
 * detaching the device, attaching it to a new domain with the reused DID, a device-selective
 * context-cache invalidation, and translation turned off and on (GCMD.TE). (Left out: a fresh DID,
 * a global or started context-cache invalidation.)
 */
const lifecycle: readonly ViommuCommand[] = [
  { kind: 'guestDetach' },
  { kind: 'guestAttach', did: GUEST_DID },
  { kind: 'guestInvalidateContext', granularity: 'device' },
  { kind: 'guestSetTranslation', enabled: false },
  { kind: 'guestSetTranslation', enabled: true },
];

/**
 * Scalable mode (`models/viommu/pasid.ts`): the guest clearing the device's RID_PASID entry,
 * setting it up again with the reused DID, a PASID-selective PASID-cache invalidation and a
 * PASID-based IOTLB invalidation of all of RID_PASID in that DID (Linux's teardown and setup; the
 * teardown's domain-selective IOTLB invalidation is in the base templates). Left out: misdirected
 * and page-selective PASID descriptors, a fresh DID.
 */
const pasidTemplates: readonly ViommuCommand[] = [
  { kind: 'guestClearPasid' },
  { kind: 'guestSetupPasid', did: GUEST_DID },
  { kind: 'guestInvalidatePasidCache', granularity: 'pasid', did: GUEST_DID, pasid: RID_PASID },
  { kind: 'guestInvalidatePiotlb', granularity: 'pasid', did: GUEST_DID, pasid: RID_PASID, giovaPage: 0, mask: 0 },
];

/** The scope of the scalable-mode designs: the base templates and the RID_PASID ones, keyed whole, atomic. */
export const viommuPasidExploreScope: ExploreScope<ViommuState, ViommuCommand> = {
  description: `vIOMMU scalable mode: GIOVA page 0 mapped to GPA pages 0-1, cleared and invalidated (page, domain), device reads, balloon out of GPA pages 0-1 and back in of page 0, VMM discards, another owner's allocation, the RID_PASID entry cleared and set up with the reused DID, its PASID-cache and PASID-based IOTLB invalidations (${templates.length + pasidTemplates.length} commands per state; no symmetry reduction)`,
  templates: () => [...templates, ...pasidTemplates],
  key: (state) => stableJson(state),
  fingerprint: (state) => stableFingerprint(state),
};

/**
 * The scope; `interleavings: false` leaves the started invalidation and its advances out;
 * `withLifecycle` adds the device's detach, attach and context-cache invalidation.
 */
export function viommuScope(interleavings = true, withLifecycle = false): ExploreScope<ViommuState, ViommuCommand> {
  const extra = withLifecycle ? lifecycle : [];
  const base = [...templates, ...extra];
  const withStarted = [...started, ...extra];
  const withAdvance = [...advancing, ...extra];
  const count = interleavings ? withStarted.length : base.length;
  return {
    description: `vIOMMU: GIOVA page 0 mapped to GPA pages 0-1, cleared and invalidated (page, domain${interleavings ? ', page started and advanced' : ''}), device reads, balloon out of GPA pages 0-1 and back in of page 0, VMM discards, another owner's allocation${withLifecycle ? ', the device detached, attached to a domain with the reused DID, the context cache invalidated, translation off and on' : ''} (${count} commands per state${interleavings ? ', and an advance while one is in flight' : ''}; ${withLifecycle ? 'no symmetry reduction: translation turned on unmaps runs of frames' : 'frames renamed in order of first appearance'})`,
    templates: (state) => (!interleavings ? base : state.inflight.length > 0 ? withAdvance : withStarted),
    ...(withLifecycle
      ? { key: (state) => stableJson(state), fingerprint: (state) => stableFingerprint(state) }
      : {
          key: (state) => viommuFrameSymmetry.key(viommuFrameSplit(state)),
          fingerprint: (state) => viommuFrameSymmetry.fingerprint(viommuFrameSplit(state)),
        }),
  };
}

/** The fields of a vIOMMU state that hold a host frame: VFIO's (`vfioFrameFields`) and the IOMMU's `frame`. */
export const viommuFrameFields: readonly string[] = [...vfioFrameFields, 'frame'];
const viommuFrameSymmetry = new FrameSymmetry(viommuFrameFields);

/** A vIOMMU state as the frame renaming takes it: the host's memory, and the rest. */
export function viommuFrameSplit(state: ViommuState): FrameSplit {
  const { memory, ...vfio } = state.host.vfio;
  return { view: { ...state, host: { ...state.host, vfio } }, memory };
}

export const viommuExploreScope: ExploreScope<ViommuState, ViommuCommand> = viommuScope();

/** The scope of the designs whose flaw is in the device's life. */
export const viommuLifecycleExploreScope: ExploreScope<ViommuState, ViommuCommand> = viommuScope(true, true);
