/**
 * The parallel breadth-first search (`ExploreOptions.workers` ≥ 2): level-synchronous, on worker
 * threads (`explore-worker.ts`), with the states partitioned by fingerprint (`ownerOf`). Each
 * level takes three rounds:
 *
 * 1. expand: each worker steps every state of the level it owns with each distinct concrete
 *    command (in the sequential order), checks the per-transition invariants, and sends each
 *    successor's fingerprint with its transition (parent record, command position) to the worker
 *    that owns it;
 * 2. merge: each owner keeps, for every fingerprint it has not visited, the least transition into
 *    it: the one the sequential search takes first, so the one that makes it a record there. The
 *    coordinator merges the owners' sorted lists and numbers the new states exactly as the
 *    sequential search does (its records);
 * 3. materialize: the worker holding each new state's parent steps it again, checks the state-only
 *    invariants on it (the sequential search checks them on that very transition), and hands the
 *    command back. Every worker learns each new state's parent record and command; the owner
 *    rebuilds its states for the next level by replaying their commands from the initial state,
 *    from the nearest ancestor of the last state it rebuilt (as the sequential search rebuilds its
 *    frontier): a step or a few cost less than copying a state between threads (a XenGT state's
 *    serialization and copy took some 150 µs, several steps' worth).
 *
 * Every violation, crash and the state limit is placed in the sequential order by `eventKey`:
 * the first of each, the point where the sequential search would have stopped, and the states and
 * transitions it had counted by then follow from minima, so the result (states, transitions,
 * verdicts, each shortest counterexample: the same trace) is the sequential search's. Only the
 * time differs, and an interrupted search (Ctrl-C, a time limit), which is inconclusive, stops
 * within a level (the workers see the stop flag, `StopFlag`) and drops that level: it counts the
 * complete levels only, where the one-thread search also keeps what it found of the cut level.
 *
 * The coordinator blocks on the workers (`explore-sync.ts`), so `exploreDesign` stays synchronous.
 * The workers are started once per process and kept (unreferenced) for later searches. They load
 * the design by id from the built-in registry or the config file, or from a module's export
 * (`DesignSource`): a design built in memory (a test's) cannot be sent to them. Partial-order
 * reduction and a custom `key` function are for the sequential search only. A scope with a flat
 * encoding is searched on its vectors by the same workers (`explore-flat-parallel.ts`, which
 * shares the pool, `round` and `settleLevel` with this file).
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { AnyDesign, Command, Design, Invariant, Transition } from './design.js';
import { crashOf, selectInvariants } from './execute.js';
import type { CrashSite } from './execute.js';
import { exploreScopeOf, finishExploration } from './explore.js';
import type { ExploreOptions, ExploreResult, Found, Thrown } from './explore.js';
import {
  eventKey,
  idParent,
  idPosition,
  keyParent,
  keyPhase,
  keyPosition,
  ownerOf,
  PHASE_INVARIANT,
  PHASE_LIMIT,
  PHASE_RECORDED,
  transitionId,
} from './explore-protocol.js';
import type { DesignSource, FromWorker, SearchEvent, ToWorker } from './explore-protocol.js';
import { drain, post, receive, StopFlag } from './explore-sync.js';
import type { SyncEnd } from './explore-sync.js';
import { scopeFingerprint } from './stable-fingerprint.js';

export interface PoolWorker {
  readonly worker: Worker;
  readonly port: MessagePort;
  readonly end: SyncEnd;
}

const coordinatorWake = new Int32Array(new SharedArrayBuffer(4));
/** Raised when a stop is asked during a search: the workers end the level's expansion early. */
const workersStop = new StopFlag();
const pool: PoolWorker[] = [];

/** The compiled worker: beside this file, or in dist/ when this file runs from source (vitest). */
function workerUrl(): URL {
  const here = import.meta.url;
  const url = here.endsWith('.ts')
    ? new URL('../dist/src/explore-worker.js', here)
    : new URL('./explore-worker.js', here);
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`explore --workers: ${fileURLToPath(url)} is missing (npm run build)`);
  return url;
}

