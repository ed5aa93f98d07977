/**
 * The iommufd stack's reach labels (`properties/iommufd/reach.ts`): each is reached by the short
 * trace that makes its situation, and not by the same trace one step short of it.
 */
import { describe, expect, test } from 'vitest';
import type { IommufdPtCommand } from '../../models/iommufd-pt/types.js';
import { iommufdLazyHeld, iommufdPassthrough } from '../../properties/iommufd/designs.js';
import {
  DMA_AFTER_UNMAP,
  DOMAIN_FILLED,
  PIN_ACROSS_AREAS,
  UNMAP_UNDER_ACCESS,
} from '../../properties/iommufd/reach.js';
import { MAP_CROSSES_LEAF_TABLE, UNMAP_WITH_FLUSH_QUEUE } from '../../properties/passthrough/reach.js';
import type { AnyDesign } from '../../src/design.js';
import { runTrace } from '../../src/execute.js';
import { createStats } from '../../src/stats.js';
import { dma, map, pin, unmap } from './commands.js';

/** The labels a trace reached, every step accepted. */
function reached(design: AnyDesign, trace: readonly IommufdPtCommand[]): string[] {
  const stats = createStats();
  const run = runTrace(design, trace, { stopAtFirst: false, stats });
  expect(run.steps.map((step) => step.result.ok)).toEqual(trace.map(() => true));
  return Object.keys(stats.reachRuns);
}

describe('iommufd passthrough reach labels', () => {
  test.for([
    { label: UNMAP_UNDER_ACCESS, design: iommufdPassthrough, trace: [map(0), pin(0), unmap(0)] },
    { label: PIN_ACROSS_AREAS, design: iommufdPassthrough, trace: [map(0), map(1), pin(0, 2)] },
    {
      label: DOMAIN_FILLED,
      design: iommufdPassthrough,
      // A paging hwpt allocated for device 0 (object 2) on IOAS 1: iopt_table_add_domain fills it.
      trace: [map(0), { kind: 'hwptAlloc', devId: 2, ptId: 1, flags: 0, dataType: 0, dataLen: 0 }],
    },
    { label: MAP_CROSSES_LEAF_TABLE, design: iommufdPassthrough, trace: [map(511, 2, 16)] },
    { label: UNMAP_WITH_FLUSH_QUEUE, design: iommufdLazyHeld, trace: [map(0), map(1), unmap(0), unmap(1)] },
    { label: DMA_AFTER_UNMAP, design: iommufdLazyHeld, trace: [map(0), dma(0), unmap(0), dma(0)] },
  ] as const)('$label', ({ label, design, trace }) => {
    expect(reached(design, trace)).toContain(label);
    expect(reached(design, trace.slice(0, -1))).not.toContain(label);
  });
});
