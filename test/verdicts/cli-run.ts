/** Runs the CLI in-process with captured output (and, optionally, an environment and a registry). */
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli.js';
import type { AnyDesign } from '../../src/design.js';

export interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

export async function runCli(
  argv: readonly string[],
  options: { registry?: readonly AnyDesign[]; env?: Record<string, string> } = {},
): Promise<Ran> {
  let out = '';
  let err = '';
  const io: CliIo = {
    out: (text) => (out += text),
    err: (text) => (err += text),
    env: options.env ?? {},
  };
  const code = options.registry === undefined ? await main(argv, io) : await main(argv, io, options.registry);
  return { code, out, err };
}

/** The words of a printed `replay: dmaprop …` line, without the program name. */
export function replayArgs(out: string): string[] {
  const line = /replay: dmaprop (.*)$/m.exec(out)?.[1];
  if (line === undefined) throw new Error(`no replay line in:\n${out}`);
  return line.split(' ').map((word) => word.replace(/^'(.*)'$/, '$1'));
}
