/**
 * Shared setup for the Xen model unit tests: a small world, default request arguments, and
 * assertions in the iommufd-selftest style (`expectOk` for success, `expectStatus` /
 * `expectErrno` for refusals, `expectRefused` for "refused and nothing changed").
 *
 * World (lifo allocator, 8 frames): dom0 = HVM privileged {gfn 0}, dom1 = HVM {gfn 0, 1},
 * dom2 = PV {gfn 0}. Allocation order gives dom0 gfn0 → mfn 7, dom1 gfn0 → 6, gfn1 → 5,
 * dom2 gfn0 → 4; mfns 0..3 are free.
 */
import { expect } from 'vitest';
import type { OpResult, ResultDetail } from '../../../models/result.js';
import type { XenConfig } from '../../../models/xen/config.js';
import { grantAccess, mapGrantRef, unmapGrantRef } from '../../../models/xen/grant-table.js';
import type { GrantAccessArgs, MapGrantArgs, UnmapGrantArgs } from '../../../models/xen/grant-table.js';
import { cloneXenState, createXenState } from '../../../models/xen/state.js';
import type { XenWorldSpec } from '../../../models/xen/state.js';
import { gntst } from '../../../models/xen/status.js';
import type { Errno, GntstName } from '../../../models/xen/status.js';
import type { XenState } from '../../../models/xen/types.js';

export const config: XenConfig = { bugs: [] };

/** Privileged translated domain (dom0 / hardware domain). */
export const DOM0 = 0;
/** Unprivileged translated (HVM) guest. */
export const HVM = 1;
/** Unprivileged PV guest. */
export const PV = 2;
/** A domid that does not exist in the world. */
export const NO_DOMAIN = 9;

export function worldSpec(overrides: Partial<XenWorldSpec> = {}): XenWorldSpec {
  return {
    memory: { frameCount: 8, policy: 'lifo', randomSeed: 't' },
    domains: [
      { translated: true, privileged: true, initialGfns: [0] },
      { translated: true, privileged: false, initialGfns: [0, 1] },
      { translated: false, privileged: false, initialGfns: [0] },
    ],
    grantEntries: 4,
    maptrackHandles: 2,
    ...overrides,
  };
}

export function world(overrides: Partial<XenWorldSpec> = {}): XenState {
  return createXenState(worldSpec(overrides));
}

export function dom(state: XenState, domid: number) {
  return state.domains[domid]!;
}

/** The mfn of a gfn's p2m entry (any type); throws if the gfn is empty. */
export function mfnOf(state: XenState, domid: number, gfn: number): number {
  const entry = dom(state, domid).p2m[gfn];
  if (entry === undefined) throw new Error(`dom${domid} gfn ${gfn} is empty`);
  return entry.mfn;
}

export function frame(state: XenState, mfn: number) {
  return state.memory.frames[mfn]!;
}

export function expectOk(result: OpResult): ResultDetail {
  expect(result.error).toBeUndefined();
  expect(result.ok).toBe(true);
  return result.detail ?? {};
}

/** A refusal with a GNTST status: the name and the numeric `detail.status` both match. */
export function expectStatus(result: OpResult, name: `GNTST_${GntstName}`): void {
  expect(result.ok).toBe(false);
  expect(result.error).toBe(name);
  const key = name.slice('GNTST_'.length) as GntstName;
  expect(result.detail?.status).toBe(gntst[key]);
}

export function expectErrno(result: OpResult, errno: Errno): void {
  expect(result.ok).toBe(false);
  expect(result.error).toBe(errno);
}

/**
 * Runs `op` on a copy of `state`, asserts it was refused and that the copy is still deep-equal
 * to `state` (atomicity); returns the result for status checks.
 */
export function expectRefused(state: XenState, op: (copy: XenState) => OpResult): OpResult {
  const copy = cloneXenState(state);
  const result = op(copy);
  expect(result.ok).toBe(false);
  expect(copy).toEqual(state);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Request builders with defaults: dom1 (HVM) grants ref 0 = its gfn 0 to the PV dom2, which maps
// it writable for the CPU at virtual page 10.

export function grantArgs(overrides: Partial<GrantAccessArgs> = {}): GrantAccessArgs {
  return { domid: HVM, ref: 0, granteeDomid: PV, gfn: 0, readonly: false, ...overrides };
}

export function mapArgs(overrides: Partial<MapGrantArgs> = {}): MapGrantArgs {
  return {
    mapperDomid: PV,
    granterDomid: HVM,
    ref: 0,
    host: true,
    device: false,
    readonly: false,
    hostAddr: 10,
    ...overrides,
  };
}

export function unmapArgs(overrides: Partial<UnmapGrantArgs> = {}): UnmapGrantArgs {
  return { mapperDomid: PV, handle: 0, hostAddr: 10, devBusAddr: null, ...overrides };
}

export function grant(state: XenState, overrides: Partial<GrantAccessArgs> = {}): void {
  expectOk(grantAccess(state, grantArgs(overrides)));
}

/** Maps and expects success; returns the handle. */
export function map(state: XenState, overrides: Partial<MapGrantArgs> = {}): number {
  const detail = expectOk(mapGrantRef(state, config, mapArgs(overrides)));
  return detail.handle as number;
}

export function unmap(state: XenState, overrides: Partial<UnmapGrantArgs> = {}): void {
  expectOk(unmapGrantRef(state, config, unmapArgs(overrides)));
}

/** A world where dom1 has granted its gfn 0 as ref 0 to `grantee` (default dom2). */
export function grantedWorld(overrides: Partial<GrantAccessArgs> = {}, spec: Partial<XenWorldSpec> = {}): XenState {
  const state = world(spec);
  grant(state, overrides);
  return state;
}
