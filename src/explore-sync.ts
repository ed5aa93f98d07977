/**
 * Blocking message passing between the explorer's threads (`explore-parallel.ts`). The search is
 * synchronous (`exploreDesign` returns its result), so the thread that coordinates it cannot wait
 * for replies on its event loop: it waits on a shared counter with `Atomics.wait` and takes the
 * reply off the port with `receiveMessageOnPort`, as the workers do for their requests. A sender
 * posts first, then bumps the receiver's counter and wakes it: a receiver that found nothing after
 * reading the counter sleeps only while the counter is unchanged, so no message is missed.
 */
import { receiveMessageOnPort } from 'node:worker_threads';
import type { MessagePort, TransferListItem } from 'node:worker_threads';

/** One side of a channel: the port to post on and the counter of the thread on the other side. */
export interface SyncEnd {
  readonly port: MessagePort;
  /** The receiver's wake-up counters (one Int32 each) and which one is the other side's. */
  readonly wake: Int32Array;
  readonly wakeIndex: number;
}

export function post(end: SyncEnd, message: unknown, transfer: readonly TransferListItem[] = []): void {
  end.port.postMessage(message, [...transfer]);
  Atomics.add(end.wake, end.wakeIndex, 1);
  Atomics.notify(end.wake, end.wakeIndex);
}

/**
 * The next message on `port`, waiting on `wake[index]` (this thread's counter) until one comes.
 * `poll` is called every `pollMs` while waiting (the coordinator's Ctrl-C check).
 */
export function receive(port: MessagePort, wake: Int32Array, index: number, poll?: () => void, pollMs = 100): unknown {
  for (;;) {
    const seen = Atomics.load(wake, index);
    const got = receiveMessageOnPort(port);
    if (got !== undefined) return got.message;
    Atomics.wait(wake, index, seen, poll === undefined ? undefined : pollMs);
    poll?.();
  }
}

/**
 * The next message on a port whose sender posted it before this thread was told to read it (the
 * request that says so came after the sender's reply to the coordinator): it is already there.
 */
export function take(port: MessagePort): unknown {
  const deadline = Date.now() + 60_000;
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const got = receiveMessageOnPort(port);
    if (got !== undefined) return got.message;
    if (Date.now() > deadline) throw new Error('explore worker: a message from another worker never came');
    Atomics.wait(nap, 0, 0, 1);
  }
}

/** Discards whatever is queued on a port (what an abandoned search left behind). */
export function drain(port: MessagePort): void {
  while (receiveMessageOnPort(port) !== undefined);
}

/**
 * The flag the coordinator raises to stop the workers within a level, when a stop is asked
 * (Ctrl-C, a time limit): each thread holds its own view of one shared word, and a worker reads it
 * now and then while it expands, so that a long level does not run to its end first.
 */
export class StopFlag {
  readonly words: Int32Array;

  constructor(words: Int32Array = new Int32Array(new SharedArrayBuffer(4))) {
    this.words = words;
  }

  raise(): void {
    Atomics.store(this.words, 0, 1);
  }

  clear(): void {
    Atomics.store(this.words, 0, 0);
  }

  raised(): boolean {
    return Atomics.load(this.words, 0) !== 0;
  }
}
