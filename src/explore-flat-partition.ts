/**
 * A worker's part of a parallel flat search (`explore-flat-parallel.ts`): the vectors whose hash
 * it owns (`flatOwner`), kept whole in its own table (`flat-table.ts`), so that it steps its part
 * of a level from there, with no replay and no state object.
 *
 * - expand: steps each vector of the level it owns (in record order) with every command position,
 *   checks the per-transition invariants still open, and sends each changed successor with its
 *   transition (parent record, index among the parent's distinct commands, template position) to
 *   its owner, in a batch of shared memory per owner (`Batch`); its own it takes at once;
 * - merge: takes the other workers' batches and keeps, for each vector it has not recorded, the
 *   least transition into it (the sequential search's first arrival, which makes it a record
 *   there); checks the state-only invariants still open on those new vectors, in that order, and
 *   hands back their transitions sorted: the coordinator merges every owner's list into the
 *   sequential record order and sends each owner its records with the next expand.
 * The new vectors are stored in the table as they arrive (a candidate found again is one lookup,
 * in the same table); a level cut short (a crash, the state limit, every invariant broken) ends
 * the search, so a candidate never recorded does no harm.
 */
import type { AnyDesign } from './design.js';
import { crashOf, selectInvariants } from './execute.js';
import {
  eventKey,
  flatOwner,
  PHASE_INVARIANT,
  PHASE_KEY,
  PHASE_STATE,
  PHASE_STEP,
  transitionId,
} from './explore-protocol.js';
import type { FromWorker, SearchEvent } from './explore-protocol.js';
import { take } from './explore-sync.js';
import type { StopFlag } from './explore-sync.js';
import { FLAT_CHANGED, FLAT_DUPLICATE, FLAT_SAME } from './flat-scope.js';
import type { FlatScope } from './flat-scope.js';
import { FlatStateTable } from './flat-table.js';
import type { MessagePort } from 'node:worker_threads';

/**
 * Integers before the vector in a batch entry: parent record, distinct index, template position,
 * the vector's hash; the vector follows as the table stores it (`FlatStateTable.prepared`).
 */
const HEADER = 4;

/**
 * A growable batch of Int32 words to one peer, in shared memory: the peer reads it in the merge
 * round, and this worker writes it again only in the next expand round, after the coordinator has
 * heard the merge done (the rounds order the two threads' accesses). One buffer for the whole
 * search, grown when a level needs more: no buffer per level to allocate, fault in and collect.
 */
class Batch {
  words = new Int32Array(new SharedArrayBuffer(4 << 12));
  length = 0;

  reserve(count: number): void {
    if (this.length + count <= this.words.length) return;
    const size = Math.max(this.words.length * 2, this.length + count);
    const grown = new Int32Array(new SharedArrayBuffer(size * 4));
    grown.set(this.words.subarray(0, this.length));
    this.words = grown;
  }

  /** The words written at this level (the peer's to read), and an empty batch for the next. */
  take(): { words: Int32Array; length: number } {
    const { words, length } = this;
    this.length = 0;
    return { words, length };
  }
}

/** An invariant in the encoder's masks: its bit, name and index among the selected (`eventKey`). */
interface BitInvariant {
  readonly bit: number;
  readonly name: string;
  readonly index: number;
}

export class FlatPartition {
  private readonly flat: FlatScope<unknown>;
  private readonly self: number;
  private readonly workers: number;
  private readonly peers: readonly (MessagePort | undefined)[];
  private readonly stop: StopFlag;
  /** The owned vectors; the table's parents are parent records (global), its positions template positions. */
  private readonly table: FlatStateTable;
  /** Per table entry: its record (global), and the distinct index of its first transition. */
  private records: number[] = [];
  private distincts: number[] = [];
  /** The table entries of this level's vectors, in record order, and the first entry of the level's new ones. */
  private frontier: number[] = [];
  private levelStart = 0;
  /** The new entries of the last merge, in the order of their first transitions. */
  private winners: number[] = [];
  private readonly outgoing: Batch[];
  private readonly invariants: readonly BitInvariant[];
  private readonly out: Int32Array;
  /** The vector of the entry being expanded or checked, unpacked. */
  private readonly held: Int32Array;
  /** The expand round's open per-transition invariants, and the transition it is at (for a crash's place). */
  private mask = 0;
  private record = 0;
  private distinct = 0;
  /** The throw came after the transition was counted (a status the search does not know). */
  private counted = false;

