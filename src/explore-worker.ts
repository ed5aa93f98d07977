/**
 * A worker of a parallel exploration (`explore-parallel.ts`): it owns the states whose fingerprint
 * falls in its partition (`ownerOf`), keeps their fingerprints and the current level's states,
 * expands them, sends each successor's fingerprint to its owner, keeps the first transition (in
 * the sequential order) into each new state it owns, checks the new states it reached first, and
 * rebuilds its own from the tree of records. It answers the coordinator's requests one at a time, blocking between them.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { AnyDesign, Invariant, Transition } from './design.js';
import { loadDesign } from './design-source.js';
import { crashOf, selectInvariants } from './execute.js';
import type { CrashSite } from './execute.js';
import { DistinctCommands } from './explore.js';
import {
  eventKey,
  ownerOf,
  PHASE_INVARIANT,
  PHASE_KEY,
  PHASE_RESOLVE,
  PHASE_STATE,
  PHASE_STEP,
  transitionId,
} from './explore-protocol.js';
import type { FromWorker, SearchEvent, ToWorker } from './explore-protocol.js';
import { drain, post, receive, StopFlag, take } from './explore-sync.js';
import type { SyncEnd } from './explore-sync.js';
import { FlatPartition } from './explore-flat-partition.js';
import { pathReplay } from './explore-replay.js';
import { StateTable } from './state-table.js';
import { scopeFingerprint } from './stable-fingerprint.js';
import type { Fingerprint } from './state-table.js';

export interface WorkerSetup {
  readonly index: number;
  /** This worker's wake-up counter and the coordinator's. */
  readonly wake: SharedArrayBuffer;
  readonly coordinatorWake: SharedArrayBuffer;
  /** The coordinator's stop flag (`StopFlag`): raised, an expansion ends early. */
  readonly stop: SharedArrayBuffer;
  readonly port: MessagePort;
  readonly peers: readonly { readonly index: number; readonly port: MessagePort }[];
}

/** One exploration's state in this worker. */
class Partition {
  private readonly visited = new StateTable();
  /** This level's states, in record order. */
  private frontierRecords: number[] = [];
  private frontierStates: unknown[] = [];
  /** The distinct commands tried from each frontier state, by position. */
  private commands: unknown[][] = [];
  /** Successors first seen at this level by this worker (to send each fingerprint once). */
  private sent = new StateTable();
  private outgoing: number[][];
  /** This level's new states owned here: fingerprint words and first transition, sorted by it. */
  private winnerPrints: Fingerprint[] = [];
  private readonly perTransitionAll: Invariant<unknown, unknown>[];
  private readonly stateOnlyAll: Invariant<unknown, unknown>[];
  private readonly indexOf = new Map<string, number>();

  private readonly design: AnyDesign;
  private readonly self: number;
  private readonly workers: number;
  private readonly peers: readonly (MessagePort | undefined)[];
  private readonly stop: StopFlag;

  constructor(
    design: AnyDesign,
    invariants: readonly string[] | null,
    everyTransition: boolean,
    self: number,
    workers: number,
    peers: readonly (MessagePort | undefined)[],
    stop: StopFlag,
  ) {
    this.stop = stop;
    this.design = design;
    this.self = self;
    this.workers = workers;
    this.peers = peers;
    const selected = selectInvariants(design, invariants ?? undefined);
    selected.forEach((invariant, index) => this.indexOf.set(invariant.name, index));
    this.perTransitionAll = selected.filter((invariant) => everyTransition || invariant.reads === undefined);
    this.stateOnlyAll = selected.filter((invariant) => !everyTransition && invariant.reads !== undefined);
    this.outgoing = Array.from({ length: workers }, () => []);
  }

  private key(state: unknown): Fingerprint {
    const scope = this.design.explore;
    if (scope === undefined) throw new Error('no explore scope');
    this.fingerprint ??= scopeFingerprint(scope);
    return this.fingerprint(state);
  }

  /** The scope's fingerprint function (`scopeFingerprint`), once the scope is known. */
  private fingerprint: ((state: unknown) => Fingerprint) | undefined;

  /** The new states this worker owns that it stepped to check them, by record. */
  private materialized = new Map<number, unknown>();
  /** Every record's parent and the command from it (record 0: the initial state). */
  private readonly parents: number[] = [-1];
  private readonly via: unknown[] = [null];
  /** A record's state replayed from the initial state (`pathReplay`), once 'begin' gave it. */
  private replay: (record: number) => unknown = () => {
    throw new Error('explore worker: no initial state');
  };

