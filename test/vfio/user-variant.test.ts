/**
 * A user's own variant of a VFIO mechanism, written against the package's entry point alone
 * (`src/index.ts`): a design from `vfioDesign`, its `step` wrapped, checked against the built-in
 * invariants. The compiler checks it: the state, commands and bug flags are typed, and the
 * `@ts-expect-error` lines below fail `tsc` (run by `npm test`) the day they stop being errors.
 */
import { describe, expect, test } from 'vitest';
import { checkDesign, runTrace, mapDmaArgs, unmapDmaArgs, vfioDesign, vfioInvariants } from '../../src/index.js';
import type { Design, Invariant, Step, VfioCommand, VfioState, VfioTemplate } from '../../src/index.js';

const base = vfioDesign({
  id: 'mine/mixed',
  world: 'mixed',
  expected: 'holds',
  description: 'an assigned device and mediated ones in one container',
});

/**
 * The variant: a type1 change whose UNMAP_DMA unpins but leaves the IOMMU domains' translations
 * in place (the domain is never told), so the assigned device keeps reaching frames VFIO let go.
 */
function unmapKeepsTranslations(state: VfioState, command: VfioCommand): Step<VfioState> {
  const next = base.step(state, command);
  const before = state.container.backend;
  if (command.kind !== 'unmapDma' || !next.result.ok || before?.kind !== 'type1') return next;
  const kept = structuredClone(next.state);
  const after = kept.container.backend;
  if (after?.kind !== 'type1') return next;
  for (const domain of after.domains) {
    const old = before.domains.find((other) => other.id === domain.id);
    domain.translations = { ...old?.translations, ...domain.translations };
  }
  return { state: kept, result: next.result };
}

const variant: Design<VfioState, VfioCommand, VfioTemplate> = {
  ...base,
  id: 'mine/unmap-keeps-translations',
  expected: 'violates',
  description: 'UNMAP_DMA unpins, but the domain keeps translating the range',
  breaks: ['reachable-frame-pinned'],
  step: unmapKeepsTranslations,
};

/** A user's own invariant over the same typed state: a released container leaves no guest frame pinned. */
const releasedContainerPinsNothing: Invariant<VfioState, VfioCommand> = {
  name: 'mine/released-container-pins-nothing',
  class: 'teardown',
  description: "once the container has no backend, each of the guest's frames is held by its page alone",
  check({ after }) {
    if (after.container.backend !== null) return null;
    const pinned = after.memory.frames.find((frame) => frame.owner === after.process.owner && frame.refcount > 1);
    if (pinned === undefined) return null;
    return {
      message: `container released, but mfn ${pinned.mfn} has ${pinned.refcount} references`,
      actual: `refcount ${pinned.refcount}`,
      expected: 'refcount 1',
    };
  },
};

/** Never called: what the compiler refuses about a variant. */
export function refusedByTheCompiler(): void {
  // @ts-expect-error: a KVMGT command is not a VFIO command
  base.step(base.init(), { kind: 'ggttWrite', index: 2, gfn: 0, present: true, sizeBytes: 8, offsetBytes: 0 });
  // @ts-expect-error: a VFIO command has its fields, typed
  base.step(base.init(), { kind: 'mapDma', iova: 0 });
  // @ts-expect-error: a KVMGT bug is not a VFIO bug
  vfioDesign({ id: 'x', world: 'mixed', expected: 'holds', description: 'x', vfioBugs: ['map-skips-pin'] });
  // @ts-expect-error: a group kind VFIO does not have
  vfioDesign({ id: 'x', world: { groups: [{ kind: 'pasid' }] }, expected: 'holds', description: 'x' });
  // @ts-expect-error: the state is the VFIO model's
  const { vgpu } = base.init();
  void vgpu;
}

describe("a user's variant, through the public API only", () => {
  test('the wrapped step is caught by the built-in invariants', () => {
    const check = checkDesign(variant, { seed: 1, runs: 300, report: variant.breaks });
    expect(check.verdict).toBe('violated');
    expect(check.met).toBe(true);
    expect(check.violations.map((found) => found.invariant)).toEqual(['reachable-frame-pinned']);
  });

  test('a trace replays on the variant and not on the design it wraps; a user invariant joins the built-in ones', () => {
    const steps: VfioCommand[] = [
      { kind: 'mapDma', ...mapDmaArgs({ vaddrPage: 16, iovaPage: 0, npages: 1 }) },
      { kind: 'unmapDma', ...unmapDmaArgs({ iovaPage: 0, npages: 1 }) },
    ];
    expect(runTrace(variant, steps).violations.map((found) => found.invariant)).toContain('reachable-frame-pinned');
    expect(runTrace(base, steps).violations).toEqual([]);
    const mine = { ...base, invariants: [...vfioInvariants, releasedContainerPinsNothing] };
    expect(runTrace(mine, steps).violations).toEqual([]);
    expect(mine.invariants.map((invariant) => invariant.name)).toContain('mine/released-container-pins-nothing');
  });
});
