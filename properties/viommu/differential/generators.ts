/**
 * Generators of the differential pair: DMA-API level operations of a well-behaved guest over the
 * same small universes as the vIOMMU stack (the world's GIOVA pages, mostly GPA pages 0..3), one-
 * and two-page buffers. Maps mostly pick a free GIOVA page, unmaps a mapped one, balloon requests a
 * page the balloon does (in) or does not (out) hold (`../resolve.ts`); the driver refuses what a
 * well-behaved guest would not do (a map over a live page, a balloon of a mapped page).
 */
import fc from 'fast-check';
import type { DriverOpKind } from '../../../models/viommu/driver.js';
import type { CommandSpace } from '../../../src/design.js';
import { commandSpaceOf } from '../../generic/command-space.js';
import { pickOr } from '../../pick.js';
import type { DriverTemplate } from '../resolve.js';
import { OTHER_OWNER } from '../../vfio/world.js';
import { giovaPageArbitrary, gpaPageArbitrary } from '../generators.js';
import type { ViommuWorldLayout } from '../world.js';

function table(world: ViommuWorldLayout): Readonly<Record<DriverOpKind, fc.Arbitrary<DriverTemplate>>> {
  const giovaPage = giovaPageArbitrary(world);
  const gpaPage = gpaPageArbitrary(world);
  const pages = fc.integer({ min: 1, max: Math.min(2, world.ramPages) });
  return {
    map: fc
      .record({ giovaPage: pickOr(giovaPage), gpaPage, pages, write: fc.boolean() })
      .map((args): DriverTemplate => ({ kind: 'map', ...args })),
    unmap: fc
      .record({ giovaPage: pickOr(giovaPage), pages })
      .map((args): DriverTemplate => ({ kind: 'unmap', ...args })),
    dma: fc.record({ giovaPage, write: fc.boolean() }).map((args): DriverTemplate => ({ kind: 'dma', ...args })),
    balloonOut: pickOr(gpaPage).map((page): DriverTemplate => ({ kind: 'balloonOut', gpaPage: page })),
    balloonIn: pickOr(gpaPage).map((page): DriverTemplate => ({ kind: 'balloonIn', gpaPage: page })),
    allocateToOther: fc.constant<DriverTemplate>({ kind: 'allocateToOther', owner: OTHER_OWNER }),
  };
}

const weights: Readonly<Record<DriverOpKind, number>> = {
  map: 6,
  unmap: 5,
  dma: 8,
  balloonOut: 2,
  balloonIn: 2,
  allocateToOther: 2,
};

/** The generators over `world`'s GIOVA pages and guest RAM. */
export function driverCommandSpace(world: ViommuWorldLayout): CommandSpace<DriverTemplate> {
  return commandSpaceOf('vIOMMU differential', table(world), weights);
}
