/**
 * The PV MMU commands against the reference (docs/reference/xen-pv.md): every refusal with its
 * errno and the state unchanged, and what each accepted request takes and gives back.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { commandValidator } from '../../properties/generic/command-schema.js';
import { pvMmuCommandArbitrary } from '../../properties/xen/pv-generators.js';
import { pvMmuCommandSchema } from '../../properties/xen/pv-schema.js';
import { pageTypeOf } from '../../models/xen/page-info.js';
import { l1Slots } from '../../models/xen/page-type.js';
import { DOM0, HVM, NO_DOMAIN, PV, mfnAt, okPv, pv, pvWorld } from './pv-world.js';

function setup() {
  const state = pvWorld();
  const [table, data, other, spare] = [0, 1, 2, 3].map((gfn) => mfnAt(state, PV, gfn)) as [
    number,
    number,
    number,
    number,
  ];
  return { state, table, data, other, spare, foreign: mfnAt(state, DOM0, 0), hvmFrame: mfnAt(state, HVM, 0) };
}

describe('MMU_NORMAL_PT_UPDATE (do_mmu_update, mod_l1_entry)', () => {
  it('refuses a domain that does not exist (ESRCH), an HVM caller (ENOSYS), a slot beyond the L1 (EINVAL)', () => {
    const { state, table, data } = setup();
    const entry = { mfn: data, rw: false };
    expect(pv(state, { kind: 'pvMmuUpdate', domid: NO_DOMAIN, tableMfn: table, slot: 0, ...entry }).error).toBe(
      'ESRCH',
    );
    expect(pv(state, { kind: 'pvMmuUpdate', domid: HVM, tableMfn: table, slot: 0, ...entry }).error).toBe('ENOSYS');
    expect(pv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 2, ...entry }).error).toBe('EINVAL');
  });

  it("refuses a table frame that is another domain's, free, or beyond memory (get_page_from_gfn: EINVAL)", () => {
    const { state, foreign } = setup();
    for (const tableMfn of [foreign, 9, 10]) {
      expect(pv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn, slot: 0, mfn: null, rw: false }).error).toBe(
        'EINVAL',
      );
    }
  });

  it('writes a frame not in use as a page table as a writable page, with no reference for the entry', () => {
    const { state, table, foreign } = setup();
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: foreign, rw: true });
    expect(l1Slots(state, table)[0]).toEqual({ mfn: foreign, rw: true });
    expect(state.memory.frames[foreign]!.refcount).toBe(1);
    expect(pageTypeOf(state, table)).toMatchObject({ type: 'writable', count: 0 });
  });

  it("in a validated L1: refuses another domain's frame, a free frame (EBUSY) and I/O space for an unprivileged domain (EPERM)", () => {
    const { state, table, foreign, hvmFrame } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    for (const mfn of [foreign, hvmFrame, 9]) {
      expect(pv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn, rw: false }).error).toBe(
        'EBUSY',
      );
    }
    expect(pv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: 10, rw: false }).error).toBe(
      'EPERM',
    );
  });

  it('in a validated L1: a privileged domain may map I/O space, with no reference', () => {
    const state = pvWorld();
    const table = mfnAt(state, DOM0, 0);
    okPv(state, { kind: 'pvPinL1Table', domid: DOM0, mfn: table });
    const refs = state.memory.frames.map((frame) => frame.refcount);
    okPv(state, { kind: 'pvMmuUpdate', domid: DOM0, tableMfn: table, slot: 0, mfn: 10, rw: true });
    expect(state.memory.frames.map((frame) => frame.refcount)).toEqual(refs);
  });

  it('in a validated L1: refuses an RW entry of a frame in use as a page table, itself included (EBUSY)', () => {
    const { state, table, other } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: other });
    for (const mfn of [table, other]) {
      expect(pv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn, rw: true }).error).toBe(
        'EBUSY',
      );
      // Read-only is fine.
      okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn, rw: false });
    }
  });

  it("in a validated L1: the new entry's references are taken, the old one's put", () => {
    const { state, table, data, other } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: data, rw: true });
    expect(state.memory.frames[data]!.refcount).toBe(2);
    expect(pageTypeOf(state, data)).toMatchObject({ type: 'writable', count: 1 });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: other, rw: false });
    expect(state.memory.frames[data]!.refcount).toBe(1);
    expect(pageTypeOf(state, data)).toMatchObject({ type: 'writable', count: 0 });
    expect(state.memory.frames[other]!.refcount).toBe(2);
    expect(pageTypeOf(state, other).count).toBe(0);
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: null, rw: false });
    expect(state.memory.frames[other]!.refcount).toBe(1);
  });

  it('in a validated L1: the fast path (same frame, same _PAGE_RW) takes and puts nothing', () => {
    const { state, table, data } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 1, mfn: data, rw: true });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 1, mfn: data, rw: true });
    expect(state.memory.frames[data]!.refcount).toBe(2);
    expect(pageTypeOf(state, data).count).toBe(1);
  });
});

describe('MMUEXT_PIN_L1_TABLE / MMUEXT_UNPIN_TABLE (do_mmuext_op)', () => {
  it('refuses a domain that does not exist (ESRCH), a domain that is not PV (EINVAL)', () => {
    const { state, table, hvmFrame } = setup();
    expect(pv(state, { kind: 'pvPinL1Table', domid: NO_DOMAIN, mfn: table }).error).toBe('ESRCH');
    expect(pv(state, { kind: 'pvUnpinTable', domid: NO_DOMAIN, mfn: table }).error).toBe('ESRCH');
    expect(pv(state, { kind: 'pvPinL1Table', domid: HVM, mfn: hvmFrame }).error).toBe('EINVAL');
    expect(pv(state, { kind: 'pvUnpinTable', domid: HVM, mfn: hvmFrame }).error).toBe('EINVAL');
  });

  it("refuses another domain's frame, a free one, one beyond memory (EINVAL)", () => {
    const { state, foreign } = setup();
    for (const mfn of [foreign, 9, 10]) {
      expect(pv(state, { kind: 'pvPinL1Table', domid: PV, mfn }).error).toBe('EINVAL');
      expect(pv(state, { kind: 'pvUnpinTable', domid: PV, mfn }).error).toBe('EINVAL');
    }
  });

  it('pins: an L1 type reference and a page reference kept, the frame validated and out of the IOMMU', () => {
    const { state, table } = setup();
    expect(state.domains[PV]!.iommu!.table[table]).toEqual({ mfn: table, read: true, write: true });
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    expect(pageTypeOf(state, table)).toEqual({ type: 'l1', count: 1, validated: true, pinned: true });
    expect(state.memory.frames[table]!.refcount).toBe(2);
    expect(state.domains[PV]!.iommu!.table[table]).toBeUndefined();
    // iommu_legacy_unmap flushes at once: nothing left waiting.
    expect(state.domains[PV]!.iommu!.flushPending).toEqual([]);
  });

  it('refuses a second pin (EINVAL, the extra references put again)', () => {
    const { state, table } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    expect(pv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table }).error).toBe('EINVAL');
  });

  it('refuses a frame in use as another type: an RW entry of a validated L1 maps it (EINVAL)', () => {
    const { state, table, data } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: data, rw: true });
    expect(pv(state, { kind: 'pvPinL1Table', domid: PV, mfn: data }).error).toBe('EINVAL');
  });

  it('refuses a table whose validation fails: an RW entry of a page table or of itself (EBUSY), a foreign frame (EBUSY), I/O space (EPERM)', () => {
    const { state, table, other, spare, foreign } = setup();
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: other });
    const cases: [number, { mfn: number; rw: boolean }, string][] = [
      [table, { mfn: other, rw: true }, 'EBUSY'],
      [spare, { mfn: spare, rw: true }, 'EBUSY'],
      [spare, { mfn: foreign, rw: false }, 'EBUSY'],
      [spare, { mfn: 10, rw: false }, 'EPERM'],
    ];
    for (const [mfn, entry, errno] of cases) {
      okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: mfn, slot: 1, ...entry });
      expect(pv(state, { kind: 'pvPinL1Table', domid: PV, mfn }).error).toBe(errno);
      okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: mfn, slot: 1, mfn: null, rw: false });
    }
  });

  it('refuses to unpin a frame that is not pinned (EINVAL)', () => {
    const { state, table } = setup();
    expect(pv(state, { kind: 'pvUnpinTable', domid: PV, mfn: table }).error).toBe('EINVAL');
  });

  it("unpins: the pin's references put, the table devalidated (its entries' references put), its type kept with count 0", () => {
    const { state, table, data } = setup();
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: data, rw: true });
    okPv(state, { kind: 'pvPinL1Table', domid: PV, mfn: table });
    expect(pageTypeOf(state, data)).toMatchObject({ type: 'writable', count: 1 });
    okPv(state, { kind: 'pvUnpinTable', domid: PV, mfn: table });
    expect(pageTypeOf(state, table)).toEqual({ type: 'l1', count: 0, validated: false, pinned: false });
    expect(pageTypeOf(state, data)).toMatchObject({ type: 'writable', count: 0 });
    expect(state.memory.frames[table]!.refcount).toBe(1);
    expect(state.memory.frames[data]!.refcount).toBe(1);
    // Not in the IOMMU until it is writable again: a plain write through mmu_update makes it so.
    expect(state.domains[PV]!.iommu!.table[table]).toBeUndefined();
    okPv(state, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: null, rw: false });
    expect(state.domains[PV]!.iommu!.table[table]).toEqual({ mfn: table, read: true, write: true });
  });
});

describe('the PV MMU command schema', () => {
  it('accepts what the generators make and refuses a slot beyond 511 or a 17-bit domid', () => {
    const valid = commandValidator(pvMmuCommandSchema);
    fc.assert(
      fc.property(
        pvMmuCommandArbitrary({ domids: [PV, DOM0, NO_DOMAIN], frameCount: 10, hotMfns: [2, 3] }),
        (command) => {
          expect(valid(command)).toBeNull();
        },
      ),
      { seed: 19, numRuns: 200 },
    );
    expect(valid({ kind: 'pvMmuUpdate', domid: PV, tableMfn: 2, slot: 512, mfn: null, rw: false })).not.toBeNull();
    expect(valid({ kind: 'pvPinL1Table', domid: 0x10000, mfn: 2 })).not.toBeNull();
  });
});
