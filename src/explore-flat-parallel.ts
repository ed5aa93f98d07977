/**
 * The flat search (`explore-flat.ts`) on worker threads (`ExploreOptions.workers` ≥ 2, issue 23):
 * the parallel search's scheme (`explore-parallel.ts`: level-synchronous, states partitioned by
 * owner, every event placed in the sequential order by `eventKey`) on the scope's flat vectors.
 * Each worker makes the encoder itself and keeps the vectors it owns whole
 * (`explore-flat-partition.ts`), so a level takes two rounds, not three, and no replay:
 *
 * 1. expand: each worker steps the vectors of the level it owns, checks the per-transition
 *    invariants, and sends each changed successor (the vector and its transition) to its owner;
 * 2. merge: each owner keeps the least transition into each vector it had not recorded, checks
 *    the state-only invariants on those, and hands back their transitions, sorted. Here they are
 *    merged into the sequential record order; the next expand tells each owner its records.
 *
 * The first violation of each invariant, the crash, the state limit and the early stop once every
 * invariant is broken are placed as the object workers' are (`settleLevel`), so the result is the
 * one-thread flat search's, hence the object search's. Only parent records and command positions
 * are kept here: a counterexample's commands (and a violation's last command) come from vectors
 * rebuilt by stepping the encoder from the initial vector along the path, a few steps each.
 *
 * The encoder is held to the design as in the one-thread search (`FlatRun.end`): the audit runs
 * here on a prefix of the search done again on one thread (the first `AUDIT_RECORDS` records and
 * those their transitions reach: some hundred steps), which must give the workers' records, and
 * each counterexample is replayed through the design. An encoding that disagrees near the root is
 * reported `crashed`, never `holds`.
 */
import type { Command, Design, ExploreScope } from './design.js';
import type { ExploreOptions, ExploreResult } from './explore.js';
import { AUDIT_RECORDS } from './explore-flat-audit.js';
import { bitsOf, FlatDisagreement, FlatRun } from './explore-flat.js';
import { ensureWorkers, mergeOwnerLists, round, settleLevel, stopPoll } from './explore-parallel.js';
import { idParent, keyParent } from './explore-protocol.js';
import type { DesignSource, FromWorker, SearchEvent } from './explore-protocol.js';
import { FLAT_CHANGED } from './flat-scope.js';
import type { FlatScope } from './flat-scope.js';
import { FlatStateTable } from './flat-table.js';

/** Every record's parent record and command position, growing. */
class Records {
  parents = new Int32Array(1 << 12);
  positions = new Uint16Array(1 << 12);
  size = 1;

  constructor() {
    this.parents[0] = -1;
  }

  push(parent: number, position: number): void {
    if (this.size === this.parents.length) {
      const parents = new Int32Array(this.size * 2);
      parents.set(this.parents);
      this.parents = parents;
      const positions = new Uint16Array(this.size * 2);
      positions.set(this.positions);
      this.positions = positions;
    }
    this.parents[this.size] = parent;
    this.positions[this.size] = position;
    this.size += 1;
  }
}

export function exploreFlatParallel<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  scope: ExploreScope<S, T>,
  options: ExploreOptions,
  maxStates: number,
  started: number,
  source: DesignSource,
): ExploreResult<C> | null {
  const run = new FlatRun(typed, scope, options, maxStates, started);
  const begun = run.begin();
  if (begun !== 'ready') return begun;
  const { flat, found, invariants } = run;
  const records = new Records();
  const walk = walker(flat, run.initial, records);
  const pathTo = (record: number): unknown[] => walk(record).commands;
  const commandOf = (event: SearchEvent & { kind: 'violation' }): unknown =>
    flat.command(walk(keyParent(event.key)).vector, 0, event.command as number);

  const count = options.workers ?? 1;
  const workers = ensureWorkers(count);
  const { poll, stopNow } = stopPoll(options);
  round(
    workers,
    workers.map(() => ({
      kind: 'flat-begin',
      source,
      design: run.design.id,
      invariants: options.invariants === undefined ? null : [...options.invariants],
      workers: count,
    })),
    poll,
  );

  let limitAt: number | null = null;
  let exhausted = false;
  let interrupted = false;
  let depthReached = 0;
  let transitions = 0;
  // Records expanded in full (the audit checks the first of them), and the last one expanded.
  let expandedRecords = 0;
  let atRecord = 0;
  let levelStart = 0;
  let adopt: Int32Array[] | null = null;
  for (let level = 1; level <= options.depth && !run.allFound(); level++) {
    if (stopNow()) {
      interrupted = true;
      break;
    }
    const open = ({ name }: { name: string }): boolean => !found.has(name);
    const expanded = round(
      workers,
      workers.map((_, index) => ({
        kind: 'flat-expand',
        adopt: adopt?.[index] ?? null,
        transitionMask: bitsOf(run.perTransition.filter(open)),
      })),
      poll,
    );
    // Stopped while the workers expanded: the level may be cut short, so it is dropped whole.
    if (stopNow()) {
      interrupted = true;
      break;
    }
    const merged = round(
      workers,
      workers.map(() => ({ kind: 'flat-merge', stateMask: bitsOf(run.stateOnly.filter(open)) })),
      poll,
    );
    const winners = mergeWinners(merged);
    const events: SearchEvent[] = [];
    const counts: Int32Array[] = [];
    for (const reply of [...expanded, ...merged]) {
      if (reply.kind === 'flat-expanded') counts.push(reply.counts);
      if (reply.kind === 'flat-expanded' || reply.kind === 'flat-winners') events.push(...reply.events);
    }
    const levelEnd = records.size;
    const settled = settleLevel(events, counts, {
      invariants,
      found,
      winnerIds: winners.ids,
      room: maxStates - records.size,
      commandOf,
    });
    const { cut, crash, kept } = settled;
    transitions += settled.transitions;
    for (let rank = 0; rank < kept; rank++) {
      records.push(idParent(winners.ids[rank] ?? 0), winners.positions[rank] ?? 0);
    }
    if (crash !== null) {
      run.scopeThrew = { message: `the explore scope threw: ${crash.crash.message}` };
      run.thrown = { record: keyParent(crash.key), command: null, hasCommand: false, crash: crash.crash };
    }
    if (settled.limited) limitAt = level;
    if (cut !== Infinity) {
      expandedRecords = keyParent(cut);
      atRecord = keyParent(cut);
      break;
    }
    expandedRecords = levelEnd;
    atRecord = levelEnd - 1;
    options.onProgress?.({
      level,
      depth: options.depth,
      expanded: levelEnd - levelStart,
      frontier: levelEnd - levelStart,
      states: records.size,
      transitions,
    });
    depthReached = level;
    if (kept === 0) {
      depthReached = options.depth;
      exhausted = true;
      break;
    }
    levelStart = levelEnd;
    // Each owner's records, in its order of its winners (the merge kept each owner's order).
    const owned: number[][] = workers.map(() => []);
    winners.owners.forEach((owner, rank) => owned[owner]?.push(levelEnd + rank));
    adopt = owned.map((list) => Int32Array.from(list));
  }

  // The audit's records, the search's first ones found again on one thread.
  let prefix = new FlatStateTable(flat.width, flat.wordBits);
  try {
    prefix = searchPrefix(flat, run.initial, records, expandedRecords);
  } catch (error) {
    if (run.scopeThrew === null) run.scopeThrow(error, atRecord);
  }
  return run.end(prefix, expandedRecords, atRecord, pathTo, {
    limitAt,
    exhausted,
    interrupted,
    depthReached,
    states: records.size,
    transitions,
  });
}

