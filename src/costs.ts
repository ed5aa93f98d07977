/**
 * `dmaprop costs`: what each vIOMMU design costs the host for a standard set of guest workloads
 * (docs/debates.md#viommu-shadow-or-nested: nested translation avoids the trap on map). Each
 * workload is a fixed program of DMA-API level operations, run by the guest driver of each design
 * (`models/viommu/driver.ts`: shadow invalidates after maps and unmaps, nested after unmaps only)
 * from the design's initial state, and counted step by step: VM exits (trapped invalidations and
 * balloon requests), VFIO MAP_DMA/UNMAP_DMA ioctls, IOMMU_HWPT_INVALIDATE ioctls, host IOTLB
 * invalidations, pages pinned, and the most frames pinned at once. What the VMM does before the
 * guest runs (nested: map all of guest RAM) is a row of its own, `setup`, and is not counted in the
 * workloads.
 *
 * Deterministic: no seed, no timing. Every operation must succeed, and every DMA must land in the
 * same frame in both designs (the workloads follow the invalidation rules), or the run throws.
 */
import type { DriverOp } from '../models/viommu/driver.js';
import { runDriverOp } from '../models/viommu/pair.js';
import { addCosts, noCosts } from '../models/viommu/types.js';
import type { StepCosts } from '../models/viommu/types.js';
import { pinnedFrames } from '../models/viommu/views.js';
import { type1Backend } from '../models/vfio/state.js';
import type { ViommuDesign } from '../properties/viommu/design.js';
import { viommuNested, viommuShadow } from '../properties/viommu/designs.js';

export const COSTS_FORMAT_VERSION = 1;

export interface Workload {
  readonly name: string;
  readonly description: string;
  readonly ops: readonly DriverOp[];
}

const BUFFER_PAGES = 8;

function range(count: number): number[] {
  return Array.from({ length: count }, (_, index) => index);
}

function dmaEach(pages: number, write: boolean): DriverOp[] {
  return range(pages).map((giovaPage): DriverOp => ({ kind: 'dma', giovaPage, write }));
}

/** The four standard workloads, each over an 8-page buffer of guest RAM. */
export const standardWorkloads: readonly Workload[] = [
  {
    name: 'map-heavy',
    description: '4 rounds: 8 one-page maps, a DMA through each, one 8-page unmap',
    ops: range(4).flatMap(() => [
      ...range(BUFFER_PAGES).map((page): DriverOp => ({
        kind: 'map',
        giovaPage: page,
        gpaPage: page,
        pages: 1,
        write: true,
      })),
      ...dmaEach(BUFFER_PAGES, true),
      { kind: 'unmap', giovaPage: 0, pages: BUFFER_PAGES },
    ]),
  },
  {
    name: 'unmap-heavy',
    description: '4 rounds: one 8-page map, a DMA through each page, 8 one-page unmaps',
    ops: range(4).flatMap(() => [
      { kind: 'map', giovaPage: 0, gpaPage: 0, pages: BUFFER_PAGES, write: true },
      ...dmaEach(BUFFER_PAGES, true),
      ...range(BUFFER_PAGES).map((page): DriverOp => ({ kind: 'unmap', giovaPage: page, pages: 1 })),
    ]),
  },
  {
    name: 'streaming',
    description: '32 transfers through a 4-slot ring: map one page, DMA into it, unmap it',
    ops: range(32).flatMap((index) => [
      { kind: 'map', giovaPage: index % 4, gpaPage: index % BUFFER_PAGES, pages: 1, write: true },
      { kind: 'dma', giovaPage: index % 4, write: true },
      { kind: 'unmap', giovaPage: index % 4, pages: 1 },
    ]),
  },
  {
    name: 'static',
    description: 'one 8-page map, then 64 DMAs through it, never unmapped',
    ops: [
      { kind: 'map', giovaPage: 0, gpaPage: 0, pages: BUFFER_PAGES, write: true },
      ...range(64).map((index): DriverOp => ({ kind: 'dma', giovaPage: index % BUFFER_PAGES, write: index % 2 === 0 })),
    ],
  },
];

export interface CostRow extends StepCosts {
  readonly workload: string;
  readonly design: string;
  /** Driver operations in the workload (0 for setup). */
  readonly operations: number;
  readonly dmas: number;
  /** The most frames VFIO pinned at once (setup's pins included). */
  readonly peakPinnedFrames: number;
}

export interface CostsReport {
  readonly costsFormatVersion: number;
  readonly designs: readonly string[];
  readonly workloads: readonly { readonly name: string; readonly description: string; readonly operations: number }[];
  /** `setup` for each design first, then each workload for each design. */
  readonly rows: readonly CostRow[];
}

function setupRow(design: ViommuDesign): CostRow {
  const state = design.init();
  const pinned = pinnedFrames(state).length;
  // Each mapping present before the guest runs was made by one MAP_DMA, pinning its pages.
  const mappings = type1Backend(state.host.vfio)?.dmas ?? [];
  return {
    workload: 'setup',
    design: design.id,
    operations: 0,
    dmas: 0,
    ...noCosts,
    vfioIoctls: mappings.length,
    pins: mappings.reduce((sum, dma) => sum + dma.npages, 0),
    peakPinnedFrames: pinned,
  };
}

/** Runs a workload on a design; returns its row and where each DMA landed. */
function runWorkload(design: ViommuDesign, workload: Workload): { row: CostRow; landings: string[] } {
  let state = design.init();
  let costs = noCosts;
  let peak = pinnedFrames(state).length;
  const landings: string[] = [];
  workload.ops.forEach((op, index) => {
    const run = runDriverOp(state, design.config, op);
    if (run.refused !== null) {
      throw new Error(
        `${workload.name} on ${design.id}: operation ${index + 1} (${op.kind}) refused with ${run.refused}`,
      );
    }
    if (op.kind === 'dma') landings.push(run.outcome);
    state = run.state;
    costs = addCosts(costs, run.costs);
    peak = Math.max(peak, pinnedFrames(state).length);
  });
  const row: CostRow = {
    workload: workload.name,
    design: design.id,
    operations: workload.ops.length,
    dmas: landings.length,
    ...costs,
    peakPinnedFrames: peak,
  };
  return { row, landings };
}

export function measureCosts(
  designs: readonly ViommuDesign[] = [viommuShadow, viommuNested],
  workloads: readonly Workload[] = standardWorkloads,
): CostsReport {
  const rows: CostRow[] = designs.map(setupRow);
  for (const workload of workloads) {
    const runs = designs.map((design) => runWorkload(design, workload));
    const [first, ...others] = runs;
    for (const other of others) {
      const differs = other.landings.findIndex((landing, index) => landing !== first?.landings[index]);
      if (differs >= 0) {
        throw new Error(
          `${workload.name}: DMA ${differs + 1} landed at ${first?.landings[differs]} in ${first?.row.design}, ${other.landings[differs]} in ${other.row.design}`,
        );
      }
    }
    rows.push(...runs.map((run) => run.row));
  }
  return {
    costsFormatVersion: COSTS_FORMAT_VERSION,
    designs: designs.map((design) => design.id),
    workloads: workloads.map(({ name, description, ops }) => ({ name, description, operations: ops.length })),
    rows,
  };
}
