/**
 * The small value universes the XenGT generators draw from. They reach one past every valid
 * range so that invalid requests (nonexistent domain, ref or handle out of range, GTT index
 * outside the vGPU) are generated on purpose.
 */
import type { XenGtConfig } from '../../models/xengt/config.js';

export interface XenGtUniverse {
  readonly domids: number;
  readonly gfns: number;
  readonly refs: number;
  readonly handles: number;
  readonly gttEntries: number;
  /** PV host mappings are virtual page numbers. */
  readonly virtualPages: number;
}

export function xenGtUniverse(config: XenGtConfig): XenGtUniverse {
  return {
    domids: config.world.domains.length + 1,
    gfns: 6,
    refs: config.world.grantEntries + 1,
    handles: config.world.maptrackHandles + 1,
    gttEntries: config.gttEntries + 1,
    virtualPages: 4,
  };
}
