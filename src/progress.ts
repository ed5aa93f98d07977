/**
 * A one-line progress display for long runs, on a terminal only: it rewrites itself with `\r`
 * at most every 100 ms and is cleared when the run ends. Off a terminal it writes nothing.
 */
export interface Progress {
  update(text: string): void;
  done(): void;
}

const silent: Progress = { update: () => undefined, done: () => undefined };

export function terminalProgress(write: ((text: string) => void) | undefined, intervalMs = 100): Progress {
  if (write === undefined) return silent;
  let last = 0;
  let shown = 0;
  return {
    update(text) {
      const now = Date.now();
      if (now - last < intervalMs) return;
      last = now;
      const line = text.slice(0, 100);
      write(`\r${line.padEnd(shown)}`);
      shown = line.length;
    },
    done() {
      if (shown > 0) write(`\r${' '.repeat(shown)}\r`);
      shown = 0;
      last = 0;
    },
  };
}
