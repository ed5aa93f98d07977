/**
 * Bounds, for any stack: every counter the model keeps stays within the range its meaning allows
 * (available entries between zero and the limit, reference counts of a live record at least one,
 * charges never negative). A counter out of range is an unwind or a teardown that forgot, or did
 * twice, a step — often visible here before any frame is misused.
 */
import type { Invariant } from '../../src/design.js';

/** One counter of a state, in the real system's words, with the range it must stay in. */
export interface Counter {
  /** What it counts, e.g. `dma_avail`, `vfio_pfn ref_count of iova page 3`. */
  readonly name: string;
  readonly value: number;
  readonly min: number;
  readonly max: number;
}

/**
 * `counters(state)` lists every counter to bound; the first one out of range is reported. `reads`
 * names the parts of the state the counters come from (`Invariant.reads`), for a stack whose steps
 * share what they leave unchanged; the whole state otherwise.
 */
export function countersInRange<S, C>(
  counters: (state: S) => readonly Counter[],
  reads: (state: S) => readonly unknown[] = (state) => [state],
): Invariant<S, C> {
  return {
    name: 'counters-in-range',
    class: 'accounting',
    description: 'every counter stays within its range: no count below zero, no available count above its limit',
    reads,
    check({ after }) {
      const out = counters(after).find((counter) => counter.value < counter.min || counter.value > counter.max);
      if (out === undefined) return null;
      const range = out.max === Number.POSITIVE_INFINITY ? `at least ${out.min}` : `from ${out.min} to ${out.max}`;
      return { message: `${out.name} is ${out.value}, outside its range`, actual: `${out.value}`, expected: range };
    },
  };
}