  constructor(
    design: AnyDesign,
    invariants: readonly string[] | null,
    self: number,
    workers: number,
    peers: readonly (MessagePort | undefined)[],
    stop: StopFlag,
  ) {
    this.stop = stop;
    const made = design.explore?.flat?.();
    if (made === undefined) throw new Error(`explore worker: design ${design.id} has no flat encoding`);
    this.flat = made;
    this.self = self;
    this.workers = workers;
    this.peers = peers;
    this.table = new FlatStateTable(made.width, made.wordBits);
    this.out = new Int32Array(Math.max(made.width, 1));
    this.held = new Int32Array(Math.max(made.width, 1));
    this.outgoing = Array.from({ length: workers }, () => new Batch());
    this.invariants = selectInvariants(design, invariants ?? undefined).map((invariant, index) => ({
      bit: 1 << made.invariants.indexOf(invariant.name),
      name: invariant.name,
      index,
    }));
    // The initial vector, with the worker that owns it (the coordinator checked it).
    made.init(this.out);
    const hash = this.table.prepare(this.out);
    if (flatOwner(hash, workers) === self) {
      this.table.findPrepared(hash);
      this.table.add(-1, 0);
      this.records.push(0);
      this.distincts.push(0);
      this.frontier = [0];
    }
    this.levelStart = this.table.size;
  }

  /** A throw of the encoder at `key` (`needsAnyOf`: as `SearchEvent` says). */
  private crash(error: unknown, key: number, needsAnyOf: readonly string[] | null): SearchEvent {
    return {
      kind: 'crash',
      key,
      crash: crashOf(error, 0, 'step', null),
      site: 'scope',
      command: null,
      hasCommand: false,
      needsAnyOf,
    };
  }

  private names(mask: number): string[] {
    return this.invariants.filter(({ bit }) => (mask & bit) !== 0).map(({ name }) => name);
  }

  /**
   * The table's prepared vector (hash `hash`: `FlatStateTable.prepare`), reached by (parent,
   * distinct, position): a new candidate, or a better first arrival.
   */
  private consider(hash: number, parent: number, distinct: number, position: number): void {
    const table = this.table;
    const known = table.findPrepared(hash);
    if (known < 0) {
      table.add(parent, position);
      this.records.push(-1);
      this.distincts.push(distinct);
      return;
    }
    if (known < this.levelStart) return;
    const before = table.parents[known] ?? 0;
    if (parent < before || (parent === before && distinct < (this.distincts[known] ?? 0))) {
      table.parents[known] = parent;
      table.positions[known] = position;
      this.distincts[known] = distinct;
    }
  }

  expand(adopt: Int32Array | null, transitionMask: number): FromWorker {
    if (adopt !== null) {
      this.frontier = [];
      for (let rank = 0; rank < adopt.length; rank++) {
        const entry = this.winners[rank];
        if (entry === undefined) throw new Error(`explore worker: record ${adopt[rank]} never came`);
        this.records[entry] = adopt[rank] ?? 0;
        this.frontier.push(entry);
      }
      this.winners = [];
    }
    this.levelStart = this.table.size;
    const events: SearchEvent[] = [];
    const counts = new Int32Array(this.frontier.length * 2);
    this.mask = transitionMask;
    this.record = 0;
    this.distinct = 0;
    this.counted = false;
    try {
      for (let at = 0; at < this.frontier.length; at++) {
        // A stop asked: the coordinator drops this level, whatever it holds.
        if ((at & 15) === 0 && this.stop.raised()) break;
        const entry = this.frontier[at] ?? 0;
        counts[at * 2] = this.records[entry] ?? 0;
        counts[at * 2 + 1] = this.expandRecord(entry, events);
      }
    } catch (error) {
      // The encoder's step threw: the sequential search stops here (or earlier).
      const phase = this.counted ? PHASE_KEY : PHASE_STEP;
      events.push(this.crash(error, eventKey(this.record, this.distinct, phase, -1), null));
    }
    for (let peer = 0; peer < this.workers; peer++) {
      if (peer === this.self) continue;
      // The shared buffer is not copied: the peer reads this worker's memory.
      this.peers[peer]?.postMessage(this.outgoing[peer]?.take() ?? { words: new Int32Array(0), length: 0 });
    }
    return { kind: 'flat-expanded', counts, events };
  }

