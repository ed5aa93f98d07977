import { describe, expect, test } from 'vitest';
import { minimize } from '../../src/minimize.js';

interface Op {
  readonly kind: string;
  readonly value: number;
  readonly flag: boolean;
}

const op = (kind: string, value: number, flag = false): Op => ({ kind, value, flag });

describe('minimize', () => {
  test('removes every step the failure does not need', () => {
    const trace = [op('a', 1), op('noise', 3), op('b', 2), op('noise', 4), op('c', 5)];
    const fails = (ops: Op[]): boolean => ['a', 'b', 'c'].every((kind) => ops.some((o) => o.kind === kind));
    expect(minimize(trace, fails).commands.map((o) => o.kind)).toEqual(['a', 'b', 'c']);
  });

  test('lowers each field to the smallest failing value, true to false', () => {
    const fails = (ops: Op[]): boolean => ops.some((o) => o.kind === 'x' && o.value >= 3);
    expect(minimize([op('x', 9, true)], fails).commands).toEqual([op('x', 3, false)]);
  });

  test('lowers a value shared by fields of one name jointly', () => {
    // The failure needs both steps to name the same value, and that value to be at least 2.
    const fails = (ops: Op[]): boolean => ops.length === 2 && ops[0]!.value === ops[1]!.value && ops[0]!.value >= 2;
    const result = minimize([op('write', 5), op('free', 5)], fails).commands;
    expect(result.map((o) => o.value)).toEqual([2, 2]);
  });

  test('removes two steps together with a field lowered, when no single move fails', () => {
    // Like iommu/lazy's 8-step trace: two steps that only reorder the free list (x, y) compensate
    // for a range one page too long (a.value 2); the 6-step trace drops both and shortens the range.
    const has = (ops: Op[], kind: string): boolean => ops.some((o) => o.kind === kind);
    const range = (ops: Op[]): number | undefined => ops.find((o) => o.kind === 'a')?.value;
    const fails = (ops: Op[]): boolean =>
      (has(ops, 'x') && has(ops, 'y') && range(ops) === 2) || (!has(ops, 'x') && !has(ops, 'y') && range(ops) === 1);
    const trace = [op('a', 2), op('x', 0), op('b', 0), op('y', 0)];
    expect(minimize(trace, fails).commands).toEqual([op('a', 1)]);
  });

  test('removes a step while renaming a value that stays to a fresh one', () => {
    // Like xen/lookup's shadow-matches-guest-entry: a gfn ballooned out and populated again needs
    // a step that reorders the free list ('x'); a gfn never populated (4 and up) needs none.
    const named = (ops: Op[], kind: string): number | undefined => ops.find((o) => o.kind === kind)?.value;
    const fails = (ops: Op[]): boolean => {
      const value = named(ops, 'a');
      if (value === undefined || value !== named(ops, 'b')) return false;
      return ops.some((o) => o.kind === 'x') ? value === 1 : value >= 4;
    };
    expect(minimize([op('x', 0), op('a', 1), op('b', 1)], fails).commands).toEqual([op('a', 4), op('b', 4)]);
  });

  test('removes steps while replacing a value at every field it appears in by any small one', () => {
    // Like xenpt/pv-l1-accepts-writable-page-table: dom0 pins a frame as an L1 table and maps it
    // writable through itself (the frame named by `mfn` and `tableMfn`). A populate ('give') made
    // frame 8 dom0's; frames 10 and 11 are dom0's from the start, and need no step.
    interface Frames {
      readonly kind: string;
      readonly mfn: number;
      readonly tableMfn?: number;
    }
    const own = (ops: Frames[], mfn: number): boolean =>
      mfn === 10 || mfn === 11 || ops.some((o) => o.kind === 'give' && o.mfn === mfn);
    const fails = (ops: Frames[]): boolean =>
      ops.some(
        (pin) =>
          pin.kind === 'pin' &&
          own(ops, pin.mfn) &&
          ops.some((o) => o.kind === 'write' && o.tableMfn === pin.mfn && o.mfn === pin.mfn),
      );
    const trace: Frames[] = [
      { kind: 'move', mfn: 9 },
      { kind: 'give', mfn: 8 },
      { kind: 'pin', mfn: 8 },
      { kind: 'write', tableMfn: 8, mfn: 8 },
    ];
    expect(minimize(trace, fails).commands).toEqual([
      { kind: 'pin', mfn: 10 },
      { kind: 'write', tableMfn: 10, mfn: 10 },
    ]);
  });

  test('removes a step while swapping two values that stay', () => {
    // Like xenpt/put-before-flush: a first move put the frame at gfn 3 and the trace works from
    // there; the same bug without that move uses gfn 0 where the trace used 3, and 3 where it used 0.
    interface Gfns {
      readonly kind: string;
      readonly gfn: number;
      readonly to?: number;
    }
    const frameAt = (ops: Gfns[]): number => (ops[0]?.kind === 'move' && ops[0].gfn === 0 ? (ops[0].to ?? 0) : 0);
    const fails = (ops: Gfns[]): boolean => {
      const rest = ops[0]?.kind === 'move' && ops.length === 4 ? ops.slice(1) : ops;
      const at = frameAt(ops);
      return (
        rest.length === 3 &&
        rest[0]?.kind === 'dma' &&
        rest[0].gfn === at &&
        rest[1]?.kind === 'move' &&
        rest[1].gfn === at &&
        rest[1].to !== at &&
        rest[2]?.kind === 'dma' &&
        rest[2].gfn === at
      );
    };
    const trace: Gfns[] = [
      { kind: 'move', gfn: 0, to: 3 },
      { kind: 'dma', gfn: 3 },
      { kind: 'move', gfn: 3, to: 0 },
      { kind: 'dma', gfn: 3 },
    ];
    expect(fails(trace)).toBe(true);
    expect(minimize(trace, fails).commands).toEqual([
      { kind: 'dma', gfn: 0 },
      // Then lowered: any gfn but 0 will do.
      { kind: 'move', gfn: 0, to: 1 },
      { kind: 'dma', gfn: 0 },
    ]);
  });

  test('keeps a trace that is already minimal', () => {
    const trace = [op('only', 0)];
    expect(minimize(trace, (ops) => ops.length === 1 && ops[0]!.kind === 'only').commands).toEqual(trace);
  });

  test('gives the same result for the same input', () => {
    const trace = Array.from({ length: 30 }, (_, index) => op(index % 3 === 0 ? 'k' : 'n', index));
    const fails = (ops: Op[]): boolean => ops.filter((o) => o.kind === 'k').length >= 2;
    expect(minimize(trace, fails)).toEqual(minimize(trace, fails));
  });

  test('interleavings: a start lowered loses its flag; a start and its advance collapse to the atomic command there', () => {
    type Step = { readonly kind: string; readonly at?: number; readonly phased?: boolean; readonly op?: number };
    // An access that lands where its last phase runs: after the free, it is a use after free.
    const fails = (steps: Step[]): boolean => {
      let freed = false;
      let pending = false;
      for (const step of steps) {
        if (step.kind === 'free') freed = true;
        else if (step.kind === 'dma' && step.phased === true) pending = true;
        else if (step.kind === 'dma' && freed) return true;
        else if (step.kind === 'advance' && pending && freed) return true;
      }
      return false;
    };
    const trace: Step[] = [{ kind: 'dma', at: 0, phased: true }, { kind: 'free' }, { kind: 'advance', op: 0 }];
    expect(minimize(trace, fails).commands).toEqual([{ kind: 'free' }, { kind: 'dma', at: 0 }]);
    // A start that needs no window is written as the atomic command, without `phased: false`.
    const early = (steps: Step[]): boolean => steps.some((step) => step.kind === 'dma');
    expect(minimize([{ kind: 'dma', at: 0, phased: true }], early).commands).toEqual([{ kind: 'dma', at: 0 }]);
  });
});
