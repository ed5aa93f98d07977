/**
 * Results are never lost after the work is done: output paths are checked before any search, and
 * a write that still fails comes after the results are printed.
 */
import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { runCli } from './cli-run.js';

function scratch(): string {
  return mkdtempSync(join(tmpdir(), 'dmaprop-out-'));
}

describe('output paths are checked before the search', () => {
  const dir = scratch();
  const file = join(dir, 'a-file');
  writeFileSync(file, 'not a directory\n');
  const loop = join(dir, 'loop');
  symlinkSync(loop, loop);
  const dangling = join(dir, 'dangling');
  symlinkSync(join(dir, 'nowhere', 'at', 'all'), dangling);

  test.for([
    { path: file, problem: 'is not a directory' },
    { path: join(file, 'below'), problem: 'is not a directory' },
    { path: loop, problem: 'symbolic link loop' },
    { path: dangling, problem: 'dangling symbolic link' },
    { path: '/proc/dmaprop-corpus', problem: 'cannot write in /proc' },
    { path: '/sys/dmaprop-corpus', problem: 'cannot write in /sys' },
  ])('check --save --corpus $path: exit 2, "$problem", nothing searched', async ({ path, problem }) => {
    // A budget that would take minutes: the refusal must come first.
    const argv = ['check', '--design', 'xen/lookup', '--runs', '1000000', '--seed', '1', '--save', '--corpus', path];
    const { code, out, err } = await runCli(argv);
    expect(code).toBe(2);
    expect(err).toContain(`--corpus ${path}`);
    expect(err).toContain(problem);
    expect(out).toBe('');
  });

  test('explore --save checks its corpus too', async () => {
    const { code, err } = await runCli([
      'explore',
      '--design',
      'xen/lookup',
      '--depth',
      '9',
      '--save',
      '--corpus',
      file,
    ]);
    expect(code).toBe(2);
    expect(err).toContain('is not a directory');
  });

  test.for([
    { path: dir, problem: 'not a regular file' },
    { path: join(file, 'results.json'), problem: 'is not a directory' },
    { path: '/proc/self/dmaprop.json', problem: 'cannot write' },
  ])('bench --out $path: exit 2, "$problem"', async ({ path, problem }) => {
    const { code, err } = await runCli(['bench', '--quick', '--no-suite', '--out', path]);
    expect(code).toBe(2);
    expect(err).toContain(problem);
  });

  test('a corpus that does not exist yet is fine: it is created when the first entry is saved', async () => {
    const fresh = join(scratch(), 'new', 'corpus');
    const argv = ['check', '--design', 'vfio/noiommu', '--runs', '20', '--seed', '1', '--save', '--corpus', fresh];
    const { code, out } = await runCli(argv);
    expect(code).toBe(0);
    expect(out).toContain('added');
  });
});

describe('a save that fails after the search', () => {
  test('prints the results first, then the error, and exits 2', async () => {
    const corpus = scratch();
    // The stack's directory is taken by a file: the corpus passes the check, the save fails.
    writeFileSync(join(corpus, 'passthrough'), 'in the way\n');
    mkdirSync(join(corpus, 'elsewhere'));
    const argv = [
      'check',
      '--design',
      'vfio/noiommu',
      '--runs',
      '20',
      '--seed',
      '1',
      '--save',
      '--corpus',
      corpus,
      '--json',
    ];
    const { code, out, err } = await runCli(argv);
    expect(code).toBe(2);
    const json = JSON.parse(out) as { results: { violations: unknown[] }[]; saveError: string };
    expect(json.results[0]!.violations.length).toBeGreaterThan(0);
    expect(json.saveError).toContain('cannot save to the corpus');
    expect(err).toContain('cannot save to the corpus');
  });
});