  adoptInitial(state: unknown, owned: boolean): void {
    this.replay = pathReplay(state, this.parents, this.via, (from, command) => this.design.step(from, command).state);
    if (!owned) return;
    this.visited.add(this.key(state), 0);
    this.frontierRecords = [0];
    this.frontierStates = [state];
  }

  /**
   * The state of `record`: one step from its parent when this worker expanded the parent (`held`,
   * the last level's states here), else replayed from the nearest ancestor it shares with the
   * last path replayed (cousins are near in record order: a few steps).
   */
  private rebuild(record: number, held: ReadonlyMap<number, unknown>): unknown {
    // Stepped here to be checked (`materialize`): no step.
    const checked = this.materialized.get(record);
    if (checked !== undefined) return checked;
    // A parent this worker expanded at the last level: one step.
    const parent = this.parents[record] ?? 0;
    const expanded = held.get(parent);
    if (expanded !== undefined) return this.design.step(expanded, this.via[record]).state;
    return this.replay(record);
  }

  /**
   * Takes the new states of the last level: every one's parent and command (`appended`, in record
   * order), and rebuilds those this worker owns (`records`, in its order of them).
   */
  adopt(records: Float64Array | null, appended: { parents: Float64Array; commands: readonly unknown[] } | null): void {
    // null: the first level, whose only state (the initial one) came with 'begin'.
    if (records === null || appended === null) return;
    for (let index = 0; index < appended.parents.length; index++) {
      this.parents.push(appended.parents[index] ?? 0);
      this.via.push(appended.commands[index]);
    }
    const held = new Map<number, unknown>();
    this.frontierRecords.forEach((record, index) => held.set(record, this.frontierStates[index]));
    this.frontierRecords = [];
    this.frontierStates = [];
    // A stop asked (Ctrl-C, a time limit): the level is dropped whole, so its states are not
    // rebuilt (some seconds on a large level); `expand` stops at its first record.
    let stopped = false;
    for (let index = 0; index < records.length; index++) {
      const record = records[index] ?? 0;
      const print = this.winnerPrints[index];
      if (print === undefined || record >= this.parents.length)
        throw new Error(`explore worker: state ${record} never came`);
      this.visited.add(print, record);
      this.frontierRecords.push(record);
      if (!stopped && (index & 15) === 0) stopped = this.stop.raised();
      this.frontierStates.push(stopped ? undefined : this.rebuild(record, held));
    }
    this.materialized = new Map();
  }

  expand(pending: readonly string[]): FromWorker {
    const events: SearchEvent[] = [];
    const open = new Set(pending);
    let perTransition = this.perTransitionAll.filter((invariant) => open.has(invariant.name));
    const counts = new Float64Array(this.frontierRecords.length * 2);
    const scope = this.design.explore;
    if (scope === undefined) throw new Error('no explore scope');
    this.sent = new StateTable();
    this.outgoing = Array.from({ length: this.workers }, () => []);
    this.commands = [];
    let site: CrashSite | 'scope' = 'step';
    let asking: string | null = null;
    let command: unknown = null;
    let hasCommand = false;
    let key = 0;
    search: for (let at = 0; at < this.frontierRecords.length; at++) {
      // A stop asked: the coordinator drops this level, whatever it holds.
      if ((at & 15) === 0 && this.stop.raised()) break;
      const record = this.frontierRecords[at] ?? 0;
      const before = this.frontierStates[at];
      const tried: unknown[] = [];
      this.commands.push(tried);
      counts[at * 2] = record;
      let position = 0;
      hasCommand = false;
      try {
        site = 'scope';
        key = eventKey(record, 0, PHASE_RESOLVE);
        const templates = scope.templates(before);
        const distinct = new DistinctCommands(templates.length);
        for (const template of templates) {
          site = 'resolve';
          command = template;
          hasCommand = true;
          key = eventKey(record, position, PHASE_RESOLVE);
          const concrete: unknown = this.design.resolve(before, template);
          if (!distinct.add(concrete)) continue;
          command = concrete;
          site = 'step';
          key = eventKey(record, position, PHASE_STEP);
          const { state: after, result } = this.design.step(before, concrete);
          tried.push(concrete);
          counts[at * 2 + 1] = position + 1;
          const transition = { before, command: concrete, result, after };
          for (const invariant of perTransition) {
            const index = this.indexOf.get(invariant.name) ?? 0;
            let violated: boolean;
            try {
              violated = invariant.check(transition) !== null;
            } catch (error) {
              // Recorded; the sequential search stopped here if nothing broke this invariant earlier.
              events.push({
                kind: 'crash',
                key: eventKey(record, position, PHASE_INVARIANT, index),
                crash: crashOf(error, 0, 'invariant', invariant.name),
                site: 'invariant',
                command: concrete,
                hasCommand: true,
                needsAnyOf: [invariant.name],
              });
              perTransition = perTransition.filter((other) => other !== invariant);
              continue;
            }
            if (!violated) continue;
            events.push({
              kind: 'violation',
              key: eventKey(record, position, PHASE_INVARIANT, index),
              invariant: invariant.name,
              command: concrete,
            });
            perTransition = perTransition.filter((other) => other !== invariant);
          }
          site = 'scope';
          key = eventKey(record, position, PHASE_KEY);
          position += 1;
          // The very state it was given (a refused request): this record, owned and known here.
          if (after === before) continue;
          const print = this.key(after);
          const owner = ownerOf(print[3], this.workers);
          if (owner === this.self && this.visited.find(print) >= 0) continue;
          if (this.sent.find(print) >= 0) continue;
          this.sent.add(print, 0);
          this.outgoing[owner]?.push(print[0], print[1], print[2], print[3], record, position - 1);
        }
      } catch (error) {
        // Step, resolve, templates or key threw: the sequential search stops here (or earlier).
        const crashSite = site as CrashSite | 'scope';
        events.push({
          kind: 'crash',
          key,
          crash: crashOf(error, 0, crashSite === 'scope' ? 'step' : crashSite, asking),
          site: crashSite,
          command,
          hasCommand,
          needsAnyOf: null,
        });
        break search;
      }
      asking = null;
    }
    for (let peer = 0; peer < this.workers; peer++) {
      if (peer === this.self) continue;
      const batch = Uint32Array.from(this.outgoing[peer] ?? []);
      this.peers[peer]?.postMessage({ candidates: batch }, [batch.buffer]);
    }
    return { kind: 'expanded', counts, events };
  }

