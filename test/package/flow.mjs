#!/usr/bin/env node
// The user's flow, from an empty directory (`npm run test:package`, run by CI after `npm test`):
// pack this repository, install the tarball into a copy of examples/ (a user's repository that
// depends on dmaprop), and run what a user runs there: the type check against the package's
// published types, their vitest suite (own designs on every stack, own invariants, their corpus
// and the built-in one replayed through dmaprop/vitest), the CLI with their config file (designs,
// check of each of their designs, replay of one of their corpus entries), and a replay of a
// built-in corpus entry shipped in the package. Nothing imports from inside the package: the
// package's `exports` map refuses deep imports, and the example's sources are checked for them
// too. Each step is timed and a JSON summary printed; any failure exits non-zero with the step's
// output and leaves the working directory for a look.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const work = mkdtempSync(join(tmpdir(), 'dmaprop-package-'));
const project = join(work, 'project');
const timings = [];
const started = performance.now();

/** The stacks the example must cover, one design of its own at least on each. */
const STACKS = ['XenGT', 'KVMGT', 'passthrough', 'mediated', 'vIOMMU'];

function fail(message) {
  process.stderr.write(`\n✗ ${message}\n(working directory kept: ${work})\n`);
  process.exit(1);
}

function step(name, command, args, options = {}) {
  const begun = performance.now();
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
    fail(`${name}: exit ${error.status ?? error.signal}\n${error.stdout ?? ''}${error.stderr ?? ''}`);
  }
  const ms = performance.now() - begun;
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

function filesOf(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesOf(join(dir, entry.name)) : [join(dir, entry.name)],
  );
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
  if (deep !== null) fail(`${file} imports from inside the package: ${deep[0]}`);
}
step('npm install (tarball + the example’s dependencies)', 'npm', ['install', '--prefer-offline', '--no-package-lock']);

// 3. What a user runs.
step('tsc --noEmit (the example against the published types)', 'npx', ['tsc', '--noEmit']);
step('the example’s vitest suite', 'npx', ['vitest', 'run']);

const listed = step('dmaprop designs --config', 'npx', [
  'dmaprop',
  'designs',
  '--config',
  'dmaprop.config.ts',
  '--json',
]);
const builtIn = new Set(
  JSON.parse(
    execFileSync(
      'node',
      [
        '--input-type=module',
        '-e',
        "import { designs } from 'dmaprop'; console.log(JSON.stringify(designs.map((d) => d.id)))",
      ],
      { cwd: project, encoding: 'utf8' },
    ),
  ),
);
const own = JSON.parse(listed).filter((row) => !builtIn.has(row.id));
const missing = STACKS.filter((stack) => !own.some((row) => row.stack === stack));
if (missing.length > 0) fail(`the example's config has no design on ${missing.join(', ')}`);

// On two worker threads: each loads the config itself (the installed package's check-worker.js).
const checked = step('dmaprop check --config --jobs 2 (each own design, seed 1, 1000 runs)', 'npx', [
  'dmaprop',
  'check',
  '--config',
  'dmaprop.config.ts',
  '--design',
  ...own.map((row) => row.id),
  '--seed',
  '1',
  '--jobs',
  '2',
  '--json',
]);
const results = JSON.parse(checked).results;
for (const result of results) {
  if (result.outcome !== 'met') fail(`${result.design}: ${result.verdict}, not met\n${checked}`);
}
if (results.length !== own.length) fail(`checked ${results.length} designs of ${own.length}`);

const ownEntries = filesOf(join(project, 'corpus')).filter((path) => path.endsWith('.json'));
if (ownEntries.length === 0) fail('the example has no corpus entry');
step('dmaprop replay --config (an entry of the example’s corpus)', 'npx', [
  'dmaprop',
  'replay',
  relative(project, ownEntries[0]),
  '--config',
  'dmaprop.config.ts',
]);
const corpus = join(project, 'node_modules', 'dmaprop', 'test', 'regressions');
const entry = join(
  corpus,
  'xengt',
  readdirSync(join(corpus, 'xengt')).find((name) => name.startsWith('xen-lookup--no-dma-to-foreign')),
);
step('dmaprop replay (an entry of the built-in corpus, from the package)', 'npx', ['dmaprop', 'replay', entry]);

rmSync(work, { recursive: true, force: true });
const summary = {
  seconds: Math.round((performance.now() - started) / 100) / 10,
  timings,
  designs: results.map((result) => ({
    design: result.design,
    verdict: result.verdict,
    outcome: result.outcome,
    seconds: Math.round(result.elapsedMs / 100) / 10,
  })),
  corpusEntries: ownEntries.length,
};
process.stdout.write(`\n${JSON.stringify(summary, null, 2)}\n`);