/** Starts the pool's workers up to `count` (kept for later searches). */
export function ensureWorkers(count: number): PoolWorker[] {
  while (pool.length < count) {
    const index = pool.length;
    const peers: { index: number; port: MessagePort }[] = [];
    for (const [other, known] of pool.entries()) {
      const channel = new MessageChannel();
      peers.push({ index: other, port: channel.port1 });
      post(known.end, { kind: 'peer', index, port: channel.port2 } satisfies ToWorker, [channel.port2]);
    }
    const channel = new MessageChannel();
    const wake = new SharedArrayBuffer(4);
    const worker = new Worker(workerUrl(), {
      workerData: {
        dmapropExplore: true,
        index,
        wake,
        coordinatorWake: coordinatorWake.buffer,
        stop: workersStop.words.buffer,
        port: channel.port2,
        peers,
      },
      transferList: [channel.port2, ...peers.map((peer) => peer.port)],
    });
    // Failures come back as messages; an 'error' event would only come once the search is over.
    worker.on('error', () => undefined);
    worker.unref();
    pool.push({ worker, port: channel.port1, end: { port: channel.port1, wake: new Int32Array(wake), wakeIndex: 0 } });
  }
  const workers = pool.slice(0, count);
  for (const worker of workers) drain(worker.port);
  return workers;
}

function awaitReply(worker: PoolWorker, poll: () => void): FromWorker {
  const reply = receive(worker.port, coordinatorWake, 0, poll) as FromWorker;
  if (reply.kind === 'failed') throw new Error(`explore worker failed: ${reply.message}`);
  return reply;
}

/** Sends each worker its request and collects the replies, in worker order. */
export function round(workers: readonly PoolWorker[], requests: readonly ToWorker[], poll: () => void): FromWorker[] {
  workers.forEach((worker, index) => {
    const request = requests[index];
    if (request !== undefined) post(worker.end, request);
  });
  return workers.map((worker) => awaitReply(worker, poll));
}

/**
 * The owners' lists of new states' transition ids, each sorted, merged into the sequential record
 * order: each id, the owner it came from, and its index in that owner's list.
 */
export function mergeOwnerLists(lists: readonly ArrayLike<number>[]): {
  ids: number[];
  owners: number[];
  ranks: number[];
} {
  const cursors = lists.map(() => 0);
  const ids: number[] = [];
  const owners: number[] = [];
  const ranks: number[] = [];
  for (;;) {
    let best = -1;
    let bestId = Infinity;
    for (let owner = 0; owner < lists.length; owner++) {
      const list = lists[owner];
      const cursor = cursors[owner] ?? 0;
      if (list === undefined || cursor >= list.length) continue;
      const id = list[cursor] ?? 0;
      if (best < 0 || id < bestId) {
        best = owner;
        bestId = id;
      }
    }
    if (best < 0) break;
    const rank = cursors[best] ?? 0;
    ids.push(bestId);
    owners.push(best);
    ranks.push(rank);
    cursors[best] = rank + 1;
  }
  return { ids, owners, ranks };
}

/**
 * The stop request (`shouldStop`) asked while the coordinator waits (`poll`, for `round`), and
 * whether it came (`stopNow`, which asks once more), remembered once it did. Once it came, the workers' stop flag is
 * raised: they cut the level they are expanding short, and the search drops that level whole
 * (interrupted: every sequence of the levels before it was explored, and that is what it reports).
 */
export function stopPoll(options: ExploreOptions): { poll: () => void; stopNow: () => boolean } {
  const stop = options.shouldStop ?? ((): boolean => false);
  let asked = false;
  workersStop.clear();
  const poll = (): void => {
    if (asked || !stop()) return;
    asked = true;
    workersStop.raise();
  };
  return {
    poll,
    // Asks again first: a stop due since the last poll (a time limit passed as a round ended) is
    // seen where the coordinator checks, not a round later.
    stopNow: (): boolean => {
      poll();
      return asked;
    },
  };
}

