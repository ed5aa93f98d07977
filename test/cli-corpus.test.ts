/** The CLI's corpus verbs and CI flags: replay, --save, --stats, --seeds/--shard, progress. */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { main } from '../src/cli.js';
import type { CliIo } from '../src/cli.js';
import { planShard } from '../src/shard.js';
import { savedLookupEntry, temporaryCorpus } from './corpus/corpus-fixture.js';

async function run(
  argv: string[],
  withProgress = false,
): Promise<{ code: number; out: string; err: string; progress: string }> {
  let out = '';
  let err = '';
  let progress = '';
  const io: CliIo = {
    out: (text) => (out += text),
    err: (text) => (err += text),
    ...(withProgress ? { progress: (text: string) => (progress += text) } : {}),
  };
  const code = await main(argv, io);
  return { code, out, err, progress };
}

const root = temporaryCorpus();
const { path } = savedLookupEntry(root);

describe('dmaprop replay', () => {
  test('prints each step with the frames and GTT entry it touched, and the violation', async () => {
    const { code, out } = await run(['replay', path]);
    expect(code).toBe(0);
    // The shadow entry holds the lookup's DMA address: the raw mfn.
    expect(out).toMatch(/1\. guest writes GTT entry 0 → gfn 0 {2}→ ok shadow=(\d+)\n {9}mfn \1: owned by dom1/);
    expect(out).toMatch(/mfn \d+: free, refcount 0, held by no holder/);
    expect(out).toMatch(/mfn \d+: owned by dom0, refcount 1, held by allocation at dom0 gfn 2/);
    expect(out).toContain('violated after step 4: GPU DMA through GTT entry 0 landed in mfn');
    expect(out).toContain('✓ reproduces the recorded outcome');
  });

  test('a VFIO entry shows the pinned frame, its holders and the device pins', async () => {
    const file = 'test/regressions/mediated/mdev-ignores-unmap--no-kernel-crash--3797a8da188d73ba.json';
    const { code, out } = await run(['replay', file]);
    expect(code).toBe(0);
    expect(out).toMatch(
      /mfn \d+: owned by the guest, refcount 2, held by process page at vaddr page 16, external pin of iova page 0/,
    );
    expect(out).toContain('device 0 (mdev) pins iova pages 0');
    expect(out).toContain('violated after step 3: kernel BUG_ON in vfio_dma_do_unmap');
  });

  test('--json gives the steps, their state and the violation', async () => {
    const { code, out } = await run(['replay', path, '--json']);
    expect(code).toBe(0);
    const replay = JSON.parse(out) as {
      reproduces: boolean;
      steps: { state: string[] }[];
      violation: { afterStep: number };
    };
    expect(replay.reproduces).toBe(true);
    expect(replay.steps).toHaveLength(4);
    expect(replay.steps[3]!.state.some((line) => line.startsWith('GTT entry 0:'))).toBe(true);
    expect(replay.violation.afterStep).toBe(4);
  });

  test('--ts prints a snippet that replays the entry through the public API', async () => {
    const { code, out } = await run(['replay', path, '--ts']);
    expect(code).toBe(0);
    // The snippet is plain JavaScript too: run it from inside the package so 'dmaprop' resolves to the build.
    const dir = join(process.cwd(), '.snippets');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `replay-${process.pid}.mjs`);
    writeFileSync(file, out);
    try {
      const printed = execFileSync(process.execPath, [file], { encoding: 'utf8' });
      expect(printed).toContain('violated after step 4: GPU DMA through GTT entry 0 landed in mfn');
    } finally {
      rmSync(file);
    }
  });

  test('a malformed entry is bad input: exit 2, naming the file and the field', async () => {
    const bad = join(root, 'bad.json');
    writeFileSync(bad, JSON.stringify({ format: 'dmaprop-regression', formatVersion: 1 }));
    const { code, err } = await run(['replay', bad]);
    expect(code).toBe(2);
    expect(err).toBe(`dmaprop: ${bad}: design: missing\n`);
  });

  test('a missing file is bad input', async () => {
    const { code, err } = await run(['replay', join(root, 'nope.json')]);
    expect(code).toBe(2);
    expect(err).toContain('cannot read');
  });
});

