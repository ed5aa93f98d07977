/**
 * The small value universes the XenGT generators draw from, from the design's world. They reach
 * one past every valid range so that invalid requests (nonexistent domain, ref or handle out of
 * range, GTT index outside the vGPU) are generated on purpose.
 */
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { XenGtConfig } from '../../models/xengt/config.js';

export interface XenGtUniverse {
  readonly domids: number;
  readonly gfns: number;
  readonly refs: number;
  readonly handles: number;
  /** GTT entries the guest writes: the vGPU's own and the first index past them. */
  readonly gttEntries: number;
  /** GGTT indices of the whole table, and one past it. */
  readonly ggttIndices: number;
  /** Entries of a page-table page (all valid). */
  readonly tableEntries: number;
  /** PV host mappings are virtual page numbers. */
  readonly virtualPages: number;
  /** The guest's vCPUs that write its GTT. */
  readonly vcpus: number;
}

export function xenGtUniverse(config: XenGtConfig): XenGtUniverse {
  const layout = config.gvt.layout;
  return {
    domids: config.world.domains.length + 1,
    // Two past the largest domain's RAM (6 in today's world): populated gfns, empty ones, and one
    // no domain ever had.
    gfns: Math.max(...config.world.domains.map((domain) => domain.initialGfns.length)) + 2,
    refs: config.world.grantEntries + 1,
    handles: config.world.maptrackHandles + 1,
    gttEntries: ownGgttIndices(layout).length + 1,
    ggttIndices: layout.ggttEntries + 1,
    tableEntries: layout.entriesPerTable,
    virtualPages: 4,
    vcpus: 2,
  };
}