/** The owners' sorted lists of new vectors merged into the sequential record order, with each one's command position. */
function mergeWinners(merged: readonly FromWorker[]): { ids: number[]; positions: number[]; owners: number[] } {
  const lists = merged.map((reply) =>
    reply.kind === 'flat-winners' ? reply : { ids: new Float64Array(0), positions: new Int32Array(0) },
  );
  const { ids, owners, ranks } = mergeOwnerLists(lists.map((list) => list.ids));
  const positions = ranks.map((rank, at) => lists[owners[at] ?? 0]?.positions[rank] ?? 0);
  return { ids, positions, owners };
}

/**
 * A record's vector and the commands to it, by stepping the encoder from the initial vector along
 * its parent records (each a changed state: a record is a new vector).
 */
function walker(
  flat: FlatScope<unknown>,
  initial: Int32Array,
  records: Records,
): (record: number) => { vector: Int32Array; commands: unknown[] } {
  return (record) => {
    const chain: number[] = [];
    for (let at = record; at > 0; at = records.parents[at] ?? 0) chain.push(at);
    chain.reverse();
    let vector = initial.slice();
    let next = new Int32Array(vector.length);
    const commands: unknown[] = [];
    for (const at of chain) {
      const position = records.positions[at] ?? 0;
      commands.push(flat.command(vector, 0, position));
      if (flat.step(vector, 0, position, next) !== FLAT_CHANGED) {
        throw new FlatDisagreement(
          `the flat encoding does not step again to record ${at} from its parent (a step that is not deterministic)`,
        );
      }
      [vector, next] = [next, vector];
    }
    return { vector, commands };
  };
}

/**
 * The sequential flat search's first records, found again on one thread: the first
 * `min(AUDIT_RECORDS, expanded)` records expanded in full and the records up to `AUDIT_RECORDS`
 * (no step the workers did not take). Throws when they are not the workers' records.
 */
function searchPrefix(
  flat: FlatScope<unknown>,
  initial: Int32Array,
  records: Records,
  expanded: number,
): FlatStateTable {
  const { width, commands } = flat;
  const table = new FlatStateTable(width, flat.wordBits);
  const vector = new Int32Array(Math.max(width, 1));
  table.find(initial);
  table.add(-1, 0);
  const full = Math.min(AUDIT_RECORDS, expanded);
  const wanted = Math.min(AUDIT_RECORDS, records.size);
  const out = new Int32Array(Math.max(width, 1));
  const done = (record: number): boolean => record >= full && table.size >= wanted;
  search: for (let record = 0; record < table.size && !done(record); record++) {
    table.vector(record, vector);
    for (let position = 0; position < commands; position++) {
      if (flat.step(vector, 0, position, out) !== FLAT_CHANGED || table.find(out) >= 0) continue;
      if (table.size >= records.size) break search;
      const added = table.add(record, position);
      if (records.parents[added] !== record || records.positions[added] !== position) {
        throw new FlatDisagreement(
          `the flat encoding gives record ${added} otherwise on one thread than on the workers (a step that is not deterministic)`,
        );
      }
      if (done(record)) break search;
    }
  }
  return table;
}
