/**
 * The Xen passthrough scope's fingerprint (`properties/xenpt/state-words.ts`, words written
 * straight from the state) partitions states as its key does (the canonical JSON of the scope's
 * view, `canonicalXenPtState` or the state without the allocator's cursor):
 * - on every state a search of the scope meets, for one design of each view (renamed frames, the
 *   `grants` part, the `pv-memory` part), and in the deep tier deeper and for every Xen passthrough
 *   design and mutant;
 * - on states one leaf away from reached ones (a number, flag, string, null or record key changed):
 *   the fingerprint changes exactly when the key does, so no field the key reads is left unwritten;
 * - every record of the reached states has only the fields `xenPtRecordFields` lists (which the
 *   build holds to the types), so no field a step adds is left out unseen.
 */
import { describe, expect, test } from 'vitest';
import type { XenPtState } from '../../models/xenpt/types.js';
import { designs, mutants } from '../../properties/registry.js';
import { xenPtRecordFields } from '../../properties/xenpt/state-words.js';
import type { AnyDesign, ExploreScope } from '../../src/design.js';
import { exploreDesign } from '../../src/explore.js';
import { DEEP } from '../helpers.js';

const xenPtDesigns = [...designs, ...mutants].filter((design) => design.id.includes('xenpt/'));

function byId(id: string): AnyDesign {
  const design = xenPtDesigns.find((candidate) => candidate.id === id);
  if (design === undefined) throw new Error(`no design ${id}`);
  return design;
}

function scopeOf(design: AnyDesign): ExploreScope<XenPtState, unknown> {
  const scope = design.explore as ExploreScope<XenPtState, unknown> | undefined;
  if (scope?.fingerprint === undefined) throw new Error(`${design.id}: no fingerprint`);
  return scope;
}

/** The design's scope searched to `depth` with its key; the states met, and the two partitions compared. */
function reached(design: AnyDesign, depth: number): { states: XenPtState[]; mismatches: number; distinct: number } {
  const scope = scopeOf(design);
  const printOf = new Map<string, string>();
  const keyOf = new Map<string, string>();
  const states: XenPtState[] = [];
  let mismatches = 0;
  const result = exploreDesign(design, {
    depth,
    invariants: [],
    key: (value) => {
      const state = value as XenPtState;
      const key = scope.key(state);
      const print = scope.fingerprint?.(state).join(',') ?? '';
      if ((printOf.get(key) ?? print) !== print) mismatches += 1;
      if ((keyOf.get(print) ?? key) !== key) mismatches += 1;
      if (!printOf.has(key)) states.push(state);
      printOf.set(key, print);
      keyOf.set(print, key);
      return key;
    },
  });
  expect(printOf.size).toBe(result.states);
  return { states, mismatches, distinct: keyOf.size };
}

/** One design of each view: renamed frames, the `grants` part, the `pv-memory` part. */
const views = ['xenpt/hvm-shared-pt', 'xenpt/gnttab-copy-skips-bounds', 'xenpt/pv-grant-unmap-keeps-type'];

/** Each view's search, shared by the tests: to depth 2 for the renamed view, 1 for the others (3, 2 deep). */
const searches = new Map<string, ReturnType<typeof reached>>();
function searched(id: string): ReturnType<typeof reached> {
  let search = searches.get(id);
  if (search === undefined) {
    search = reached(byId(id), (id === views[0] ? 2 : 1) + (DEEP ? 1 : 0));
    searches.set(id, search);
  }
  return search;
}

