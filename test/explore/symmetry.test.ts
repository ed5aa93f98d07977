/**
 * The symmetry reduction of the XenGT key: machine frames are interchangeable, so states that
 * differ only by a renaming of frames are one state, and nothing else is merged.
 */
import { describe, expect, test } from 'vitest';
import type { ShadowPte } from '../../models/gvt/types.js';
import type { XenGtState } from '../../models/xengt/types.js';
import { runTrace } from '../../src/execute.js';
import { exploreDesign, stableJson } from '../../src/explore.js';
import { xenLookup, xenMap } from '../../properties/xengt/designs.js';
import { xenGtCanonicalState, xenGtStateKey } from '../../properties/xengt/explore-scope.js';

/**
 * The same lookup-backend state with every mfn renamed by `rename` (a permutation of the frames),
 * the mediator's DMA addresses (raw mfns under lookup) included.
 */
function renameFrames(state: XenGtState, rename: (mfn: number) => number): XenGtState {
  const renamePte = (pte: ShadowPte): ShadowPte =>
    pte.kind === 'dma' ? { ...pte, dmaAddr: rename(pte.dmaAddr) } : pte;
  const vgpu = state.vgpu;
  const frames = [...state.xen.memory.frames];
  for (const frame of state.xen.memory.frames) frames[rename(frame.mfn)] = { ...frame, mfn: rename(frame.mfn) };
  return {
    xen: {
      memory: { ...state.xen.memory, frames, freeList: state.xen.memory.freeList.map(rename) },
      domains: state.xen.domains.map((domain) => ({
        ...domain,
        p2m: Object.fromEntries(
          Object.entries(domain.p2m).map(([gfn, entry]) => [gfn, { ...entry, mfn: rename(entry.mfn) }]),
        ),
        active: domain.active.map((act) => ({ ...act, mfn: act.mfn === null ? null : rename(act.mfn) })),
        maptrack: domain.maptrack.map((mapping) =>
          mapping === null ? null : { ...mapping, mfn: rename(mapping.mfn) },
        ),
      })),
    },
    vgpu:
      vgpu === null
        ? null
        : {
            ...vgpu,
            ggttHost: vgpu.ggttHost.map(renamePte),
            spts: Object.fromEntries(
              Object.entries(vgpu.spts).map(([gfn, spt]) => [gfn, { ...spt, entries: spt.entries.map(renamePte) }]),
            ),
            cache: Object.fromEntries(
              Object.entries(vgpu.cache).map(([gfn, entry]) => [gfn, { ...entry, dmaAddr: rename(entry.dmaAddr) }]),
            ),
          },
    guestPages: state.guestPages,
    writeProtected: state.writeProtected,
  };
}

/**
 * A lookup-backend state where mfns sit in every structure: p2m, maptrack, active entry, the
 * mediator's GTT shadow, PPGTT shadow leaf and DMA cache, free list.
 */
function busyState(): XenGtState {
  const steps = [
    { kind: 'gttWrite', entry: 0, gfn: 1, present: true },
    { kind: 'guestWritePte', gfn: 2, index: 0, present: true, targetGfn: 3, sizeBytes: 8 },
    { kind: 'guestWritePte', gfn: 3, index: 1, present: true, targetGfn: 2, sizeBytes: 8 },
    { kind: 'ppgttCreate', rootGfn: 2 },
    { kind: 'grantAccess', domid: 1, ref: 0, granteeDomid: 2, gfn: 0, readonly: false },
    {
      kind: 'mapGrantRef',
      mapperDomid: 2,
      granterDomid: 1,
      ref: 0,
      host: true,
      device: true,
      readonly: false,
      hostAddr: 0,
    },
    // The shadowed frame is freed (the lookup race) and joins the free list after the fresh frames.
    { kind: 'decreaseReservation', domid: 1, gfn: 1 },
    { kind: 'decreaseReservation', domid: 0, gfn: 0 },
  ];
  let state = xenLookup.init();
  for (const command of steps) {
    const step = xenLookup.step(state, command as Parameters<typeof xenLookup.step>[1]);
    expect(step.result.ok).toBe(true);
    state = step.state;
  }
  return state;
}

