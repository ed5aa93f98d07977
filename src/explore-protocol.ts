/**
 * What the threads of a parallel exploration (`explore-parallel.ts`) say to each other, and the
 * order they agree on.
 *
 * The order: the sequential search steps the states of a level in record order and each state's
 * distinct commands in template order, and within one transition does its work in a fixed order
 * (step, the per-transition invariants in the design's order, the key, the state-only invariants,
 * the state limit, the record). `eventKey` numbers every such moment so that comparing two numbers
 * says which the sequential search would have reached first: the parallel search finds the
 * same first violations, crash and cut-off point as the sequential one by taking minima of them.
 */
import type { MessagePort } from 'node:worker_threads';
import type { Crash, CrashSite } from './execute.js';

/** Where a parallel exploration's workers find the design: they cannot be handed the object. */
export type DesignSource =
  /** The built-in registry, and the config file's designs when one is named (by the design's id). */
  | { readonly config: string | null }
  /** A module's export: a design, or a function of no arguments returning one (e.g. `anchorDesign`). */
  | { readonly module: string; readonly export: string };

/** The moments within one transition, in the sequential search's order. */
export const PHASE_RESOLVE = 0;
export const PHASE_STEP = 1;
export const PHASE_INVARIANT = 2;
export const PHASE_KEY = 3;
export const PHASE_STATE = 4;
export const PHASE_LIMIT = 5;
export const PHASE_RECORDED = 6;

const POSITIONS = 65_536;
const INDEXES = 128;

/**
 * The moment (`phase`, invariant `index` or -1) of the transition by the `position`-th distinct
 * command from record `parent`, as one number below 2⁵³ (records below 2²⁶).
 */
export function eventKey(parent: number, position: number, phase: number, index = -1): number {
  if (position >= POSITIONS) throw new Error(`explore: more than ${POSITIONS} distinct commands from one state`);
  if (index + 1 >= INDEXES) throw new Error(`explore: more than ${INDEXES - 2} invariants`);
  return ((parent * POSITIONS + position) * 8 + phase) * INDEXES + index + 1;
}

export function keyParent(key: number): number {
  return Math.floor(key / (POSITIONS * 8 * INDEXES));
}

export function keyPosition(key: number): number {
  return Math.floor(key / (8 * INDEXES)) % POSITIONS;
}

export function keyPhase(key: number): number {
  return Math.floor(key / INDEXES) % 8;
}

/** A transition's identity (parent record, command position) as one number, for sorting. */
export function transitionId(parent: number, position: number): number {
  return parent * POSITIONS + position;
}

export function idParent(id: number): number {
  return Math.floor(id / POSITIONS);
}

export function idPosition(id: number): number {
  return id % POSITIONS;
}

/** What a worker found at a moment of the search. */
export type SearchEvent =
  | { readonly kind: 'violation'; readonly key: number; readonly invariant: string; readonly command: unknown }
  | {
      readonly kind: 'crash';
      readonly key: number;
      readonly crash: Crash;
      /** The search's own site: `scope` when the scope's code (templates, key) threw. */
      readonly site: CrashSite | 'scope';
      readonly command: unknown;
      readonly hasCommand: boolean;
      /**
       * The sequential search would have run the code that threw only while one of these
       * invariants was still unbroken (null: whatever was broken).
       */
      readonly needsAnyOf: readonly string[] | null;
    };

/** Coordinator to worker. */
export type ToWorker =
  | { readonly kind: 'peer'; readonly index: number; readonly port: MessagePort }
  | {
      readonly kind: 'begin';
      readonly source: DesignSource;
      readonly design: string;
      readonly invariants: readonly string[] | null;
      readonly everyTransition: boolean;
      readonly workers: number;
      /** The initial state: every worker rebuilds its states from it; `owned` by the one that keys it. */
      readonly initial: { readonly state: unknown; readonly owned: boolean };
    }
  | {
      readonly kind: 'expand';
      /** The records of this worker's new states of the last level, in its order of them (null: none). */
      readonly adopt: Float64Array | null;
      /**
       * Every new state of the last level, in record order (null at the first level): its parent
       * record and the command from it. Each worker keeps the whole tree of records, to rebuild its
       * own states by replaying their commands from the initial state rather than receive them.
       */
      readonly appended: { readonly parents: Float64Array; readonly commands: readonly unknown[] } | null;
      readonly pending: readonly string[];
    }
  | { readonly kind: 'merge' }
  | {
      readonly kind: 'materialize';
      /** (parent, position, record, owner) of each new state this worker reached first, in record order. */
      readonly requests: Float64Array;
      readonly pending: readonly string[];
    }
  /**
   * The flat search's rounds (`explore-flat-parallel.ts`): each worker makes the scope's flat
   * encoder itself and owns the vectors whose hash falls in its part (`flatOwner`).
   */
  | {
      readonly kind: 'flat-begin';
      readonly source: DesignSource;
      readonly design: string;
      readonly invariants: readonly string[] | null;
      readonly workers: number;
    }
  | {
      readonly kind: 'flat-expand';
      /** The records of this worker's winners of the last merge, in its order of them (null: the first level). */
      readonly adopt: Int32Array | null;
      /** The per-transition invariants still unbroken, over the encoder's bits. */
      readonly transitionMask: number;
    }
  | {
      readonly kind: 'flat-merge';
      /** The state-only invariants still unbroken, over the encoder's bits. */
      readonly stateMask: number;
    };

/** Worker to coordinator. */
export type FromWorker =
  | { readonly kind: 'ready' }
  | { readonly kind: 'failed'; readonly message: string }
  | {
      readonly kind: 'expanded';
      /** (record, transitions) of each state expanded, in record order. */
      readonly counts: Float64Array;
      readonly events: readonly SearchEvent[];
    }
  /** The first transition into each new state this worker owns, as sorted `transitionId`s. */
  | { readonly kind: 'winners'; readonly ids: Float64Array }
  | { readonly kind: 'materialized'; readonly commands: readonly unknown[]; readonly events: readonly SearchEvent[] }
  /**
   * The flat search's replies. Their violations' `command` is the template position (the
   * coordinator makes the concrete command from the parent's vector); their crashes are the
   * encoder's (site `scope`, no command).
   */
  | {
      readonly kind: 'flat-expanded';
      /** (record, transitions) of each state expanded, in record order. */
      readonly counts: Int32Array;
      readonly events: readonly SearchEvent[];
    }
  | {
      readonly kind: 'flat-winners';
      /** The first transition into each new vector this worker owns, as sorted `transitionId`s, and its template position. */
      readonly ids: Float64Array;
      readonly positions: Int32Array;
      readonly events: readonly SearchEvent[];
    };

/**
 * The worker that owns a flat vector of hash `hash` (`hashVector`): the hash mixed again, since
 * the owner's table places the vector by the hash's low bits.
 */
export function flatOwner(hash: number, workers: number): number {
  return ownerOf(Math.imul(hash ^ (hash >>> 16), 0x45d9f3b) >>> 16, workers);
}

/** The worker that owns a fingerprint (by its last word: the table's slots go by the first). */
export function ownerOf(last: number, workers: number): number {
  return last % workers;
}
