/**
 * Generators of the vIOMMU stack. Four GIOVA pages and mostly the first four GPA pages, so that
 * maps, DMAs, balloon requests and frame reuse collide. The GIOVA pages are the first ones, not a
 * range across a leaf-table boundary as for VFIO over VT-d: the minimizer lowers page numbers one
 * coupled step at a time, and the host's page tables are exercised by that stack already.
 * Invalidations come correct (the guest's DID, one page or an aligned pair) most of the time, and
 * also domain-selective, global, misdirected (another DID) and malformed (refused). An unmap
 * mostly picks a page the guest maps, a balloon request back in a page the balloon holds
 * (`resolve.ts`); a balloon request out draws from the first pages, which the guest maps most.
 */
import fc from 'fast-check';
import type { ViommuCommand, ViommuCommandKind } from '../../models/viommu/types.js';
import { GUEST_DID } from '../../models/viommu/types.js';
import type { CommandSpace } from '../../src/design.js';
import { commandSpaceOf } from '../generic/command-space.js';
import { pickOr } from '../pick.js';
import { preferOr } from '../prefer.js';
import type { ViommuTemplate } from './resolve.js';
import { FRAME_COUNT, OTHER_OWNER, RAM_PAGES } from '../vfio/world.js';

export const GIOVA_BASE_PAGE = 0;
export const GIOVA_PAGES = 4;

const giovaPage = fc.integer({ min: GIOVA_BASE_PAGE, max: GIOVA_BASE_PAGE + GIOVA_PAGES - 1 });
const gpaPage = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4, max: RAM_PAGES - 1 }) },
);

const invalidation: fc.Arbitrary<ViommuTemplate> = fc.oneof(
  {
    weight: 8,
    arbitrary: preferOr(giovaPage).map((page): ViommuTemplate => ({
      kind: 'guestInvalidate',
      granularity: 'page',
      did: GUEST_DID,
      giovaPage: page,
      mask: 0,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(GIOVA_BASE_PAGE, GIOVA_BASE_PAGE + 2).map((page): ViommuCommand => ({
      kind: 'guestInvalidate',
      granularity: 'page',
      did: GUEST_DID,
      giovaPage: page,
      mask: 1,
    })),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom('domain' as const, 'global' as const).map((granularity): ViommuCommand => ({
      kind: 'guestInvalidate',
      granularity,
      did: GUEST_DID,
      giovaPage: 0,
      mask: 0,
    })),
  },
  {
    weight: 1,
    arbitrary: fc
      .record({ giovaPage, did: fc.constantFrom(0, GUEST_DID + 1), mask: fc.constantFrom(0, 1, 19) })
      .map((args): ViommuCommand => ({ kind: 'guestInvalidate', granularity: 'page', ...args })),
  },
);

const table: Readonly<Record<ViommuCommandKind, fc.Arbitrary<ViommuTemplate>>> = {
  guestMap: fc
    .record({ giovaPage, gpaPage, write: fc.boolean() })
    .map((args): ViommuCommand => ({ kind: 'guestMap', ...args })),
  guestUnmap: pickOr(giovaPage).map((page): ViommuTemplate => ({ kind: 'guestUnmap', giovaPage: page })),
  guestInvalidate: invalidation,
  guestBalloonOut: preferOr(gpaPage).map((page): ViommuTemplate => ({ kind: 'guestBalloonOut', gpaPage: page })),
  guestBalloonIn: pickOr(gpaPage).map((page): ViommuTemplate => ({ kind: 'guestBalloonIn', gpaPage: page })),
  guestTouch: gpaPage.map((page): ViommuCommand => ({ kind: 'guestTouch', gpaPage: page })),
  vmmDiscard: gpaPage.map((page): ViommuCommand => ({ kind: 'vmmDiscard', gpaPage: page })),
  allocateToOther: fc.constant<ViommuCommand>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
  releaseFromOther: fc.nat({ max: FRAME_COUNT - 1 }).map((mfn): ViommuCommand => ({ kind: 'releaseFromOther', mfn })),
  deviceDma: fc
    .record({ giovaPage: preferOr(giovaPage), write: fc.boolean() })
    .map((args): ViommuTemplate => ({ kind: 'deviceDma', ...args })),
};

/** The guest's DMA traffic dominates; balloon requests and frame reuse come often enough to race it. */
const weights: Readonly<Record<ViommuCommandKind, number>> = {
  guestMap: 6,
  guestUnmap: 5,
  guestInvalidate: 7,
  guestBalloonOut: 3,
  guestBalloonIn: 2,
  guestTouch: 1,
  vmmDiscard: 1,
  allocateToOther: 4,
  releaseFromOther: 1,
  deviceDma: 10,
};

export const viommuCommandSpace: CommandSpace<ViommuTemplate> = commandSpaceOf('vIOMMU', table, weights);