  /** Keeps the first transition into each new state this worker owns; their ids, sorted. */
  merge(): FromWorker {
    const table = new StateTable();
    const prints: Fingerprint[] = [];
    const ids: number[] = [];
    const consider = (words: ArrayLike<number>): void => {
      for (let at = 0; at + 5 < words.length; at += 6) {
        const print: Fingerprint = [words[at] ?? 0, words[at + 1] ?? 0, words[at + 2] ?? 0, words[at + 3] ?? 0];
        if (this.visited.find(print) >= 0) continue;
        const id = transitionId(words[at + 4] ?? 0, words[at + 5] ?? 0);
        const known = table.find(print);
        if (known < 0) {
          table.add(print, prints.length);
          prints.push(print);
          ids.push(id);
        } else if (id < (ids[known] ?? Infinity)) ids[known] = id;
      }
    };
    for (let peer = 0; peer < this.workers; peer++) {
      if (peer === this.self) consider(this.outgoing[peer] ?? []);
      else {
        const port = this.peers[peer];
        if (port !== undefined) consider((take(port) as { candidates: Uint32Array }).candidates);
      }
    }
    this.outgoing = [];
    this.sent = new StateTable();
    const order = ids.map((_, index) => index).sort((left, right) => (ids[left] ?? 0) - (ids[right] ?? 0));
    this.winnerPrints = order.map((index) => prints[index] ?? [0, 0, 0, 0]);
    return { kind: 'winners', ids: Float64Array.from(order.map((index) => ids[index] ?? 0)) };
  }

