/** Where the CLI writes, so tests can run it in-process and capture everything. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Progress output; present only when stderr is a terminal. */
  readonly progress?: (text: string) => void;
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