describe('dmaprop check for CI', () => {
  test('--save --json lists what was saved', async () => {
    const corpus = temporaryCorpus();
    const { code, out } = await run([
      'check',
      '--design',
      'xen/lookup',
      '--seed',
      '9',
      '--runs',
      '300',
      '--save',
      '--corpus',
      corpus,
      '--json',
    ]);
    expect(code).toBe(0);
    const { saved } = JSON.parse(out) as { saved: { path: string; status: string }[] };
    expect(saved.length).toBeGreaterThan(0);
    expect(saved.every((outcome) => outcome.status === 'added')).toBe(true);
    expect(readdirSync(join(corpus, 'xengt'))).toHaveLength(saved.length);
  });

  test('--stats prints per-kind counts; --json carries them', async () => {
    const human = await run(['check', '--design', 'xen/map', '--seed', '5', '--runs', '50', '--stats']);
    expect(human.out).toMatch(/mapGrantRef\s+\d+\s+\d+\s+\d+ \(GNTST_/);
    expect(human.out).toContain('sequence length: min');
    const json = await run(['check', '--design', 'xen/map', '--seed', '5', '--runs', '50', '--stats', '--json']);
    const [result] = (
      JSON.parse(json.out) as { results: { stats: { commands: Record<string, { generated: number }> } }[] }
    ).results;
    expect(Object.keys(result!.stats.commands)).toContain('gpuDma');
  });

  test('--seeds with --shard i/n: the shards together run exactly the seeds of the whole', async () => {
    const whole = await run(['check', '--design', 'xen/map', '--seed', '40', '--seeds', '5', '--runs', '5', '--json']);
    const seedsOf = (out: string): number[] =>
      (JSON.parse(out) as { results: { seed: number }[] }).results.map((result) => result.seed);
    const shards = await Promise.all(
      [1, 2, 3].map((index) =>
        run([
          'check',
          '--design',
          'xen/map',
          '--seed',
          '40',
          '--seeds',
          '5',
          '--runs',
          '5',
          '--shard',
          `${index}/3`,
          '--json',
        ]),
      ),
    );
    expect(seedsOf(whole.out)).toEqual([40, 41, 42, 43, 44]);
    expect(shards.map((shard) => seedsOf(shard.out))).toEqual([[40, 43], [41, 44], [42]]);
    expect(planShard(40, 5, 5, { index: 2, count: 3 }).seeds).toEqual([41, 44]);
  });

  test.for([
    [['check', '--shard', '0/2'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['check', '--shard', '3/2'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['check', '--shard', 'half'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['check', '--seeds', '0'], 'seeds must be between 1'],
    [['replay'], "missing required argument 'file'"],
    [['replay', 'a.json', '--loud'], "unknown option '--loud'"],
  ] as const)('%j → exit 2', async ([argv, message]) => {
    const { code, err } = await run([...argv]);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  test('progress goes to the terminal only, and is cleared when done', async () => {
    // The first update is shown at once (later ones at most every 100 ms): 100 runs suffice.
    const silent = await run(['check', '--design', 'xen/map', '--seed', '1', '--runs', '100']);
    expect(silent.err).toBe('');
    const shown = await run(['check', '--design', 'xen/map', '--seed', '1', '--runs', '100'], true);
    expect(shown.progress).toMatch(/\rxen\/map seed 1: \d+\/100 runs/);
    expect(shown.progress.endsWith('\r')).toBe(true);
    // Progress never leaks into stdout: the report is the same, timings aside.
    const withoutTimings = (text: string): string => text.replace(/\d+(\.\d+)? (ms|s)\b/g, 'T');
    expect(withoutTimings(shown.out)).toBe(withoutTimings(silent.out));
  });

  test('every verb has --help', async () => {
    for (const verb of ['designs', 'check', 'replay']) {
      const { code, out } = await run([verb, '--help']);
      expect(code).toBe(0);
      expect(out).toContain(`Usage: dmaprop ${verb}`);
    }
  });
});
