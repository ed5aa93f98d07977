/**
 * The CLI loads a user's designs from a config file and treats them exactly like built-in ones:
 * check, explore, replay, and every printed replay line works.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';
import { designs } from '../../properties/registry.js';
import { loadConfig } from '../../src/config.js';
import { runCli, replayArgs } from '../verdicts/cli-run.js';

// The config imports the built package, as a user's `import … from 'dmaprop'` does (`npm test`
// builds it first); jiti compiles only the config itself.
const api = resolve('dist/src/index.js');

function configDir(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'dmaprop-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

/** A TypeScript config, as a user writes it. */
const userConfig = `
import { defineConfig, xenGtDesign } from ${JSON.stringify(api)};
import type { XenGtDesign } from ${JSON.stringify(api)};

const leakyTeardown: XenGtDesign = xenGtDesign({
  id: 'mine/leaky-teardown',
  backend: 'map',
  bugs: ['vgpu-destroy-skips-unmap'],
  expected: 'violates',
  description: 'vGPU destruction leaves its mappings behind',
  breaks: ['backend-mappings-match-shadow', 'no-vgpu-no-backend-mappings'],
});

export default defineConfig({ designs: [leakyTeardown] });
`;

describe('--config', () => {
  const dir = configDir({ 'dmaprop.config.ts': userConfig });
  const config = join(dir, 'dmaprop.config.ts');

  test('a TypeScript config adds its designs to designs and check; the replay line names the config', async () => {
    const listed = await runCli(['designs', '--json', '--config', config]);
    expect(listed.code).toBe(0);
    const ids = (JSON.parse(listed.out) as { id: string }[]).map((row) => row.id);
    expect(ids).toEqual([...designs.map((design) => design.id), 'mine/leaky-teardown']);
    const checked = await runCli([
      'check',
      '--config',
      config,
      '--design',
      'mine/leaky-teardown',
      '--seed',
      '1',
      '--runs',
      '300',
    ]);
    expect(checked.code).toBe(0);
    expect(checked.out).toContain('mine/leaky-teardown [XenGT] expected violates, violated ✓');
    const args = replayArgs(checked.out);
    expect(args.slice(0, 3)).toEqual(['check', '--config', config]);
    const replayed = await runCli(args);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain('mine/leaky-teardown [XenGT] expected violates, violated ✓ — 300 runs, seed 1');
  });

  test('saved entries of a config design replay with the same config', async () => {
    const corpus = mkdtempSync(join(tmpdir(), 'dmaprop-config-corpus-'));
    const argv = ['check', '--config', config, '--design', 'mine/leaky-teardown', '--seed', '1', '--runs', '300'];
    const saved = await runCli([...argv, '--save', '--corpus', corpus, '--json']);
    const paths = (JSON.parse(saved.out) as { saved: { path: string }[] }).saved.map((outcome) => outcome.path);
    expect(paths.length).toBe(2);
    const replayed = await runCli(['replay', paths[0]!, '--config', config]);
    expect(replayed.code).toBe(0);
    expect(replayed.out).toContain('✓ reproduces the recorded outcome');
    const snippet = await runCli(['replay', paths[0]!, '--ts', '--config', config]);
    expect(snippet.out).toContain(`import config from ${JSON.stringify(config)};`);
    expect(snippet.out).toContain(`config.designs.find((known) => known.id === "mine/leaky-teardown")`);
    const without = await runCli(['replay', paths[0]!]);
    expect(without.code).toBe(2);
    expect(without.err).toContain("unknown design 'mine/leaky-teardown'");
  });

  test("designs --json lists each design's invariants and breaks; --design takes wildcards", async () => {
    const listed = await runCli(['designs', '--json', '--config', config]);
    const mine = (JSON.parse(listed.out) as { id: string; breaks: string[]; invariants: { name: string }[] }[]).find(
      (row) => row.id === 'mine/leaky-teardown',
    );
    expect(mine!.breaks).toEqual(['backend-mappings-match-shadow', 'no-vgpu-no-backend-mappings']);
    expect(mine!.invariants.map((invariant) => invariant.name)).toContain('no-vgpu-no-backend-mappings');
    const own = await runCli([
      'check',
      '--config',
      config,
      '--design',
      'mine/*',
      '--seed',
      '1',
      '--runs',
      '300',
      '--json',
    ]);
    expect((JSON.parse(own.out) as { results: { design: string }[] }).results.map((result) => result.design)).toEqual([
      'mine/leaky-teardown',
    ]);
    const none = await runCli(['check', '--config', config, '--design', 'nobody/*']);
    expect(none.code).toBe(2);
    expect(none.err).toContain("unknown design 'nobody/*'");
  });

  test('found in the working directory without --config', async () => {
    const loaded = await loadConfig(undefined, designs, dir);
    expect(loaded.file).toBe('dmaprop.config.ts');
    expect(loaded.designs.map((design) => design.id)).toEqual(['mine/leaky-teardown']);
    expect(await loadConfig(undefined, designs, tmpdir())).toEqual({ file: null, designs: [] });
  });

  test.for([
    {
      name: 'clash.mjs',
      text: `export default { designs: [{ id: 'xen/map', stack: 'x', expected: 'holds', breaks: [], init() {}, step() {}, resolve() {}, commands: {}, invariants: [] }] };`,
      problem: "design id 'xen/map' is already taken by a built-in design",
    },
    { name: 'junk.mjs', text: `export default { designs: [42] };`, problem: 'designs[0] is not a design' },
    { name: 'none.mjs', text: `export const other = 1;`, problem: 'exports no designs' },
    { name: 'broken.mjs', text: `export default {`, problem: 'cannot be loaded' },
    {
      name: 'silent.mjs',
      text: `export default { designs: [{ id: 'mine/x', stack: 'x', expected: 'violates', breaks: [], init() {}, step() {}, resolve() {}, commands: {}, invariants: [] }] };`,
      problem: 'a flawed design must declare the invariants it breaks',
    },
  ])('$name: exit 2, "$problem"', async ({ name, text, problem }) => {
    const file = join(configDir({ [name]: text }), name);
    const { code, err } = await runCli(['check', '--config', file, '--runs', '1000000']);
    expect(code).toBe(2);
    expect(err).toContain(`config ${file}: `);
    expect(err).toContain(problem);
  });

  test('a config that does not exist is bad usage', async () => {
    const { code, err } = await runCli(['designs', '--config', '/nonexistent/dmaprop.config.ts']);
    expect(code).toBe(2);
    expect(err).toContain('no such file');
  });
});
