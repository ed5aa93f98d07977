/** Runs XenGT commands through a design's step, keeping each result's status, and the grant the Xen tests share. */
import type { XenGtCommand } from '../../models/xengt/commands.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { XenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';

/** The state after `commands`, and each step's result: 'ok' or the error name. */
export function runSteps(
  commands: readonly XenGtCommand[],
  design: XenGtDesign = xenMap,
): { state: XenGtState; results: string[] } {
  let state = design.init();
  const results: string[] = [];
  for (const command of commands) {
    const step = design.step(state, command);
    results.push(step.result.ok ? 'ok' : String(step.result.error));
    state = step.state;
  }
  return { state, results };
}

/** The backend's pool gfns that hold a foreign mapping (`map_foreign`), ascending. */
export function poolMappings(state: XenGtState): number[] {
  const p2m = state.xen.domains[xenMap.config.backendDomid]?.p2m ?? {};
  return Object.entries(p2m).flatMap(([gfn, entry]) => (entry.type === 'map_foreign' ? [Number(gfn)] : []));
}

/** dom1 (HVM guest) grants its gfn 0 to dom2 (PV). */
export const GRANT_TO_DOM2: Extract<XenGtCommand, { kind: 'grantAccess' }> = {
  kind: 'grantAccess',
  domid: 1,
  ref: 0,
  granteeDomid: 2,
  gfn: 0,
  readonly: false,
};

/** dom2 maps that grant host and device, writable. */
export const MAP_HOST_AND_DEVICE: Extract<XenGtCommand, { kind: 'mapGrantRef' }> = {
  kind: 'mapGrantRef',
  mapperDomid: 2,
  granterDomid: 1,
  ref: 0,
  host: true,
  device: true,
  readonly: false,
  hostAddr: 0,
};
