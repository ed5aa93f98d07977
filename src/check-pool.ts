/**
 * `dmaprop check --jobs N`: design checks run on N worker threads (`check-worker.ts`), each check
 * whole on one thread, so every result is the one the sequential command gives (a check is a pure
 * function of its design, seed and options); only the wall time differs. Results are handed back
 * in the order asked, so the report reads as the sequential one does. The command is synchronous,
 * so the coordinator waits on a shared counter (`explore-sync.ts`) rather than its event loop.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type { DesignCheck } from './check.js';
import type { FromCheckWorker, PlainCheckOptions, ToCheckWorker } from './check-worker.js';
import type { DesignSource } from './explore-protocol.js';

export interface CheckTask {
  readonly design: string;
  readonly options: PlainCheckOptions;
}

/** The compiled worker: beside this file, or in dist/ when this file runs from source (vitest). */
function workerUrl(): URL {
  const here = import.meta.url;
  const url = here.endsWith('.ts') ? new URL('../dist/src/check-worker.js', here) : new URL('./check-worker.js', here);
  if (!existsSync(fileURLToPath(url)))
    throw new Error(`check --jobs: ${fileURLToPath(url)} is missing (npm run build)`);
  return url;
}

interface PoolWorker {
  readonly worker: Worker;
  readonly port: MessagePort;
}

export class CheckPool {
  private readonly workers: PoolWorker[] = [];
  private readonly wake = new Int32Array(new SharedArrayBuffer(4));
  private readonly stopFlag = new Int32Array(new SharedArrayBuffer(4));
  private readonly done = new Map<number, DesignCheck>();
  private readonly progress = new Map<number, number>();
  private next = 0;
  private readonly tasks: readonly CheckTask[];

  constructor(tasks: readonly CheckTask[], jobs: number, source: DesignSource) {
    this.tasks = tasks;
    const url = workerUrl();
    for (let index = 0; index < Math.min(jobs, tasks.length); index++) {
      const channel = new MessageChannel();
      const worker = new Worker(url, {
        workerData: {
          dmapropCheck: true,
          source,
          port: channel.port2,
          wake: this.wake.buffer,
          stop: this.stopFlag.buffer,
        },
        transferList: [channel.port2],
      });
      // Failures come back as messages.
      worker.on('error', () => undefined);
      worker.unref();
      this.workers.push({ worker, port: channel.port1 });
    }
    for (const worker of this.workers) this.dispatch(worker);
  }

  /**
   * Task `index`'s check, waiting for it (null if it never started: the pool was stopped first).
   * `poll` runs every 100 ms while waiting (Ctrl-C: it may call `stop`), `onRun` with the run the
   * awaited task has reached.
   */
  result(index: number, poll: () => void, onRun: (run: number) => void): DesignCheck | null {
    for (;;) {
      const found = this.done.get(index);
      if (found !== undefined) return found;
      // Never started: stopped first.
      if (index >= this.next) return null;
      const seen = Atomics.load(this.wake, 0);
      let got = false;
      for (const worker of this.workers) {
        let message;
        while ((message = receiveMessageOnPort(worker.port)) !== undefined) {
          got = true;
          this.take(worker, message.message as FromCheckWorker);
        }
      }
      const progress = this.progress.get(index);
      if (progress !== undefined) onRun(progress);
      if (!got) {
        Atomics.wait(this.wake, 0, seen, 100);
        poll();
      }
    }
  }

  /** Asks every check running to stop (each ends with what it found, as the sequential one does). */
  stop(): void {
    Atomics.store(this.stopFlag, 0, 1);
  }

  close(): void {
    for (const { worker } of this.workers) void worker.terminate();
  }

  private take(worker: PoolWorker, message: FromCheckWorker): void {
    if (message.kind === 'run') {
      this.progress.set(message.task, message.run);
      return;
    }
    if (message.kind === 'failed') {
      this.close();
      throw new Error(
        `check --jobs: the worker checking ${this.tasks[message.task]?.design ?? '?'} failed: ${message.message}`,
      );
    }
    this.done.set(message.task, message.check as DesignCheck);
    this.progress.delete(message.task);
    this.dispatch(worker);
  }

  private dispatch(worker: PoolWorker): void {
    if (this.next >= this.tasks.length || Atomics.load(this.stopFlag, 0) === 1) return;
    const task = this.next++;
    const { design, options } = this.tasks[task] as CheckTask;
    worker.port.postMessage({ kind: 'check', task, design, options } satisfies ToCheckWorker);
  }
}