  /**
   * Steps the vector at table entry `entry` with every command position (see `expand`); returns
   * its distinct commands. A method of its own, called once a state: optimized as such, it runs
   * the hashing loop at the one-thread search's speed (inlined into `expand`'s long loop, it took
   * some 2.5 times as long).
   */
  private expandRecord(entry: number, events: SearchEvent[]): number {
    const { flat, out, self, workers, table } = this;
    const stored = table.storedWords;
    const record = this.records[entry] ?? 0;
    // The vector, unpacked where the encoder reads it (`FlatStateTable.vector`).
    const states = table.vector(entry, this.held);
    let mask = this.mask;
    let distinct = 0;
    this.record = record;
    this.distinct = 0;
    for (let position = 0; position < flat.commands; position++) {
      const status = flat.step(states, 0, position, out);
      if (status === FLAT_DUPLICATE) continue;
      if (mask !== 0) {
        let broken = 0;
        try {
          broken = flat.checkTransition(states, 0, position, out, status) & mask;
        } catch (error) {
          // The sequential search stops here if one of the open invariants was unbroken
          // still; if not, it checks no transition after, nor does this worker.
          events.push(this.crash(error, eventKey(record, distinct, PHASE_INVARIANT, -1), this.names(mask)));
          mask = 0;
        }
        if (broken !== 0) {
          for (const { bit, name, index } of this.invariants) {
            if ((broken & bit) === 0) continue;
            const key = eventKey(record, distinct, PHASE_INVARIANT, index);
            events.push({ kind: 'violation', key, invariant: name, command: position });
          }
          // Later violations here come later in the sequential order too.
          mask &= ~broken;
        }
        this.mask = mask;
      }
      if (status !== FLAT_CHANGED && status !== FLAT_SAME) {
        // As the one-thread search: after the transition is counted and checked.
        this.counted = true;
        throw new Error(`flat step returned ${String(status)} at command position ${position}`);
      }
      if (status === FLAT_CHANGED) {
        const hash = table.prepare(out);
        const owner = flatOwner(hash, workers);
        if (owner === self) this.consider(hash, record, distinct, position);
        else {
          const batch = this.outgoing[owner] ?? new Batch();
          batch.reserve(HEADER + stored);
          const words = batch.words;
          let end = batch.length;
          words[end++] = record;
          words[end++] = distinct;
          words[end++] = position;
          words[end++] = hash;
          const prepared = table.prepared;
          for (let index = 0; index < stored; index++) words[end++] = prepared[index] ?? 0;
          batch.length = end;
        }
      }
      distinct += 1;
      this.distinct = distinct;
    }
    return distinct;
  }

  merge(stateMask: number): FromWorker {
    const stride = HEADER + this.table.storedWords;
    for (let peer = 0; peer < this.workers; peer++) {
      const port = peer === this.self ? undefined : this.peers[peer];
      if (port === undefined) continue;
      const { words, length } = take(port) as { words: Int32Array; length: number };
      for (let at = 0; at + stride <= length; at += stride) {
        this.table.prepareStored(words, at + HEADER);
        this.consider(words[at + 3] ?? 0, words[at] ?? 0, words[at + 1] ?? 0, words[at + 2] ?? 0);
      }
    }
    const { table, distincts } = this;
    const idOf = (entry: number): number => transitionId(table.parents[entry] ?? 0, distincts[entry] ?? 0);
    const winners: number[] = [];
    for (let entry = this.levelStart; entry < table.size; entry++) winners.push(entry);
    winners.sort((left, right) => idOf(left) - idOf(right));
    this.winners = winners;
    const ids = new Float64Array(winners.length);
    const positions = new Int32Array(winners.length);
    const events: SearchEvent[] = [];
    let mask = stateMask;
    for (let rank = 0; rank < winners.length; rank++) {
      const entry = winners[rank] ?? 0;
      const parent = table.parents[entry] ?? 0;
      const distinct = distincts[entry] ?? 0;
      ids[rank] = transitionId(parent, distinct);
      positions[rank] = table.positions[entry] ?? 0;
      if (mask === 0) continue;
      let broken: number;
      try {
        broken = this.flat.checkState(table.vector(entry, this.held), 0) & mask;
      } catch (error) {
        // Reached only while one of the open state-only invariants was unbroken; none is checked after.
        events.push(this.crash(error, eventKey(parent, distinct, PHASE_STATE, -1), this.names(mask)));
        mask = 0;
        continue;
      }
      if (broken === 0) continue;
      for (const { bit, name, index } of this.invariants) {
        if ((broken & bit) === 0) continue;
        events.push({
          kind: 'violation',
          key: eventKey(parent, distinct, PHASE_STATE, index),
          invariant: name,
          command: positions[rank],
        });
      }
      mask &= ~broken;
    }
    return { kind: 'flat-winners', ids, positions, events };
  }
}
