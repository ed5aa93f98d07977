/**
 * A scope's states as flat vectors of 32-bit integers, stepped and judged without building a
 * state object (issue 23: the profile of the Promela anchor put a third of the search in the
 * models' copy-on-write steps, a sixth in keys and a fifth in the invariants; Spin steps a
 * vector of bytes in place). A stack gives one for the designs whose mechanism it can encode
 * (`ExploreScope.flat`); the explorer then searches the same graph on the vectors
 * (`explore-flat.ts`), and the object model stays the reference: every counterexample is
 * replayed through it (`describeCounterexample`), and the stack's tests hold the two to the same
 * states, transitions and verdicts, transition by transition.
 *
 * The contract, for the state graph the object search would explore:
 * - two reachable states have equal vectors exactly when the scope's key says they are equal;
 * - `step` from a state's vector gives the vector of the state the design's step gives, for the
 *   same concrete command the design's `resolve` gives for the template at that position;
 * - `checkTransition` and `checkState` report exactly the invariants (of `invariants`) the
 *   design's own invariants would find broken on that transition and in that state.
 */

/** `step`: the template resolves to a command already tried from this state (no transition). */
export const FLAT_DUPLICATE = -1;
/** `step`: the state is unchanged (a refusal, or a command that only reads). */
export const FLAT_SAME = 0;
/** `step`: the next state is in `out`. */
export const FLAT_CHANGED = 1;

export type FlatStatus = typeof FLAT_DUPLICATE | typeof FLAT_SAME | typeof FLAT_CHANGED;

/** `T`: the design's command template type; the concrete commands `command` gives extend it. */
export interface FlatScope<T = unknown> {
  /** Integers per state. */
  readonly width: number;
  /**
   * 16 when every word of every vector this encoder writes fits a signed 16-bit integer: the
   * explorer stores the vectors two words to an integer (`FlatStateTable`), and refuses a word
   * that does not fit (the search crashes, never merges two states). Default 32.
   */
  readonly wordBits?: 16 | 32;
  /** Command positions tried from every state, in the scope's template order. */
  readonly commands: number;
  /**
   * The invariants this encoding decides, by bit: bit i of a mask is `invariants[i]` (at most
   * 31). The explorer takes the flat path only when every invariant it is asked to check is here.
   */
  readonly invariants: readonly string[];
  /** Writes the design's initial state's vector into `out` at 0. */
  init(out: Int32Array): void;
  /**
   * Steps the state at `states[from .. from + width)` with the command at `position`, writing the
   * next state into `out` at 0 when it changed. Never throws for a command the design refuses:
   * a refusal is `FLAT_SAME`, as the design's step hands back its state.
   */
  step(states: Int32Array, from: number, position: number, out: Int32Array): FlatStatus;
  /**
   * The invariants (mask over `invariants`) that read the transition (effect, atomicity,
   * liveness) broken by the last `step`'s transition, given what it returned: `after` is `out`
   * for `FLAT_CHANGED`, the state itself for `FLAT_SAME`. Called right after that `step`.
   */
  checkTransition(states: Int32Array, from: number, position: number, out: Int32Array, status: FlatStatus): number;
  /** The state-only invariants (mask over `invariants`) the state at `states[at ..]` breaks. */
  checkState(states: Int32Array, at: number): number;
  /** The concrete command of `position` at the state at `states[from ..]`, as the design's `resolve` gives it. */
  command(states: Int32Array, from: number, position: number): T;
}
