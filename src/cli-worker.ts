/** The worker thread of the `dmaprop` process (`cli-process.ts`): runs the CLI, sends everything back. */
import { parentPort, workerData } from 'node:worker_threads';
import { main } from './cli.js';
import type { CliIo } from './cli-io.js';
import type { WorkerInput, WorkerMessage } from './cli-process.js';

const input = workerData as WorkerInput;
const port = parentPort;
if (port === null) throw new Error('cli-worker: not started as a worker thread');
const send = (message: WorkerMessage): void => port.postMessage(message);
const flag = new Int32Array(input.stop);

const io: CliIo = {
  out: (text) => send({ kind: 'out', text }),
  err: (text) => send({ kind: 'err', text }),
  ...(input.progress ? { progress: (text: string) => send({ kind: 'progress', text }) } : {}),
  shouldStop: () => Atomics.load(flag, 0) !== 0,
  started: (replay) => send({ kind: 'started', replay }),
};

send({ kind: 'exit', code: await main(input.argv, io) });
