/**
 * A user's own XenGT backend, written against the package's entry point alone (`src/index.ts`): the
 * backend's decision point (how a guest gfn becomes a DMA address, when it is released) is a
 * function, checked by the built-in invariants. The compiler checks it: the `@ts-expect-error`
 * lines below fail `tsc` (run by `npm test`) the day they stop being errors.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, runTrace, xenGtDesign, xenGtMapBackend } from '../../src/index.js';
import type {
  Design,
  XenBackendCall,
  XenGtBackend,
  XenGtCommand,
  XenGtMapPlan,
  XenGtState,
  XenGtTemplate,
} from '../../src/index.js';
import { expectNothingFound } from '../helpers.js';
import type { WritableFrame } from '../../models/memory/frames.js';

/** The map backend, but its pool handed out from the top: a sound variant. */
const poolFromTheTop: XenGtBackend = {
  name: 'mine/pool-from-the-top',
  addressing: 'backend-iommu',
  map({ state, config, gfn }): XenGtMapPlan {
    const backend = state.xen.domains[config.backendDomid];
    const held = new Set(Object.values(state.vgpu?.cache ?? {}).map((entry) => entry.dmaAddr));
    for (let offset = config.mappingPoolSize - 1; offset >= 0; offset--) {
      const dfn = config.mappingPoolBaseGfn + offset;
      if (backend?.p2m[dfn] !== undefined || held.has(dfn)) continue;
      const call: XenBackendCall = { kind: 'add_to_physmap_foreign', gfn: dfn, foreignGfn: gfn };
      return { dmaAddr: dfn, calls: [call] };
    }
    return { errno: 'ENOSPC' };
  },
  unmap: (request) => xenGtMapBackend.unmap(request),
};

/** The map backend, but it lets go of its mappings only when the vGPU goes: a flawed variant. */
const releasesAtTeardownOnly: XenGtBackend = {
  ...xenGtMapBackend,
  name: 'mine/release-at-teardown',
  unmap: (request) => (request.reason === 'vgpu-destroy' ? xenGtMapBackend.unmap(request) : []),
};

const sound = xenGtDesign({
  id: 'mine/pool-from-the-top',
  backend: poolFromTheTop,
  expected: 'holds',
  description: 'the backend maps each guest page at the highest free gfn of its pool',
});

const lazy: Design<XenGtState, XenGtCommand, XenGtTemplate> = xenGtDesign({
  id: 'mine/release-at-teardown',
  backend: releasesAtTeardownOnly,
  commands: 'xen',
  expected: 'violates',
  breaks: ['backend-mappings-match-shadow', 'no-vgpu-no-backend-mappings'],
  description: 'the backend keeps each guest page mapped until the vGPU is destroyed',
});

/** Never called: what the compiler refuses about a backend. */
export function refusedByTheCompiler(): void {
  // @ts-expect-error: a backend's map answers with a plan, not a bare DMA address
  const bare: XenGtBackend = { ...xenGtMapBackend, map: () => 1024 };
  // @ts-expect-error: a hypercall the backend cannot make
  const call: XenBackendCall = { kind: 'decrease_reservation', gfn: 0 };
  // @ts-expect-error: a backend's addressing is 'backend-iommu' or 'machine'
  xenGtDesign({ id: 'x', expected: 'holds', description: 'x', backend: { ...xenGtMapBackend, addressing: 'p2m' } });
  // @ts-expect-error: a KVMGT bug is not a XenGT backend bug
  xenGtDesign({ id: 'x', expected: 'holds', description: 'x', backend: 'map', bugs: ['map-skips-pin'] });
  void [bare, call];
}

describe("a user's XenGT backend, through the public API only", () => {
  test('a sound backend written as a function: nothing breaks', () => {
    expectNothingFound(checkDesign(sound, { seed: 3, runs: 150 }));
  });

  test('a backend that releases late is caught by the built-in invariants', () => {
    const check = checkDesign(lazy, { seed: 1, runs: 300, report: lazy.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.met).toBe(true);
    // GTT write, clear: the mapping outlives the last shadow entry using it; and the vGPU's
    // teardown releases only what its DMA cache still names.
    expect(check.violations.map((found) => [found.invariant, found.length])).toEqual([
      ['backend-mappings-match-shadow', 2],
      ['no-vgpu-no-backend-mappings', 3],
    ]);
  });

  test('a hook that writes into the state it is given is a crash under the purity guard', () => {
    const writes = xenGtDesign({
      id: 'mine/writes-its-input',
      backend: {
        ...xenGtMapBackend,
        map(request) {
          const frame = request.state.xen.memory.frames[0];
          // In place, as a careless hook would (not through `writableFrame`).
          if (frame !== undefined) (frame as WritableFrame).refcount += 1;
          return xenGtMapBackend.map(request);
        },
      },
      expected: 'holds',
      description: 'a backend that counts by hand',
    });
    const steps: XenGtCommand[] = [{ kind: 'gttWrite', entry: 0, gfn: 0, present: true }];
    expect(runTrace(writes, steps, { strict: true }).crash?.name).toBe('PurityError');
    expect(runTrace(sound, steps, { strict: true }).crash).toBeNull();
  });
});
