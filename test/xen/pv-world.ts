/**
 * A tiny PV world for the PV memory tests: dom0 PV privileged, dom1 PV, both with an IOMMU context
 * of their own kept in sync (`need_iommu_pt_sync`), dom2 HVM without one; each domain's frames as
 * `guest_physmap_add_page` leaves them (writable, count 0, in the domain's IOMMU at dfn = mfn).
 */
import { expect } from 'vitest';
import type { XenConfig } from '../../models/xen/config.js';
import { pvIommuSetup } from '../../models/xen/page-type.js';
import { pvMmuStep } from '../../models/xen/pv-mmu.js';
import type { PvMmuCommand } from '../../models/xen/pv-mmu.js';
import { cloneXenState, createXenState } from '../../models/xen/state.js';
import type { XenState } from '../../models/xen/types.js';
import type { OpResult } from '../../models/result.js';
import type { Invariant } from '../../src/design.js';

export const sound: XenConfig = { bugs: [] };
export const DOM0 = 0;
export const PV = 1;
export const HVM = 2;
export const NO_DOMAIN = 7;

export function pvWorld(config: XenConfig = sound): XenState {
  const state = createXenState({
    memory: { frameCount: 10, policy: 'fifo', randomSeed: 'pv' },
    domains: [
      { translated: false, privileged: true, initialGfns: [0, 1] },
      { translated: false, privileged: false, initialGfns: [0, 1, 2, 3] },
      { translated: true, privileged: false, initialGfns: [0] },
    ],
    grantEntries: 4,
    maptrackHandles: 3,
  });
  for (const domid of [DOM0, PV]) {
    const domain = state.domains[domid]!;
    domain.iommu = { sharePt: false, table: {}, flushPending: [] };
    pvIommuSetup(state, config, domid);
  }
  return state;
}

/** The mfn at a domain's gfn. */
export function mfnAt(state: XenState, domid: number, gfn: number): number {
  const entry = state.domains[domid]!.p2m[gfn];
  if (entry === undefined) throw new Error(`dom${domid} gfn ${gfn} is empty`);
  return entry.mfn;
}

/** Runs a PV MMU command on a copy; a refusal must leave the state as it was. */
export function pv(state: XenState, command: PvMmuCommand, config: XenConfig = sound): OpResult {
  const before = cloneXenState(state);
  const result = pvMmuStep(state, config, command);
  if (!result.ok) expect(state).toEqual(before);
  return result;
}

export function okPv(state: XenState, command: PvMmuCommand, config: XenConfig = sound): void {
  const result = pv(state, command, config);
  expect(result, JSON.stringify(command)).toEqual({ ok: true });
}

/** The invariants that a final state violates, by name. */
export function violated(state: XenState, invariants: readonly Invariant<XenState, unknown>[]): string[] {
  return invariants
    .filter((invariant) => invariant.check({ before: null, command: null, result: null, after: state }) !== null)
    .map((invariant) => invariant.name);
}