export function exploreParallel<S, C extends T, T extends Command = C>(
  typed: Design<S, C, T>,
  options: ExploreOptions,
  source: DesignSource,
): ExploreResult<C> {
  const design: AnyDesign = typed;
  const started = performance.now();
  const { scope, maxStates } = exploreScopeOf(design, options);
  const count = options.workers ?? 1;
  if (options.key !== undefined) throw new Error('explore: a custom key is for the sequential search only');
  if (options.partialOrder === true)
    throw new Error('explore: partial-order reduction is for the sequential search only');
  if (options.shard !== undefined) throw new Error('explore: --shard and --workers do not combine');
  const invariants = selectInvariants(design, options.invariants);
  const everyTransition = options.everyTransition === true;
  const found = new Map<string, Found>();
  const allFound = (): boolean => invariants.length > 0 && found.size === invariants.length;
  const pending = (): string[] =>
    invariants.filter((invariant) => !found.has(invariant.name)).map((invariant) => invariant.name);
  const parents: number[] = [-1];
  const via: unknown[] = [null];
  const pathTo = (record: number): unknown[] => {
    const path: unknown[] = [];
    for (let at = record; at > 0; at = parents[at] ?? 0) path.push(via[at]);
    return path.reverse();
  };
  let thrown: Thrown | null = null;
  let scopeThrew: { message: string } | null = null;
  let limitAt: number | null = null;
  let exhausted = false;
  let interrupted = false;
  let depthReached = 0;
  let states = 0;
  let transitions = 0;
  const finish = (): ExploreResult<C> =>
    finishExploration(typed, options, {
      invariants,
      found,
      pathTo,
      thrown,
      scopeThrew,
      limitAt,
      exhausted,
      interrupted,
      depthReached,
      states,
      transitions,
      partialOrder: false,
      slept: 0,
      maxStates,
      started,
    });

  // The initial state, here, as the sequential search does it.
  let initial: unknown;
  let site: CrashSite | 'scope' = 'init';
  let asking: string | null = null;
  let initialOwner = 0;
  try {
    initial = design.init();
    site = 'scope';
    const print = scopeFingerprint(scope)(initial);
    initialOwner = ownerOf(print[3], count);
    states = 1;
    const start: Transition<unknown, unknown> = { before: null, command: null, result: null, after: initial };
    site = 'invariant';
    // As the sequential search: the per-transition invariants, then the state-only ones.
    const stateOnly = (invariant: Invariant<unknown, unknown>): boolean =>
      !everyTransition && invariant.reads !== undefined;
    for (const invariant of [...invariants.filter((one) => !stateOnly(one)), ...invariants.filter(stateOnly)]) {
      asking = invariant.name;
      if (invariant.check(start) !== null) found.set(invariant.name, { parent: -1, command: null, at: -1 });
    }
    asking = null;
  } catch (error) {
    const at = site as CrashSite | 'scope';
    if (at === 'scope')
      scopeThrew = { message: `the explore scope threw: ${(error as Error)?.message ?? String(error)}` };
    thrown = {
      record: -1,
      command: null,
      hasCommand: false,
      crash: crashOf(error, 0, at === 'scope' ? 'step' : at, asking),
    };
    return finish();
  }
  if (allFound()) return finish();

  const workers = ensureWorkers(count);
  const { poll, stopNow } = stopPoll(options);
  round(
    workers,
    workers.map((_, index) => ({
      kind: 'begin',
      source,
      design: design.id,
      invariants: options.invariants === undefined ? null : [...options.invariants],
      everyTransition,
      workers: count,
      initial: { state: initial, owned: index === initialOwner },
    })),
    poll,
  );

  // The worker holding each record's state, while its level is being expanded.
  const holder: number[] = [initialOwner];
  let adopt: Float64Array[] | null = null;
  let appended: { parents: Float64Array; commands: unknown[] } | null = null;
  let levelSize = 1;
  for (let level = 1; level <= options.depth && !allFound(); level++) {
    if (stopNow()) {
      interrupted = true;
      break;
    }
    const open = pending();
    const expanded = round(
      workers,
      workers.map((_, index) => ({ kind: 'expand', adopt: adopt?.[index] ?? null, appended, pending: open })),
      poll,
    );
    // Stopped while the workers expanded: the level may be cut short, so it is dropped whole.
    if (stopNow()) {
      interrupted = true;
      break;
    }
    const merged = round(
      workers,
      workers.map(() => ({ kind: 'merge' })),
      poll,
    );
    // The same after the merge and after the checks below: a level finished past the time limit
    // (its checks take seconds on a large one) is not reported as explored within it.
    if (stopNow()) {
      interrupted = true;
      break;
    }
    // The new states in the sequential order: the owners' sorted lists merged.
    const { ids: winnerIds, owners: winnerOwners } = mergeOwnerLists(
      merged.map((reply) => (reply.kind === 'winners' ? reply.ids : new Float64Array(0))),
    );
    const requests: number[][] = workers.map(() => []);
    const requestOf: { worker: number; at: number }[] = [];
    winnerIds.forEach((id, rank) => {
      const parent = idParent(id);
      const expander = holder[parent] ?? 0;
      const list = requests[expander] ?? [];
      requestOf.push({ worker: expander, at: list.length / 4 });
      list.push(parent, idPosition(id), states + rank, winnerOwners[rank] ?? 0);
    });
    const materialized = round(
      workers,
      workers.map((_, index) => ({
        kind: 'materialize',
        requests: Float64Array.from(requests[index] ?? []),
        pending: open,
      })),
      poll,
    );
    if (stopNow()) {
      interrupted = true;
      break;
    }

    // Everything found at this level, and where the sequential search would have stopped.
    const events: SearchEvent[] = [];
    for (const reply of [...expanded, ...materialized])
      if (reply.kind === 'expanded' || reply.kind === 'materialized') events.push(...reply.events);
    const counts = expanded.map((reply) => (reply.kind === 'expanded' ? reply.counts : new Float64Array(0)));
    const settled = settleLevel(events, counts, { invariants, found, winnerIds, room: maxStates - states });
    const { cut, crash, limited, kept } = settled;
    transitions += settled.transitions;
    const firstNew = parents.length;
    for (let rank = 0; rank < kept; rank++) {
      const id = winnerIds[rank] ?? 0;
      const at = requestOf[rank];
      const reply = at === undefined ? undefined : materialized[at.worker];
      parents.push(idParent(id));
      via.push(reply?.kind === 'materialized' ? reply.commands[at?.at ?? 0] : null);
      holder.push(winnerOwners[rank] ?? 0);
    }
    states += kept;
    if (crash !== null) {
      if (crash.site === 'scope') scopeThrew = { message: `the explore scope threw: ${crash.crash.message}` };
      thrown = {
        record: keyParent(crash.key),
        command: crash.command,
        hasCommand: crash.hasCommand,
        crash: crash.crash,
      };
    }
    if (limited) limitAt = level;
    if (cut !== Infinity) break;
    options.onProgress?.({
      level,
      depth: options.depth,
      expanded: levelSize,
      frontier: levelSize,
      states,
      transitions,
    });
    depthReached = level;
    if (winnerIds.length === 0) {
      depthReached = options.depth;
      exhausted = true;
      break;
    }
    levelSize = kept;
    appended = { parents: Float64Array.from(parents.slice(firstNew)), commands: via.slice(firstNew) };
    adopt = workers.map((_, owner) =>
      Float64Array.from(winnerOwners.flatMap((who, rank) => (who === owner ? [states - kept + rank] : []))),
    );
  }
  return finish();
}

