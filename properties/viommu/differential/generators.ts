/**
 * Generators of the differential pair: DMA-API level operations of a well-behaved guest over the
 * same small universes as the vIOMMU stack (GIOVA pages 0..3, mostly GPA pages 0..3), one- and
 * two-page buffers. Maps mostly pick a free GIOVA page, unmaps a mapped one, balloon requests a
 * page the balloon does (in) or does not (out) hold (`../resolve.ts`); the driver refuses what a
 * well-behaved guest would not do (a map over a live page, a balloon of a mapped page).
 */
import fc from 'fast-check';
import type { DriverOpKind } from '../../../models/viommu/driver.js';
import type { CommandSpace } from '../../../src/design.js';
import { commandSpaceOf } from '../../generic/command-space.js';
import { pickOr } from '../../pick.js';
import type { DriverTemplate } from '../resolve.js';
import { OTHER_OWNER, RAM_PAGES } from '../../vfio/world.js';
import { GIOVA_BASE_PAGE, GIOVA_PAGES } from '../generators.js';

const giovaPage = fc.integer({ min: GIOVA_BASE_PAGE, max: GIOVA_BASE_PAGE + GIOVA_PAGES - 1 });
const gpaPage = fc.oneof(
  { weight: 5, arbitrary: fc.integer({ min: 0, max: 3 }) },
  { weight: 1, arbitrary: fc.integer({ min: 4, max: RAM_PAGES - 1 }) },
);
const pages = fc.integer({ min: 1, max: 2 });

const table: Readonly<Record<DriverOpKind, fc.Arbitrary<DriverTemplate>>> = {
  map: fc
    .record({ giovaPage: pickOr(giovaPage), gpaPage, pages, write: fc.boolean() })
    .map((args): DriverTemplate => ({ kind: 'map', ...args })),
  unmap: fc.record({ giovaPage: pickOr(giovaPage), pages }).map((args): DriverTemplate => ({ kind: 'unmap', ...args })),
  dma: fc.record({ giovaPage, write: fc.boolean() }).map((args): DriverTemplate => ({ kind: 'dma', ...args })),
  balloonOut: pickOr(gpaPage).map((page): DriverTemplate => ({ kind: 'balloonOut', gpaPage: page })),
  balloonIn: pickOr(gpaPage).map((page): DriverTemplate => ({ kind: 'balloonIn', gpaPage: page })),
  allocateToOther: fc.constant<DriverTemplate>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
};

const weights: Readonly<Record<DriverOpKind, number>> = {
  map: 6,
  unmap: 5,
  dma: 8,
  balloonOut: 2,
  balloonIn: 2,
  allocateToOther: 2,
};

export const driverCommandSpace: CommandSpace<DriverTemplate> = commandSpaceOf('vIOMMU differential', table, weights);
