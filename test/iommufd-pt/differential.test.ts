/**
 * The type1 ↔ iommufd differential: each declared difference met by a VMM program of its own (the
 * last step is the difference, counted once each), a DMA landing in the same vaddr's frame on both
 * sides, a search on a fixed seed that holds, and the same search without the declarations, which
 * must fail (the invariant can fail). The deeper tier counts every difference over a default run.
 */
import { describe, expect, test } from 'vitest';
import type { VmmOp } from '../../models/iommufd-pt/pair.js';
import {
  differentialLabels,
  type1IommufdDifferential,
  type1IommufdDifferentialDesign,
} from '../../properties/iommufd/differential/design.js';
import { type1IommufdDifferences } from '../../properties/iommufd/differential/differences.js';
import { checkDesign } from '../../src/check.js';
import { runTrace } from '../../src/execute.js';
import { DEEP } from '../helpers.js';

const page = (n: number | bigint): string => (BigInt(n) * 4096n).toString();
const nearTop = (2n ** 64n - 4096n).toString();
const map = (iovaPage: number, pages: number, flags = 3): Extract<VmmOp, { kind: 'mapDma' }> => ({
  kind: 'mapDma',
  argsz: 32,
  flags,
  vaddr: page(16 + iovaPage),
  iova: page(iovaPage),
  sizeBytes: page(pages),
});
const unmap = (iova: string, sizeBytes: string): VmmOp => ({ kind: 'unmapDma', argsz: 24, flags: 0, iova, sizeBytes });
const setIommu = (type: number): VmmOp => ({ kind: 'setIommu', type });
const container: VmmOp = { kind: 'setContainer' };
const open: VmmOp = { kind: 'openDevice' };
const setup: VmmOp[] = [container, setIommu(3), open];
const ext = (extension: number): VmmOp => ({ kind: 'checkExtension', extension });

/** A program per declared difference: its last operation is the difference. */
const programs: Record<string, VmmOp[]> = {
  'unmap-of-nothing': [...setup, unmap(page(0), page(1))],
  'v2-unmap-bisects': [...setup, map(0, 2), unmap(page(0), page(1))],
  'v1-unmap-cuts': [container, setIommu(1), open, map(0, 2), unmap(page(0), page(1))],
  'map-without-prot': [...setup, { ...map(0, 1, 0), vaddr: page(60) }],
  'map-overflow': [
    ...setup,
    { kind: 'mapDma', argsz: 32, flags: 3, vaddr: page(16), iova: nearTop, sizeBytes: page(2) },
  ],
  'unmap-overflow': [...setup, unmap(nearTop, page(2))],
  'map-without-group': [map(0, 1)],
  'unmap-without-group': [unmap(page(0), page(1))],
  'get-info-without-group': [{ kind: 'getInfo', argsz: 512 }],
  'set-iommu-without-group': [setIommu(3)],
  'get-info-before-set-iommu': [container, { kind: 'getInfo', argsz: 512 }],
  'get-info-ranges-before-device': [container, setIommu(3), { kind: 'getInfo', argsz: 512 }],
  'dma-cc-without-group': [ext(4)],
  'dma-cc-before-set-iommu': [container, ext(4)],
  'nesting-extension': [ext(6)],
  'update-vaddr-extension': [...setup, ext(10)],
  'set-iommu-nesting': [container, setIommu(6)],
  'set-iommu-twice': [container, setIommu(3), setIommu(3)],
  'set-iommu-unknown-type': [container, setIommu(2)],
};

describe('type1 ↔ iommufd differential', () => {
  test('every declared difference has a program, and each program meets it (once each)', () => {
    expect(Object.keys(programs).sort()).toEqual(type1IommufdDifferences.map((difference) => difference.id).sort());
    const met: Record<string, number> = {};
    for (const [id, program] of Object.entries(programs)) {
      const run = runTrace(type1IommufdDifferential, program);
      expect(run.violations, id).toEqual([]);
      const last = run.steps.at(-1);
      expect(last?.result.detail?.['declared'], id).toBe(id);
      met[id] = (met[id] ?? 0) + 1;
    }
    expect(Object.values(met).reduce((sum, count) => sum + count, 0)).toBe(type1IommufdDifferences.length);
  });

  test("a DMA lands in the same vaddr's frame on both sides, then faults on both after the unmap", () => {
    const run = runTrace(type1IommufdDifferential, [
      ...setup,
      map(2, 2),
      { kind: 'dma', iovaPage: 3, write: true },
      unmap(page(2), page(2)),
      { kind: 'dma', iovaPage: 3, write: true },
    ]);
    expect(run.violations).toEqual([]);
    const outcomes = run.steps.map((step) => [step.result.detail?.['type1'], step.result.detail?.['iommufd']]);
    expect(outcomes.slice(3)).toEqual([
      ['ok', 'ok'],
      ['vaddr page 19', 'vaddr page 19'],
      [`ok size ${page(2)}`, `ok size ${page(2)}`],
      ['fault', 'fault'],
    ]);
  });

  test('holds on a fixed seed; without the declarations the same search fails', () => {
    const check = checkDesign(type1IommufdDifferential, { seed: 1001, runs: DEEP ? 10_000 : 150, minimize: false });
    expect(check.brokenAt).toEqual([]);
    const undeclared = type1IommufdDifferentialDesign({
      id: 'test/undeclared',
      expected: 'holds',
      description: 'no difference declared',
      differences: [],
    });
    const failing = checkDesign(undeclared, { seed: 1001, runs: 150, minimize: false });
    expect(failing.verdict).toBe('violated');
  });

  test.runIf(DEEP)('over the default budget every declared difference is exercised', () => {
    const check = checkDesign(type1IommufdDifferential, { seed: 1001, runs: 1000, minimize: false });
    expect(check.verdict).toBe('holds');
    const labels = differentialLabels(type1IommufdDifferences);
    for (const label of labels) expect(check.stats.reachSteps[label] ?? 0, label).toBeGreaterThan(0);
  });
});