/** Where a level of the parallel search ends in the sequential order, and what it found before. */
export interface SettledLevel {
  /** The event key where the sequential search stopped in this level; Infinity: it did not. */
  readonly cut: number;
  /** The crash it stopped at, if that is where. */
  readonly crash: (SearchEvent & { kind: 'crash' }) | null;
  /** It stopped at the state limit. */
  readonly limited: boolean;
  /** The level's transitions counted by then. */
  readonly transitions: number;
  /** The new states recorded by then (the first of `winnerIds`). */
  readonly kept: number;
}

/**
 * Places a level's events (the workers'), its transitions counted per expanded record (`counts`:
 * record, transitions pairs) and its new states (`winnerIds`, the first transition into each, in
 * record order) in the sequential order: the first violation of each invariant before the cut is
 * added to `found`; the crash, the state limit (`room`: states still allowed) or the moment every
 * invariant is broken, whichever comes first, is the cut.
 */
export function settleLevel(
  events: readonly SearchEvent[],
  counts: readonly ArrayLike<number>[],
  level: {
    readonly invariants: readonly Invariant<unknown, unknown>[];
    readonly found: Map<string, Found>;
    readonly winnerIds: readonly number[];
    readonly room: number;
    /** The command of a violation (default its event's own). */
    readonly commandOf?: (event: SearchEvent & { kind: 'violation' }) => unknown;
  },
): SettledLevel {
  const { invariants, found, winnerIds, room } = level;
  const first = new Map<string, SearchEvent & { kind: 'violation' }>();
  for (const event of events) {
    if (event.kind !== 'violation') continue;
    const known = first.get(event.invariant);
    if (known === undefined || event.key < known.key) first.set(event.invariant, event);
  }
  const brokenBefore = (name: string, key: number): boolean => {
    if (found.has(name)) return true;
    const event = first.get(name);
    return event !== undefined && event.key < key;
  };
  let cut = Infinity;
  let crash: (SearchEvent & { kind: 'crash' }) | null = null;
  for (const event of events) {
    if (event.kind !== 'crash' || event.key >= cut) continue;
    if (event.needsAnyOf !== null && event.needsAnyOf.every((name) => brokenBefore(name, event.key))) continue;
    cut = event.key;
    crash = event;
  }
  let limited = false;
  if (winnerIds.length > room) {
    const id = winnerIds[room] ?? 0;
    const key = eventKey(idParent(id), idPosition(id), PHASE_LIMIT);
    if (key < cut) {
      cut = key;
      crash = null;
      limited = true;
    }
  }
  if (
    invariants.length > 0 &&
    invariants.every((invariant) => found.has(invariant.name) || first.has(invariant.name))
  ) {
    const last = Math.max(...[...first.values()].map((event) => event.key));
    const key = eventKey(keyParent(last), keyPosition(last), PHASE_RECORDED);
    if (key < cut) {
      cut = key;
      crash = null;
      limited = false;
    }
  }
  for (const [name, event] of first) {
    if (event.key < cut) {
      const parent = keyParent(event.key);
      const command = level.commandOf === undefined ? event.command : level.commandOf(event);
      found.set(name, { parent, command, at: transitionId(parent, keyPosition(event.key)) });
    }
  }
  // The states and transitions counted up to the cut (all of the level's when there is none).
  const cutParent = cut === Infinity ? Infinity : keyParent(cut);
  let transitions = 0;
  for (const list of counts) {
    for (let at = 0; at + 1 < list.length; at += 2) {
      if ((list[at] ?? 0) < cutParent) transitions += list[at + 1] ?? 0;
    }
  }
  if (cut !== Infinity) transitions += keyPosition(cut) + (keyPhase(cut) >= PHASE_INVARIANT ? 1 : 0);
  let kept = 0;
  while (
    kept < winnerIds.length &&
    eventKey(idParent(winnerIds[kept] ?? 0), idPosition(winnerIds[kept] ?? 0), PHASE_LIMIT) < cut
  )
    kept += 1;
  return { cut, crash, limited, transitions, kept };
}
