/**
 * The differential property of the vIOMMU debate (docs/debates.md#viommu-shadow-or-nested): the
 * same well-behaved guest program gives every DMA the same outcome (the same frame, or a fault) on
 * shadow and on nested. The suite runs 200 sequences; `dmaprop check --design viommu/differential
 * --runs 10000 --seed 3` runs the 10,000 of the README. A VMM bug on either side is caught with a
 * counterexample of 3 or 4 steps, and the guest drivers issue the invalidations the reference
 * requires of each design.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign } from '../../src/check.js';
import { driverCommands } from '../../models/viommu/driver.js';
import { viommuDifferential } from '../../properties/viommu/differential/design.js';
import { differentialMutants } from '../../properties/viommu/mutants.js';

describe('shadow and nested agree', () => {
  test('viommu/differential holds over 200 well-behaved guest programs (seed 2)', () => {
    const check = checkDesign(viommuDifferential, { seed: 2, runs: 200 });
    expect(check.verdict).toBe('holds');
    expect(check.stats.executed['dma']).toBeGreaterThan(700);
  });

  test.for(differentialMutants.map((mutant, index) => ({ mutant, length: [3, 4][index] })))(
    '$mutant.id disagrees after $length steps',
    ({ mutant, length }) => {
      const check = checkDesign(mutant, { seed: 11, runs: 300, report: mutant.breaks });
      expect(check.violations.map((found) => [found.invariant, found.length])).toEqual([
        ['shadow-and-nested-agree', length],
      ]);
    },
  );
});

describe("each design's guest driver", () => {
  test('shadow invalidates after a map, nested does not; both after an unmap, over the aligned block', () => {
    const map = { kind: 'map', giovaPage: 1, gpaPage: 4, pages: 2, write: true } as const;
    expect(driverCommands(map, 'shadow').map((command) => command.kind)).toEqual([
      'guestMap',
      'guestMap',
      'guestInvalidate',
    ]);
    expect(driverCommands(map, 'nested').map((command) => command.kind)).toEqual(['guestMap', 'guestMap']);
    // Pages 1..2 straddle a 2-page block: the covering aligned block is pages 0..3 (mask 2).
    expect(driverCommands({ kind: 'unmap', giovaPage: 1, pages: 2 }, 'nested').at(-1)).toMatchObject({
      kind: 'guestInvalidate',
      giovaPage: 0,
      mask: 2,
    });
  });
});
