/** The CLI's verdicts: one exit status per way a run ends, and replay lines that reproduce the run. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { SEED_MAX } from '../../src/seed.js';
import { runCli, replayArgs } from './cli-run.js';
import { resetNeverRuns, soundCounter, stepThrows, wrongDeclaration } from './fixtures.js';

interface CheckJson {
  seed: number;
  interrupted: boolean;
  results: {
    design: string;
    verdict: string;
    outcome: string;
    runs: number;
    lastRun: number;
    replay: string;
    crash: { site: string; name: string; message: string; stack: string; steps: unknown[] } | null;
  }[];
}

const toys = [soundCounter, stepThrows, wrongDeclaration, resetNeverRuns];

describe('exit statuses', () => {
  test('a crash exits 3 and is reported with its error, stack and shrunk steps', async () => {
    const { code, out } = await runCli(['check', '--design', 'toy/step-throws', '--seed', '7', '--runs', '300'], {
      registry: toys,
    });
    expect(code).toBe(3);
    expect(out).toContain('toy/step-throws [Counter] expected holds, crashed ✗ CRASHED');
    expect(out).toMatch(/✗ crashed at step \d \(step\)/);
    expect(out).toContain('TypeError: counter reached 3');
    expect(out).toMatch(/^ {6}at /m);
    expect(out).toContain('1 crashed (toy/step-throws)');
    const json = JSON.parse(
      (
        await runCli(['check', '--design', 'toy/step-throws', '--seed', '7', '--runs', '300', '--json'], {
          registry: toys,
        })
      ).out,
    ) as CheckJson;
    expect(json.results[0]!.crash).toMatchObject({ site: 'step', name: 'TypeError', message: 'counter reached 3' });
    expect(json.results[0]!.crash!.stack).toContain('TypeError: counter reached 3');
  });

  test('a declaration the design does not live up to exits 1', async () => {
    const { code, out } = await runCli(['check', '--design', 'toy/wrong-declaration', '--seed', '7', '--runs', '300'], {
      registry: toys,
    });
    expect(code).toBe(1);
    expect(out).toContain('violated ✗ UNEXPECTED');
    expect(out).toContain('declared breaks not found in 300 runs: at-most-four');
    expect(out).toContain('also broke, not declared in breaks: below-three, no-add-two-from-one, starts-above-zero');
  });

  test('an undecided search exits 4; a crash outranks it, and an unmet expectation outranks that', async () => {
    const undecided = await runCli(['check', '--design', 'toy/reset-never-runs', '--seed', '7', '--runs', '100'], {
      registry: toys,
    });
    expect(undecided.code).toBe(4);
    expect(undecided.out).toContain('inconclusive ? INCONCLUSIVE');
    expect(undecided.out).toContain('1 command kind never executed in 100 runs: reset');
    const argv = ['check', '--seed', '7', '--runs', '300'];
    expect((await runCli(argv, { registry: [resetNeverRuns, wrongDeclaration] })).code).toBe(1);
    expect((await runCli(argv, { registry: [resetNeverRuns, wrongDeclaration, stepThrows] })).code).toBe(3);
    expect((await runCli(argv, { registry: [soundCounter] })).code).toBe(0);
  });

  test('a malformed declaration is bad usage, before any search', async () => {
    const silent = { ...wrongDeclaration, id: 'toy/silent', breaks: [] };
    const { code, err } = await runCli(['check', '--runs', '1000000', '--seed', '1'], { registry: [silent] });
    expect(code).toBe(2);
    expect(err).toContain('toy/silent: a flawed design must declare the invariants it breaks');
  });

  test('--help lists every exit status', async () => {
    const { out } = await runCli(['check', '--help']);
    for (const status of ['0 ', '1 ', '2 ', '3 ', '4 ', '130 ']) expect(out).toContain(`\n  ${status}`);
  });
});

describe('crashes in the corpus', () => {
  test('--save stores the shrunk crash; replay shows it and says it reproduces', async () => {
    const corpus = mkdtempSync(join(tmpdir(), 'dmaprop-crash-'));
    const saved = await runCli(
      ['check', '--design', 'toy/step-throws', '--seed', '7', '--runs', '300', '--save', '--corpus', corpus, '--json'],
      { registry: toys },
    );
    expect(saved.code).toBe(3);
    const [outcome] = (JSON.parse(saved.out) as { saved: { path: string; status: string }[] }).saved;
    expect(outcome!.status).toBe('added');
    expect(outcome!.path).toMatch(/counter\/toy-step-throws--crash-step--[0-9a-f]{16}\.json$/);
    const replayed = await runCli(['replay', outcome!.path], { registry: toys });
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain('toy/step-throws [Counter], crash in step: expect crash');
    expect(replayed.out).toMatch(/crashed at step \d \(step\): TypeError: counter reached 3/);
    expect(replayed.out).toContain('✓ reproduces the recorded outcome');
    const snippet = await runCli(['replay', outcome!.path, '--ts'], { registry: toys });
    expect(snippet.out).toContain('invariants: []');
  });

  test('replay refuses a FIFO at once instead of waiting on it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'dmaprop-fifo-'));
    const fifo = join(dir, 'entry.json');
    execFileSync('mkfifo', [fifo]);
    const { code, err } = await runCli(['replay', fifo]);
    expect(code).toBe(2);
    expect(err).toContain(`cannot read ${fifo}`);
  });
});

describe('replay lines', () => {
  test('carry every option that shaped the run, and replaying them gives the same results', async () => {
    const argv = ['check', '--design', 'xen/lookup', '--seed', '4', '--runs', '150', '--max-commands', '30', '--json'];
    const first = JSON.parse((await runCli(argv)).out) as CheckJson;
    const replay = first.results[0]!.replay;
    expect(replay).toBe('dmaprop check --design xen/lookup --seed 4 --runs 150 --max-commands 30');
    const again = JSON.parse((await runCli([...replay.split(' ').slice(1), '--json'])).out) as CheckJson;
    const strip = (json: CheckJson): unknown =>
      JSON.parse(JSON.stringify(json.results, (key, value: unknown) => (key === 'elapsedMs' ? undefined : value)));
    expect(strip(again)).toEqual(strip(first));
  });

  test('a run cut short by its time limit replays over the runs it made, without the limit', async () => {
    const { out } = await runCli(
      ['check', '--design', 'toy/wrong-declaration', '--seed', '3', '--runs', '10000000', '--time-limit', '0.05'],
      { registry: toys },
    );
    const args = replayArgs(out);
    expect(args).not.toContain('--time-limit');
    const runs = Number(args[args.indexOf('--runs') + 1]);
    expect(runs).toBeGreaterThan(0);
    expect(runs).toBeLessThan(10_000_000);
  });

  test('a sharded run replays with its shard', async () => {
    const { out } = await runCli(['check', '--design', 'xen/lookup', '--seed', '4', '--runs', '100', '--shard', '2/3']);
    expect(replayArgs(out)).toEqual([
      'check',
      '--design',
      'xen/lookup',
      '--seed',
      '4',
      '--runs',
      '100',
      '--shard',
      '2/3',
    ]);
  });

  test('seeds past the largest are refused before anything runs, so no printed seed is refused on replay', async () => {
    const { code, err } = await runCli(['check', '--seed', String(SEED_MAX), '--seeds', '2']);
    expect(code).toBe(2);
    expect(err).toContain(`use a first seed of at most ${SEED_MAX - 1}`);
    expect((await runCli(['check', '--seed', String(SEED_MAX + 1)])).code).toBe(2);
  });
});

describe('every design in the registry is checked, none is left out', () => {
  test('designs and check agree on the registry', async () => {
    const listed = JSON.parse((await runCli(['designs', '--json'])).out) as { id: string }[];
    expect(listed.map((row) => row.id)).toEqual(designs.map((design) => design.id));
  });
});
