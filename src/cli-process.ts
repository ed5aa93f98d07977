/**
 * The `dmaprop` process: the CLI runs on a worker thread while this thread only relays its
 * output and watches for SIGINT and SIGTERM. A search is synchronous, so a signal handler on the
 * thread that runs it would only fire once the search is over; here it fires at once, and raises
 * a flag in shared memory that the search reads between runs (`CliIo.shouldStop`). The search
 * then ends with what it found, prints it marked interrupted, and exits 130. A second signal ends
 * the process at once, after printing how to replay the run (its seed).
 *
 * Kept free of the engine's imports: this thread loads nothing but `node:worker_threads`.
 */
import { Worker } from 'node:worker_threads';

/** What the worker sends: output, the replay line once the seed is known, and the exit status. */
export type WorkerMessage =
  | { readonly kind: 'out' | 'err' | 'progress'; readonly text: string }
  | { readonly kind: 'started'; readonly replay: string }
  | { readonly kind: 'exit'; readonly code: number };

export interface WorkerInput {
  readonly argv: readonly string[];
  /** One Int32: 0 running, 1 asked to stop. */
  readonly stop: SharedArrayBuffer;
  readonly progress: boolean;
}

const INTERRUPTED = 130;
/** Verbs whose searches read the stop flag; any other verb is ended at the first signal. */
const STOPPABLE = new Set(['check', 'explore']);
/** An error of dmaprop itself (not of a design): EX_SOFTWARE. */
const INTERNAL_ERROR = 70;

export function runCliProcess(argv: readonly string[]): Promise<number> {
  const stop = new SharedArrayBuffer(4);
  const flag = new Int32Array(stop);
  const input: WorkerInput = { argv, stop, progress: process.stderr.isTTY };
  const worker = new Worker(new URL('./cli-worker.js', import.meta.url), { workerData: input });
  let replay: string | null = null;
  let signals = 0;
  return new Promise((resolve) => {
    let settled = false;
    const finish = (code: number): void => {
      if (settled) return;
      settled = true;
      // The handlers stay: a signal while the process exits must not kill it with another status.
      resolve(code);
    };
    const stoppable = argv.some((word) => STOPPABLE.has(word));
    const onSignal = (signal: NodeJS.Signals): void => {
      if (settled) return;
      signals += 1;
      if (signals === 1 && stoppable) {
        Atomics.store(flag, 0, 1);
        process.stderr.write(
          `\ndmaprop: ${signal}: stopping with what was found so far (again to quit at once)${replay === null ? '' : `; ${replay}`}\n`,
        );
        return;
      }
      process.stderr.write(
        `\ndmaprop: ${signal}${signals > 1 ? ' again' : ''}: quitting${replay === null ? '' : `; ${replay}`}\n`,
      );
      void worker.terminate().then(() => finish(INTERRUPTED));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    worker.on('message', (message: WorkerMessage) => {
      switch (message.kind) {
        case 'out':
          process.stdout.write(message.text);
          break;
        case 'err':
        case 'progress':
          process.stderr.write(message.text);
          break;
        case 'started':
          replay = message.replay;
          // A signal that came while the CLI was still loading could not name the seed: the
          // search it stopped still runs (and stops at once), so name it now.
          if (signals > 0) process.stderr.write(`dmaprop: ${replay}\n`);
          break;
        case 'exit':
          finish(message.code);
          break;
      }
    });
    worker.on('error', (error) => {
      process.stderr.write(`dmaprop: internal error: ${error.stack ?? error.message}\n`);
      finish(INTERNAL_ERROR);
    });
    worker.on('exit', () => finish(signals > 0 ? INTERRUPTED : INTERNAL_ERROR));
  });
}