describe('symmetry reduction: frames are interchangeable', () => {
  test('renaming the frames gives another state with the same key', () => {
    const state = busyState();
    const frameCount = state.xen.memory.frames.length;
    const reversed = renameFrames(state, (mfn) => frameCount - 1 - mfn);
    const rotated = renameFrames(state, (mfn) => (mfn + 5) % frameCount);
    for (const renamed of [reversed, rotated]) {
      expect(stableJson(renamed)).not.toBe(stableJson(state));
      expect(xenGtStateKey(renamed, 'lookup')).toBe(xenGtStateKey(state, 'lookup'));
    }
  });

  test('what a renaming cannot undo changes the key: free-list order, counts, which frame is shadowed', () => {
    const state = busyState();
    const key = xenGtStateKey(state, 'lookup');
    const memory = state.xen.memory;
    const reordered = (freeList: number[]): XenGtState => ({
      ...state,
      xen: { ...state.xen, memory: { ...memory, freeList } },
    });
    // Reordering the fresh free frames among themselves is a renaming; moving the still-shadowed
    // free frame (allocated second under lifo) to second-to-last is not.
    expect(memory.freeList).toHaveLength(6);
    const fresh = memory.freeList.slice(0, 4);
    expect(xenGtStateKey(reordered([...fresh].reverse().concat(memory.freeList.slice(4))), 'lookup')).toBe(key);
    expect(xenGtStateKey(reordered([...memory.freeList].reverse()), 'lookup')).not.toBe(key);
    const recounted = structuredClone(state);
    recounted.xen.memory.frames[0]!.refcount += 1;
    expect(xenGtStateKey(recounted, 'lookup')).not.toBe(key);
    const reshadowed = structuredClone(state);
    const ram = reshadowed.xen.domains[1]!.p2m[2]!;
    reshadowed.vgpu!.ggttHost[0] = { kind: 'dma', dmaAddr: ram.mfn };
    expect(xenGtStateKey(reshadowed, 'lookup')).not.toBe(key);
  });

  test.for([xenMap, xenLookup])(
    '$id: the compact key and the renamed state as canonical JSON partition the states alike',
    (design) => {
      // Every state met to depth 2: equal compact keys exactly when equal renamed states.
      const genericOf = new Map<string, string>();
      const compactOf = new Map<string, string>();
      let mismatches = 0;
      const result = exploreDesign(design, {
        depth: 2,
        key: (state) => {
          const compact = xenGtStateKey(state as XenGtState, design.config.backend);
          const generic = stableJson(xenGtCanonicalState(state as XenGtState, design.config.backend));
          if ((genericOf.get(compact) ?? generic) !== generic) mismatches += 1;
          if ((compactOf.get(generic) ?? compact) !== compact) mismatches += 1;
          genericOf.set(compact, generic);
          compactOf.set(generic, compact);
          return compact;
        },
      });
      expect(mismatches).toBe(0);
      expect(genericOf.size).toBe(result.states);
    },
  );

  test('without the reduction: more states, the same verdicts and shortest lengths', () => {
    for (const design of [xenMap, xenLookup]) {
      const reduced = exploreDesign(design, { depth: 2 });
      const plain = exploreDesign(design, { depth: 2, key: stableJson });
      expect(plain.states, design.id).toBeGreaterThan(reduced.states);
      expect(plain.verdict).toBe(reduced.verdict);
      expect(plain.violations.map((found) => [found.invariant, found.length])).toEqual(
        reduced.violations.map((found) => [found.invariant, found.length]),
      );
    }
  });
});

test('a counterexample from explore replays through runTrace', () => {
  const [found] = exploreDesign(xenLookup, { depth: 2, invariants: ['shadow-frame-owned-by-guest'] }).violations;
  expect(runTrace(xenLookup, found!.steps, { invariants: [found!.invariant] }).violations[0]?.afterStep).toBe(2);
});