describe('the Xen passthrough fingerprint partitions states as the key does', () => {
  test.for(views)('%s: on the states a search meets', (id) => {
    const { states, mismatches, distinct } = searched(id);
    expect(mismatches).toBe(0);
    expect(distinct).toBe(states.length);
  });

  // Every design and mutant of the stack (a design's hooks may reach states the three above do not):
  // to depth 3 under renaming, 2 with a part (their scopes are three times wider).
  test.runIf(DEEP).for(xenPtDesigns.map((design) => design.id))('%s: on the states a search meets', (id) => {
    const design = byId(id);
    const renamed = scopeOf(design).description.includes('Symmetry: frames from mfn');
    const { states, mismatches, distinct } = reached(design, renamed ? 3 : 2);
    expect(mismatches).toBe(0);
    expect(distinct).toBe(states.length);
  });

  test.for(views)('%s: one leaf away from reached states', (id) => {
    const scope = scopeOf(byId(id));
    const { states } = searched(id);
    let changed = 0;
    // The last states met (the most in flight and mapped), and every 311th (every 97th deep).
    const every = DEEP ? 97 : 311;
    for (const state of [...states.slice(DEEP ? -4 : -1), ...states.filter((_, index) => index % every === 1)]) {
      const key = scope.key(state);
      const print = scope.fingerprint?.(state).join(',');
      for (const perturbed of oneLeafAway(state)) {
        const keyChanged = scope.key(perturbed.state) !== key;
        const printChanged = scope.fingerprint?.(perturbed.state).join(',') !== print;
        expect(printChanged, perturbed.path).toBe(keyChanged);
        if (keyChanged) changed += 1;
      }
    }
    expect(changed).toBeGreaterThan(200);
  });

  test.for(views)('%s: every record has the fields the writer lists', (id) => {
    const unknown = new Set<string>();
    for (const state of searched(id).states) checkFields(state, unknown);
    expect([...unknown]).toEqual([]);
  });
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** States one change away from `state`: each leaf changed, each decimal or dfn key moved. */
function* oneLeafAway(state: XenPtState): Generator<{ path: string; state: XenPtState }> {
  const root = state as unknown as Json;
  const paths: (string | number)[][] = [];
  const walk = (value: Json, path: (string | number)[]): void => {
    if (value === null || typeof value !== 'object') {
      paths.push(path);
      return;
    }
    // An item equal to the one before it (blank grant entries, idle active entries) is written as
    // that one is: its leaves are left to the first of them.
    if (Array.isArray(value))
      value.forEach((item, index) => {
        if (index === 0 || JSON.stringify(item) !== JSON.stringify(value[index - 1])) walk(item, [...path, index]);
      });
    else for (const [field, item] of Object.entries(value)) walk(item, [...path, field]);
  };
  walk(root, []);
  for (const path of paths) {
    const field = path[path.length - 1];
    // Union tags (a p2m entry's type, an operation's kind) name the record's shape: left alone.
    if (field === 'kind' || field === 'type') continue;
    const copy = structuredClone(root);
    const parent = path.slice(0, -1).reduce<Json>((value, step) => (value as Record<string, Json>)[step] ?? null, copy);
    const record = parent as Record<string, Json>;
    const old = record[field as string] ?? null;
    let next: Json;
    if (typeof old === 'number') next = old + 1;
    else if (typeof old === 'boolean') next = !old;
    else if (typeof old === 'string') next = `${old}!`;
    else if (typeof field === 'string') next = 0;
    else continue;
    record[field as string] = next;
    yield { path: path.join('.'), state: copy as unknown as XenPtState };
  }
  // Record keys: a decimal key (gfn, mfn) or an IOTLB key's dfn moved one up.
  const records: (string | number)[][] = [];
  const findRecords = (value: Json, path: (string | number)[]): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) value.forEach((item, index) => findRecords(item, [...path, index]));
    else {
      if (Object.keys(value).some((key) => /\d$/.test(key))) records.push(path);
      for (const [field, item] of Object.entries(value)) findRecords(item, [...path, field]);
    }
  };
  findRecords(root, []);
  for (const path of records) {
    const original = path.reduce<Json>((value, step) => (value as Record<string, Json>)[step] ?? null, root);
    for (const key of Object.keys(original as Record<string, Json>)) {
      const match = /^(.*?)(\d+)$/.exec(key);
      if (match === null) continue;
      const moved = `${match[1] ?? ''}${Number(match[2]) + 1}`;
      if (moved in (original as Record<string, Json>)) continue;
      const copy = structuredClone(root);
      const record = path.reduce<Json>((value, step) => (value as Record<string, Json>)[step] ?? null, copy) as Record<
        string,
        Json
      >;
      record[moved] = record[key] ?? null;
      delete record[key];
      yield { path: `${path.join('.')}[${key} -> ${moved}]`, state: copy as unknown as XenPtState };
    }
  }
}

type Fields = keyof typeof xenPtRecordFields;

/** Adds to `unknown` each field of a record of `state` that its list in `xenPtRecordFields` lacks. */
function checkFields(state: XenPtState, unknown: Set<string>): void {
  const check = (record: object | null | undefined, kind: Fields): void => {
    if (record === null || record === undefined) return;
    const listed: readonly string[] = xenPtRecordFields[kind];
    for (const field of Object.keys(record)) if (!listed.includes(field)) unknown.add(`${kind}.${field}`);
  };
  const values = <V>(record: Readonly<Record<string, V>> | undefined): V[] => Object.values(record ?? {});
  check(state, 'state');
  const xen = state.xen;
  check(xen, 'xen');
  check(xen.memory, 'memory');
  for (const frame of xen.memory.frames) check(frame, 'frame');
  for (const domain of xen.domains) {
    check(domain, 'domain');
    for (const entry of values(domain.p2m)) check(entry, 'p2mEntry');
    for (const entry of domain.grantTable) check(entry, 'grantEntry');
    for (const entry of domain.grantStatus ?? []) check(entry, 'grantStatus');
    for (const entry of domain.active) check(entry, 'active');
    for (const entry of domain.maptrack) check(entry, 'maptrack');
    check(domain.iommu, 'iommu');
    for (const pte of values(domain.iommu?.table)) check(pte, 'iommuPte');
    for (const copy of domain.grantCopies ?? []) {
      check(copy, 'grantCopy');
      check(copy.source, 'grantCopyBuf');
      check(copy.dest, 'grantCopyBuf');
    }
    for (const count of values(domain.grantIommuCounts)) check(count, 'grantIommuCount');
  }
  for (const info of values(xen.pageTypes)) check(info, 'pageType');
  for (const slots of values(xen.frameContents)) for (const slot of slots) check(slot, 'pvL1e');
  const last = xen.lastGrantCopy;
  check(last, 'lastGrantCopy');
  check(last?.source, 'grantCopyBuf');
  check(last?.dest, 'grantCopyBuf');
  for (const access of last?.accesses ?? []) check(access, 'grantCopyAccess');
  for (const device of state.devices) check(device, 'device');
  for (const entry of values(state.iotlb)) {
    check(entry, 'iotlbEntry');
    check(entry.target, 'dmaTarget');
  }
  for (const op of state.inflight) check(op, 'op');
}