  /** Steps the new states this worker reached first and checks them; hands back their commands. */
  materialize(requests: Float64Array, pending: readonly string[]): FromWorker {
    const events: SearchEvent[] = [];
    const open = new Set(pending);
    let stateOnly = this.stateOnlyAll.filter((invariant) => open.has(invariant.name));
    let partsWork = true;
    const commands: unknown[] = [];
    let at = 0;
    let readsFor = -1;
    let readsBefore: (readonly unknown[] | undefined)[] = [];
    let partsBefore: readonly unknown[] | undefined = undefined;
    this.materialized = new Map();
    for (let index = 0; index + 3 < requests.length; index += 4) {
      // A stop asked: the coordinator drops this level, whatever it holds.
      if ((index & 63) === 0 && this.stop.raised()) break;
      const parent = requests[index] ?? 0;
      const position = requests[index + 1] ?? 0;
      const record = requests[index + 2] ?? 0;
      const owner = requests[index + 3] ?? 0;
      while ((this.frontierRecords[at] ?? Infinity) < parent) at += 1;
      if (this.frontierRecords[at] !== parent) throw new Error(`explore worker: record ${parent} is not mine`);
      const command = this.commands[at]?.[position];
      commands.push(command);
      // The owner rebuilds the state itself (`adopt`): it is stepped here only to be checked.
      if (stateOnly.length === 0) continue;
      const before = this.frontierStates[at];
      const { state: after, result } = this.design.step(before, command);
      if (owner === this.self) this.materialized.set(record, after);
      if (readsFor !== at) {
        readsFor = at;
        readsBefore = this.stateOnlyAll.map(() => undefined);
        partsBefore = undefined;
      }
      const transition: Transition<unknown, unknown> = { before, command, result, after };
      if (partsWork && this.design.parts !== undefined) {
        try {
          const top = this.design.parts(after);
          partsBefore ??= this.design.parts(before);
          if (top.length === partsBefore.length && top.every((part, which) => part === partsBefore?.[which])) continue;
        } catch (error) {
          events.push({
            kind: 'crash',
            key: eventKey(parent, position, PHASE_STATE, -1),
            crash: crashOf(error, 0, 'invariant', null),
            site: 'invariant',
            command,
            hasCommand: true,
            needsAnyOf: stateOnly.map((invariant) => invariant.name),
          });
          partsWork = false;
        }
      }
      for (const invariant of [...stateOnly]) {
        const which = this.stateOnlyAll.indexOf(invariant);
        const index = this.indexOf.get(invariant.name) ?? 0;
        const key = eventKey(parent, position, PHASE_STATE, index);
        try {
          if (invariant.reads !== undefined) {
            const read = (readsBefore[which] ??= invariant.reads(before));
            const now = invariant.reads(after);
            if (read.length === now.length && now.every((part, where) => part === read[where])) continue;
          }
          if (invariant.check(transition) === null) continue;
          events.push({ kind: 'violation', key, invariant: invariant.name, command });
        } catch (error) {
          events.push({
            kind: 'crash',
            key,
            crash: crashOf(error, 0, 'invariant', invariant.name),
            site: 'invariant',
            command,
            hasCommand: true,
            needsAnyOf: [invariant.name],
          });
        }
        stateOnly = stateOnly.filter((other) => other !== invariant);
      }
    }
    this.commands = [];
    return { kind: 'materialized', commands, events };
  }
}

async function serve(setup: WorkerSetup): Promise<void> {
  const wake = new Int32Array(setup.wake);
  const stop = new StopFlag(new Int32Array(setup.stop));
  const toCoordinator: SyncEnd = { port: setup.port, wake: new Int32Array(setup.coordinatorWake), wakeIndex: 0 };
  const peers: (MessagePort | undefined)[] = [];
  for (const peer of setup.peers) peers[peer.index] = peer.port;
  let partition: Partition | null = null;
  let flat: FlatPartition | null = null;
  for (;;) {
    const message = receive(setup.port, wake, 0) as ToWorker;
    let reply: FromWorker | null;
    try {
      switch (message.kind) {
        case 'peer':
          peers[message.index] = message.port;
          reply = null;
          break;
        case 'begin': {
          for (const port of peers) if (port !== undefined) drain(port);
          flat = null;
          const design = await loadDesign(message.source, message.design);
          partition = new Partition(
            design,
            message.invariants,
            message.everyTransition,
            setup.index,
            message.workers,
            peers,
            stop,
          );
          partition.adoptInitial(message.initial.state, message.initial.owned);
          reply = { kind: 'ready' };
          break;
        }
        case 'expand':
          if (partition === null) throw new Error('explore worker: no search begun');
          partition.adopt(message.adopt, message.appended);
          reply = partition.expand(message.pending);
          break;
        case 'merge':
          if (partition === null) throw new Error('explore worker: no search begun');
          reply = partition.merge();
          break;
        case 'materialize':
          if (partition === null) throw new Error('explore worker: no search begun');
          reply = partition.materialize(message.requests, message.pending);
          break;
        case 'flat-begin': {
          for (const port of peers) if (port !== undefined) drain(port);
          partition = null;
          flat = null;
          const design = await loadDesign(message.source, message.design);
          flat = new FlatPartition(design, message.invariants, setup.index, message.workers, peers, stop);
          reply = { kind: 'ready' };
          break;
        }
        case 'flat-expand':
          if (flat === null) throw new Error('explore worker: no flat search begun');
          reply = flat.expand(message.adopt, message.transitionMask);
          break;
        case 'flat-merge':
          if (flat === null) throw new Error('explore worker: no flat search begun');
          reply = flat.merge(message.stateMask);
          break;
      }
    } catch (error) {
      reply = { kind: 'failed', message: (error as Error)?.stack ?? String(error) };
    }
    if (reply !== null) post(toCoordinator, reply);
  }
}

if (parentPort !== null && (workerData as { dmapropExplore?: boolean } | null)?.dmapropExplore === true) {
  void serve(workerData as WorkerSetup & { dmapropExplore: true });
}
