/** The README's "Adding a design" example, through the public API exactly as a user writes it. */
import { describe, expect, test } from 'vitest';
import { checkDesign, designs, iommufdPassthroughDesign, runTrace, xenGtDesign } from '../src/index.js';
import type { IommufdHooks } from '../src/index.js';

describe('public API', () => {
  test('a user-defined variant is checked against the built-in invariants', () => {
    const leakyTeardown = xenGtDesign({
      id: 'mine/leaky-teardown',
      backend: 'map',
      bugs: ['vgpu-destroy-skips-unmap'],
      expected: 'violates',
      description: 'vGPU destruction leaves its mappings behind',
      breaks: ['backend-mappings-match-shadow', 'no-vgpu-no-backend-mappings'],
    });
    const result = checkDesign(leakyTeardown, { seed: 1, runs: 300 });
    expect(result.verdict).toBe('violated');
    expect(result.met).toBe(true);
    expect(result.violations.map((found) => found.invariant)).toEqual([
      'backend-mappings-match-shadow',
      'no-vgpu-no-backend-mappings',
    ]);
  });

  test('a counterexample replays through runTrace', () => {
    const lookup = designs.find((design) => design.id === 'xen/lookup')!;
    const steps = [
      { kind: 'gttWrite', entry: 0, gfn: 0, present: true },
      { kind: 'decreaseReservation', domid: 1, gfn: 0 },
      { kind: 'populatePhysmap', domid: 0, gfn: 2 },
      { kind: 'gpuDma', entry: 0, write: false },
    ];
    const run = runTrace(lookup, steps, { invariants: ['no-dma-to-foreign-frame'] });
    expect(run.steps.map((step) => step.result.ok)).toEqual([true, true, true, true]);
    expect(run.violations[0]?.afterStep).toBe(4);
  });

  test("a user's iommufd access driver, as a hook function, is checked against the built-in invariants", () => {
    // An emulated device's driver whose unmap callback unpins nothing: IOAS_UNMAP ends in the
    // WARN_ON (EDEADLOCK) and the pins outlive the area.
    const ignoresUnmap: IommufdHooks['accessUnmap'] = () => [];
    const mine = iommufdPassthroughDesign({
      id: 'mine/access-ignores-unmap',
      expected: 'violates',
      description: "the driver's unmap callback unpins nothing",
      breaks: ['no-kernel-warning'],
      hooks: { accessUnmap: ignoresUnmap },
    });
    const result = checkDesign(mine, { seed: 1, runs: 300, report: ['no-kernel-warning'] });
    expect(result.met).toBe(true);
    expect(result.violations.map((found) => found.invariant)).toEqual(['no-kernel-warning']);
  });
});
