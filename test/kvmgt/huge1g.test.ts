/**
 * 1G PPGTT entries through the KVMGT stack (docs/reference/gvt-kvmgt.md §4.4c): a PDP entry with
 * the PS bit (`GTT_TYPE_PPGTT_PTE_1G_ENTRY`) is refused by Linux v6.12's
 * `ppgtt_populate_shadow_entry` ("GVT doesn't support 1GB entry", -EINVAL) before any map, so the
 * PPGTT's creation fails and leaves the vGPU as it was. The model folds the PDP level into the
 * announcement (`ppgttCreate`'s `pse`).
 */
import { describe, expect, test } from 'vitest';
import type { KvmgtCommand } from '../../models/kvmgt/types.js';
import { formatKvmgtCommand } from '../../properties/kvmgt/format.js';
import { gvtWriteProtect, kvmgtShippedPopulateUnwind } from '../../properties/kvmgt/designs.js';
import { kvmgtInvariants } from '../../properties/kvmgt/invariants/index.js';
import { REFUSED_1G, classifyKvmgtStep } from '../../properties/kvmgt/reach.js';
import { run } from '../models/gvt/world.js';

const ROOT = 0;

/** A directory at gfn 0 over a page table at gfn 1 that maps gfn 2 (nothing shadowed yet). */
const tables: KvmgtCommand[] = [
  { kind: 'guestWritePte', gfn: ROOT, index: 0, present: true, targetGfn: 1, sizeBytes: 8 },
  { kind: 'guestWritePte', gfn: 1, index: 0, present: true, targetGfn: 2, sizeBytes: 8 },
];

const create1G: KvmgtCommand = { kind: 'ppgttCreate', rootGfn: ROOT, pse: true };

describe('1G entries (ppgtt_populate_shadow_entry, Linux v6.12)', () => {
  for (const design of [gvtWriteProtect, kvmgtShippedPopulateUnwind]) {
    test(`${design.id}: a new PPGTT under a 1G entry is refused with EINVAL, the vGPU unchanged`, () => {
      const before = run(tables, design);
      const step = design.step(before, create1G);
      expect(step.result).toMatchObject({ ok: false, error: 'EINVAL' });
      // Refused before the directory is reached: no mm, no shadow table, no page track, no map.
      expect(step.state.vgpu).toEqual(before.vgpu);
      expect(step.state.writeProtected).toEqual(before.writeProtected);
      expect(step.state.vfio).toEqual(before.vfio);
      const transition = { before, command: create1G, result: step.result, after: step.state };
      const broken = kvmgtInvariants(design.config).filter((invariant) => invariant.check(transition) !== null);
      expect(broken.map((invariant) => invariant.name)).toEqual([]);
      expect(classifyKvmgtStep(transition)).toEqual([REFUSED_1G]);
    });
  }

  test('started as a phase of its own, it is refused at once, with nothing left in flight', () => {
    const before = run(tables);
    const step = gvtWriteProtect.step(before, { ...create1G, phased: true } as KvmgtCommand);
    expect(step.result).toMatchObject({ ok: false, error: 'EINVAL' });
    expect(step.state.inflight).toEqual([]);
    expect(step.state.vgpu).toEqual(before.vgpu);
  });

  test('a known root takes a reference whatever its entries (intel_vgpu_find_ppgtt_mm matches the root pointers)', () => {
    const created = run([...tables, { kind: 'ppgttCreate', rootGfn: ROOT }]);
    const step = gvtWriteProtect.step(created, create1G);
    expect(step.result).toMatchObject({ ok: true });
    expect(step.state.vgpu?.mms).toEqual([{ rootGfn: ROOT, refcount: 2 }]);
    expect(classifyKvmgtStep({ before: created, command: create1G, result: step.result, after: step.state })).toEqual(
      [],
    );
  });

  test('the command reads as the guest wrote it', () => {
    expect(formatKvmgtCommand(create1G)).toContain('PDP entry with PS (1G)');
  });
});
