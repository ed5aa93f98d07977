/**
 * The hand-written fingerprint of the stack over iommufd (`properties/iommufd/state-fingerprint.ts`)
 * partitions the scope's reachable states exactly as `stableFingerprint` did: over every
 * transition of a breadth-first search of the explore scope, two successors share the new
 * fingerprint iff they share the old one; and no state reached holds a field the fingerprint does
 * not write (`fields.ts`), so a field added later is not silently left out. The default tier
 * searches iommufd/passthrough to depth 2; the deep tier every design on the scope to depth 3.
 */
import { describe, expect, test } from 'vitest';
import type { IommufdPtCommand, IommufdPtState } from '../../models/iommufd-pt/types.js';
import { iommufdDesigns } from '../../properties/iommufd/designs.js';
import { iommufdMutants } from '../../properties/iommufd/mutants.js';
import { iommufdPtStateFingerprint } from '../../properties/iommufd/state-fingerprint.js';
import { stableFingerprint } from '../../src/stable-fingerprint.js';
import type { Fingerprint } from '../../src/state-table.js';
import type { Design } from '../../src/design.js';
import { DEEP } from '../helpers.js';
import { unknownStackFields } from './fields.js';

type StackDesign = Design<IommufdPtState, IommufdPtCommand>;

const text = (print: Fingerprint): string => print.join(',');

/** Over every transition to `depth`: old print → new prints and new print → old prints; the fields missed. */
function compare(
  design: StackDesign,
  depth: number,
): { pairs: number; split: string[]; merged: string[]; missed: string[] } {
  const scope = design.explore;
  if (scope === undefined) throw new Error(`${design.id}: no explore scope`);
  const oldToNew = new Map<string, Set<string>>();
  const newToOld = new Map<string, Set<string>>();
  const missed = new Set<string>();
  const note = (state: IommufdPtState): boolean => {
    const old = text(stableFingerprint(state));
    const fresh = text(iommufdPtStateFingerprint(state));
    for (const field of unknownStackFields(state)) missed.add(field);
    const known = oldToNew.has(old);
    oldToNew.set(old, (oldToNew.get(old) ?? new Set()).add(fresh));
    newToOld.set(fresh, (newToOld.get(fresh) ?? new Set()).add(old));
    return !known;
  };
  let frontier = [design.init()];
  note(frontier[0] as IommufdPtState);
  let pairs = 1;
  for (let level = 0; level < depth; level++) {
    const next: IommufdPtState[] = [];
    for (const state of frontier) {
      for (const template of scope.templates(state)) {
        const after = design.step(state, design.resolve(state, template)).state;
        pairs += 1;
        if (note(after)) next.push(after);
      }
    }
    frontier = next;
  }
  const many = (map: Map<string, Set<string>>): string[] => [...map].filter(([, set]) => set.size > 1).map(([k]) => k);
  return { pairs, split: many(oldToNew), merged: many(newToOld), missed: [...missed] };
}

const everyDesign = [...iommufdDesigns, ...iommufdMutants] as unknown as readonly StackDesign[];
const designs = DEEP ? everyDesign : everyDesign.filter((design) => design.id === 'iommufd/passthrough');
const depth = DEEP ? 3 : 2;

describe(`the iommufd stack's fingerprint partitions like stableFingerprint (depth ${depth})`, () => {
  test.each(designs.map((design) => [design.id, design] as const))('%s', (_id, design) => {
    const { pairs, split, merged, missed } = compare(design, depth);
    expect(pairs).toBeGreaterThan(100);
    expect(split).toEqual([]);
    expect(merged).toEqual([]);
    expect(missed).toEqual([]);
  });
});

describe('the fingerprint can tell states apart, and the guard knows an unknown field', () => {
  test('a change of a leaf in each part changes the print', () => {
    const design = everyDesign[0] as StackDesign;
    const scope = design.explore;
    if (scope === undefined) throw new Error('no scope');
    // A state with a mapping: a domain's translations, pinned pages, table pages.
    let state = design.init();
    state = design.step(state, design.resolve(state, scope.templates(state)[0] as IommufdPtCommand)).state;
    const before = text(iommufdPtStateFingerprint(state));
    const variants: ((copy: IommufdPtState) => void)[] = [
      (copy) => (copy.iommufd.pinnedVmPages += 1),
      (copy) => ((copy.iommufd.memory.frames[0] as { refcount: number }).refcount += 1),
      (copy) => (copy.iommufd.process.lockedVmPages += 1),
      (copy) => {
        const hwpt = Object.values(copy.iommufd.objects).find((object) => object.type === 'hwpt_paging');
        if (hwpt?.type !== 'hwpt_paging') throw new Error('no hwpt');
        hwpt.translations = {};
      },
      (copy) => {
        const pages = Object.values(copy.iommufd.pages)[0];
        if (pages === undefined) throw new Error('no pages');
        pages.pinned = {};
      },
      (copy) => (copy.iommu.nextFlushSeq += 1),
      (copy) => {
        const table = Object.values(copy.iommu.tables)[0];
        if (table === undefined) throw new Error('no table');
        (table as { level: number }).level += 1;
      },
      (copy) => copy.otherFrames.push(99),
    ];
    // Each on a fresh copy: a fingerprint is remembered by identity, for states no one writes again.
    expect(text(iommufdPtStateFingerprint(structuredClone(state)))).toBe(before);
    for (const change of variants) {
      const copy = structuredClone(state);
      change(copy);
      expect(text(iommufdPtStateFingerprint(copy))).not.toBe(before);
    }
  });

  test('a field no list names is reported', () => {
    const copy = structuredClone((everyDesign[0] as StackDesign).init());
    Object.assign(copy.iommu, { newCache: [] });
    Object.assign(copy.iommufd.memory, { zeroed: 0 });
    expect(unknownStackFields(copy)).toEqual(['memory.zeroed', 'iommu.newCache']);
  });
});
