/** Where the CLI writes, so tests can run it in-process and capture everything. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Progress output; present only when stderr is a terminal. */
  readonly progress?: (text: string) => void;
  /**
   * True once the run was asked to stop (SIGINT, SIGTERM): searches end with what they found, the
   * results are printed and marked interrupted, and the exit status is 130.
   */
  readonly shouldStop?: () => boolean;
  /** Told, before any search, how to replay the run (the seed): printed if the run is killed outright. */
  readonly started?: (replay: string) => void;
  /** The environment (`DMAPROP_SEED`, CI run ids); `process.env` when absent. */
  readonly env?: Readonly<Record<string, string | undefined>>;
}

export const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  ...(process.stderr.isTTY ? { progress: (text: string) => process.stderr.write(text) } : {}),
};

/** Bad usage: the CLI prints the message and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}
