/**
 * The `dmaprop` command line. Exit codes: 0 when every checked design met its expectation,
 * 1 when one did not, 2 on bad usage (unknown flag, bad value, unknown design).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { designs } from '../properties/registry.js';
import { checkDesign } from './check.js';
import type { DesignCheck } from './check.js';
import type { AnyDesign } from './design.js';
import { checkJson, formatDesignCheck, formatSummary } from './report.js';
import { SEED_MAX, freshSeed } from './seed.js';

export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
}

const processIo: CliIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
};

export const DEFAULT_RUNS = 1000;

class UsageError extends Error {}

function integer(name: string, min: number, max: number): (value: string) => number {
  return (value) => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`${name} must be a whole number, got '${value}'`);
    const parsed = Number(value);
    if (parsed < min || parsed > max) throw new InvalidArgumentError(`${name} must be between ${min} and ${max}`);
    return parsed;
  };
}

function seconds(value: string): number {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed) || parsed <= 0) {
    throw new InvalidArgumentError(`time limit must be a positive number of seconds, got '${value}'`);
  }
  return parsed;
}

interface CheckFlags {
  readonly design?: string[];
  readonly runs: number;
  readonly seed?: number;
  readonly timeLimit?: number;
  readonly maxCommands?: number;
  readonly json?: boolean;
}

function selectDesigns(registry: readonly AnyDesign[], ids: readonly string[] | undefined): AnyDesign[] {
  if (ids === undefined || ids.length === 0) return [...registry];
  return ids.map((id) => {
    const design = registry.find((known) => known.id === id);
    if (design === undefined) {
      throw new UsageError(`unknown design '${id}' (known: ${registry.map((known) => known.id).join(', ')})`);
    }
    return design;
  });
}

function runCheck(flags: CheckFlags, io: CliIo, registry: readonly AnyDesign[]): number {
  const selected = selectDesigns(registry, flags.design);
  const seed = flags.seed ?? freshSeed();
  if (flags.json !== true) io.out(`dmaprop check: seed ${seed}, ${flags.runs} runs per design\n\n`);
  const checks: DesignCheck[] = [];
  for (const design of selected) {
    const check = checkDesign(design, {
      seed,
      runs: flags.runs,
      ...(flags.timeLimit === undefined ? {} : { timeLimitMs: flags.timeLimit * 1000 }),
      ...(flags.maxCommands === undefined ? {} : { generation: { maxCommands: flags.maxCommands } }),
    });
    checks.push(check);
    if (flags.json !== true) io.out(`${formatDesignCheck(check, design)}\n\n`);
  }
  if (flags.json === true) io.out(`${JSON.stringify(checkJson(checks), null, 2)}\n`);
  else io.out(`${formatSummary(checks)}\n`);
  return checks.every((check) => check.met) ? 0 : 1;
}

function runDesigns(flags: { json?: boolean }, io: CliIo, registry: readonly AnyDesign[]): number {
  const rows = registry.map((design) => ({
    id: design.id,
    stack: design.stack,
    expected: design.expected,
    description: design.description,
  }));
  if (flags.json === true) {
    io.out(`${JSON.stringify(rows, null, 2)}\n`);
    return 0;
  }
  const width = Math.max(...rows.map((row) => row.id.length));
  for (const row of rows)
    io.out(`${row.id.padEnd(width)}  ${row.stack.padEnd(8)} ${row.expected.padEnd(8)}  ${row.description}\n`);
  return 0;
}

function program(io: CliIo, registry: readonly AnyDesign[], setExit: (code: number) => void): Command {
  const root = new Command('dmaprop')
    .description('Property-based verification of DMA isolation under virtualization')
    .showHelpAfterError()
    .configureOutput({ writeOut: io.out, writeErr: io.err })
    .exitOverride();
  root
    .command('designs')
    .description('list the registered designs with their stack and expected verdict')
    .option('--json', 'print JSON: [{ id, stack, expected, description }]')
    .action((flags: { json?: boolean }) => setExit(runDesigns(flags, io, registry)));
  root
    .command('check')
    .description('check designs against every invariant; exit 0 when each meets its expectation')
    .option('-d, --design <id...>', 'design ids to check (default: all)')
    .addOption(
      new Option('-r, --runs <n>', 'sequences generated per design')
        .default(DEFAULT_RUNS)
        .argParser(integer('runs', 1, 10_000_000)),
    )
    .addOption(
      new Option('-s, --seed <n>', 'seed (default: a fresh one, printed)').argParser(integer('seed', 0, SEED_MAX)),
    )
    .addOption(new Option('--time-limit <seconds>', 'wall-clock limit per search').argParser(seconds))
    .addOption(
      new Option('--max-commands <n>', 'longest command sequence generated').argParser(
        integer('max-commands', 1, 10_000),
      ),
    )
    .option('--json', 'print JSON: { results: [...] }')
    .action((flags: CheckFlags) => setExit(runCheck(flags, io, registry)));
  return root;
}

/** Runs the CLI; `registry` defaults to the built-in designs (tests and embedders may pass their own). */
export async function main(
  argv: readonly string[],
  io: CliIo = processIo,
  registry: readonly AnyDesign[] = designs,
): Promise<number> {
  let code = 0;
  try {
    await program(io, registry, (exit) => (code = exit)).parseAsync([...argv], { from: 'user' });
    return code;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0; everything else is bad usage.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UsageError) {
      io.err(`dmaprop: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
}
