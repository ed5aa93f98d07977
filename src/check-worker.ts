/**
 * A worker of `dmaprop check --jobs N` (`check-pool.ts`): it is asked for one design check at a
 * time (a design by id and the options, all plain data), runs `checkDesign` as the sequential
 * command would, and posts the result, which is plain data too. The coordinator's stop flag (Ctrl-C)
 * is shared memory, read between runs as the sequential search reads `shouldStop`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import { checkDesign } from './check.js';
import type { CheckOptions } from './check.js';
import { loadDesign } from './design-source.js';
import type { DesignSource } from './explore-protocol.js';
import { post } from './explore-sync.js';
import type { SyncEnd } from './explore-sync.js';

/** The options of one check that cross threads: all but the callbacks. */
export type PlainCheckOptions = Omit<CheckOptions, 'onRun' | 'shouldStop' | 'guidance'>;

export type ToCheckWorker = {
  readonly kind: 'check';
  readonly task: number;
  readonly design: string;
  readonly options: PlainCheckOptions;
};

export type FromCheckWorker =
  | { readonly kind: 'run'; readonly task: number; readonly run: number }
  | { readonly kind: 'done'; readonly task: number; readonly check: unknown }
  | { readonly kind: 'failed'; readonly task: number; readonly message: string };

export interface CheckWorkerSetup {
  readonly dmapropCheck: true;
  readonly source: DesignSource;
  readonly port: MessagePort;
  /** The coordinator's wake-up counter (one Int32) and the stop flag (one Int32, 1 once stopped). */
  readonly wake: SharedArrayBuffer;
  readonly stop: SharedArrayBuffer;
}

/** Runs between two progress messages: enough to keep the coordinator's line moving, few messages. */
const PROGRESS_EVERY = 25;

function serve(setup: CheckWorkerSetup): void {
  const end: SyncEnd = { port: setup.port, wake: new Int32Array(setup.wake), wakeIndex: 0 };
  const stop = new Int32Array(setup.stop);
  const shouldStop = (): boolean => Atomics.load(stop, 0) === 1;
  setup.port.on('message', (message: ToCheckWorker) => {
    const { task } = message;
    loadDesign(setup.source, message.design)
      .then((design) => {
        const check = checkDesign(design, {
          ...message.options,
          shouldStop,
          onRun: (run) => {
            if (run % PROGRESS_EVERY === 0) post(end, { kind: 'run', task, run } satisfies FromCheckWorker);
          },
        });
        post(end, { kind: 'done', task, check } satisfies FromCheckWorker);
      })
      .catch((error: unknown) => {
        const text = error instanceof Error ? (error.stack ?? error.message) : String(error);
        post(end, { kind: 'failed', task, message: text } satisfies FromCheckWorker);
      });
  });
}

if (parentPort !== null && (workerData as { dmapropCheck?: boolean } | null)?.dmapropCheck === true) {
  serve(workerData as CheckWorkerSetup);
}
