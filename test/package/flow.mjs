#!/usr/bin/env node
// The user's flow, from an empty directory (`npm run test:package`, run by CI after `npm test`):
// pack this repository, install the tarball into a copy of examples/ (a user's repository that
// depends on dmaprop), and run what a user runs there: their vitest suite (own designs on every
// stack, an own invariant, corpus replay through dmaprop/vitest), the CLI with their config file,
// and a replay of a built-in corpus entry shipped in the package. Nothing imports from inside the
// package: the package's `exports` map refuses deep imports, and the example's sources are
// checked for them too. Each step is timed; any failure exits non-zero with the step's output.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'dmaprop-package-'));
const project = join(work, 'project');
const timings = [];

function step(name, command, args, options = {}) {
  const started = performance.now();
  let output;
  try {
    output = execFileSync(command, args, {
      cwd: options.cwd ?? project,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', ...options.env },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (error) {
    const status = error.status ?? 'signal';
    if (!(options.expectStatus !== undefined && error.status === options.expectStatus)) {
      process.stderr.write(`\n✗ ${name}: exit ${status}\n${error.stdout ?? ''}${error.stderr ?? ''}\n`);
      process.exit(1);
    }
    output = `${error.stdout ?? ''}${error.stderr ?? ''}`;
  }
  const ms = performance.now() - started;
  timings.push({ step: name, seconds: Math.round(ms / 100) / 10 });
  process.stdout.write(`✓ ${name} (${(ms / 1000).toFixed(1)} s)\n`);
  return output;
}

function sourcesOf(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules') return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourcesOf(path);
    return /\.(ts|mts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

// 0. The generated API reference in docs/api is the one the sources give.
const apiOut = join(work, 'api');
step('API reference up to date (typedoc)', 'npx', ['typedoc', '--out', apiOut], { cwd: root });
step('docs/api matches', 'diff', ['-r', apiOut, join(root, 'docs', 'api')], { cwd: root });

// 1. The package, as `npm publish` would build it (prepare runs the build).
const packed = step('npm pack', 'npm', ['pack', '--pack-destination', work, '--json'], { cwd: root });
const tarball = join(work, JSON.parse(packed)[0].filename);

// 2. A user's repository: examples/, depending on the tarball instead of the checkout.
cpSync(join(root, 'examples'), project, { recursive: true, filter: (path) => !path.includes('node_modules') });
const manifest = JSON.parse(readFileSync(join(project, 'package.json'), 'utf8'));
manifest.dependencies.dmaprop = `file:${tarball}`;
writeFileSync(join(project, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
for (const file of sourcesOf(project)) {
  const text = readFileSync(file, 'utf8');
  const deep = /from ['"]dmaprop\/(?!vitest['"])[^'"]*['"]/.exec(text);
  if (deep !== null) {
    process.stderr.write(`✗ ${file} imports from inside the package: ${deep[0]}\n`);
    process.exit(1);
  }
}
step('npm install (tarball + the example’s dependencies)', 'npm', ['install', '--prefer-offline', '--no-package-lock']);

// 3. What a user runs.
step('the example’s vitest suite', 'npx', ['vitest', 'run']);
step('dmaprop designs --config', 'npx', ['dmaprop', 'designs', '--config', 'dmaprop.config.ts']);
const checked = step('dmaprop check --config (own designs, fixed seed)', 'npx', [
  'dmaprop',
  'check',
  '--config',
  'dmaprop.config.ts',
  '--design',
  ...manifest.dmapropExample.designs,
  '--seed',
  '1',
  '--json',
]);
const results = JSON.parse(checked).results;
for (const result of results) {
  if (result.outcome !== 'met') {
    process.stderr.write(`✗ ${result.design}: ${result.verdict}, ${result.reason}\n`);
    process.exit(1);
  }
}
const corpus = join(project, 'node_modules', 'dmaprop', 'test', 'regressions');
const entry = join(
  corpus,
  'xengt',
  readdirSync(join(corpus, 'xengt')).find((name) => name.startsWith('xen-lookup--no-dma-to-foreign')),
);
step('dmaprop replay (an entry of the built-in corpus, from the package)', 'npx', ['dmaprop', 'replay', entry]);
step('dmaprop check --help', 'npx', ['dmaprop', 'check', '--help']);

rmSync(work, { recursive: true, force: true });
process.stdout.write(`\n${JSON.stringify({ timings }, null, 2)}\n`);
