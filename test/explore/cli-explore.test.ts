/** `dmaprop explore`: the JSON contract, exit codes, usage errors, --save into the corpus, progress. */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli.js';
import { replayCorpus } from '../../src/corpus.js';
import type { AnyDesign } from '../../src/design.js';
import { designs } from '../../properties/registry.js';
import { xenGtDesign } from '../../properties/xengt/design.js';
import { xenMap } from '../../properties/xengt/designs.js';
import { temporaryCorpus } from '../corpus/corpus-fixture.js';
import { counterDesign } from './counter-design.js';

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
  readonly progress: string;
}

async function run(
  argv: string[],
  options: { registry?: readonly AnyDesign[]; terminal?: boolean } = {},
): Promise<Ran> {
  let out = '';
  let err = '';
  let progress = '';
  const io: CliIo = {
    out: (text) => (out += text),
    err: (text) => (err += text),
    ...(options.terminal === true ? { progress: (text: string) => (progress += text) } : {}),
  };
  const code = await main(argv, io, options.registry ?? designs);
  return { code, out, err, progress };
}

interface ExploreJson {
  results: {
    design: string;
    depth: number;
    depthReached: number;
    states: number;
    transitions: number;
    elapsedMs: number;
    verdict: string;
    outcome: string;
    missing: string[];
    met: boolean;
    message: string | null;
    shard: { index: number; count: number } | null;
    timeLimited: boolean;
    interrupted: boolean;
    exhausted: boolean;
    violations: { invariant: string; length: number; steps: { kind: string }[] }[];
  }[];
  saved?: { path: string; status: string }[];
}

describe('dmaprop explore', () => {
  test('--json: { results: [{ design, depth, states, transitions, elapsedMs, verdict, violations }] }', async () => {
    const { code, out } = await run(['explore', '--design', 'xen/lookup', 'xen/map', '--depth', '2', '--json']);
    // xen/lookup's declared breaks need more than two steps: the search cannot decide it (exit 4).
    expect(code).toBe(4);
    const { results } = JSON.parse(out) as ExploreJson;
    expect(results.map((result) => [result.design, result.depth, result.verdict, result.met, result.outcome])).toEqual([
      ['xen/lookup', 2, 'violated', false, 'inconclusive'],
      ['xen/map', 2, 'holds', true, 'met'],
    ]);
    expect(results[0]!.missing).toEqual([
      'no-dma-to-foreign-frame',
      'no-dma-to-free-frame',
      'shadow-matches-guest-entry',
      'cache-kref-matches-shadow-users',
    ]);
    expect(results[0]!.message).toContain('within depth 2: it may lie deeper (raise --depth)');
    const alone = await run(['explore', '--design', 'xen/map', '--depth', '2', '--json']);
    expect(alone.code).toBe(0);
    for (const result of results) {
      expect(Object.keys(result)).toEqual(
        expect.arrayContaining(['design', 'depth', 'states', 'transitions', 'elapsedMs', 'verdict', 'violations']),
      );
      expect(result.states).toBeGreaterThan(1);
      expect(result.transitions).toBeGreaterThanOrEqual(result.states - 1);
      expect(typeof result.elapsedMs).toBe('number');
    }
    const [lookup, map] = results;
    expect(lookup!.violations.map((found) => [found.invariant, found.length])).toEqual([
      ['shadow-frame-owned-by-guest', 2],
      ['shadow-frame-held-by-backend', 1],
    ]);
    expect(map!.violations).toEqual([]);
  });

  test('a violation has the same JSON shape as check gives it', async () => {
    const explored = JSON.parse(
      (await run(['explore', '--design', 'xen/lookup', '--depth', '1', '--json'])).out,
    ) as ExploreJson;
    const checked = JSON.parse(
      // Ten runs break three invariants at this seed; shrinking all six of a longer run costs seconds.
      (await run(['check', '--design', 'xen/lookup', '--runs', '10', '--seed', '3', '--json'])).out,
    ) as ExploreJson;
    const keys = (json: ExploreJson): string[] => Object.keys(json.results[0]!.violations[0]!).sort();
    expect(keys(explored)).toEqual(keys(checked));
  });

  test('human output: the verdict, the size of the search, each shortest counterexample', async () => {
    const { code, out } = await run(['explore', '--design', 'xen/lookup', 'xen/map', '--depth', '2']);
    expect(code).toBe(4);
    expect(out).toMatch(
      /^xen\/map \[XenGT\] expected holds, holds ✓ — no violation up to depth 2: \d+ states, \d+ transitions/m,
    );
    expect(out).toContain(
      'xen/lookup [XenGT] expected violates, violated ? INCONCLUSIVE — 2 invariants broken within depth 2',
    );
    expect(out).toContain('  declared breaks not found: no-dma-to-foreign-frame,');
    expect(out).toContain('✗ shadow-frame-held-by-backend (latent): 1 step');
    // Each step names its actor (the guest's vCPU that traps the write).
    expect(out).toContain('1. [guest vCPU0] guest writes GTT entry 0 → gfn 0');
    expect(out).toContain('shortest: no sequence of fewer steps in the scope breaks it');
    expect(out).toContain('scope: GTT entries 0–1');
    expect(out).toContain('2 designs explored: 1 as expected, 0 not, 1 inconclusive (xen/lookup)');
  });

  test('exit 4 when the state limit stops a design expected to hold: inconclusive, with the message', async () => {
    const { code, out } = await run(['explore', '--design', 'xen/map', '--depth', '3', '--max-states', '40', '--json']);
    expect(code).toBe(4);
    const [result] = (JSON.parse(out) as ExploreJson).results;
    expect(result).toMatchObject({ verdict: 'inconclusive', met: false, states: 40, depthReached: 1 });
    expect(result!.message).toBe('state limit 40 reached at depth 2; raise --max-states or lower --depth');
    const human = await run(['explore', '--design', 'xen/map', '--depth', '3', '--max-states', '40']);
    expect(human.code).toBe(4);
    expect(human.out).toContain('inconclusive ? INCONCLUSIVE — no violation up to depth 1');
    expect(human.out).toContain('  state limit 40 reached at depth 2; raise --max-states or lower --depth');
  });

  test('--time-limit alone: as deep as the time allows, then inconclusive with the depth explored in full', async () => {
    // xen/map's scope is far from exhausted in a millisecond: the deadline stops it.
    const { code, out } = await run(['explore', '--design', 'xen/map', '--time-limit', '0.001', '--json']);
    expect(code).toBe(4);
    const [result] = (JSON.parse(out) as ExploreJson).results;
    expect(result).toMatchObject({
      depth: 64,
      verdict: 'inconclusive',
      met: false,
      timeLimited: true,
      interrupted: false,
    });
    const depth = result!.depthReached;
    expect(depth).toBeLessThan(64);
    expect(result!.message).toBe(
      `time limit 1 ms reached at depth ${depth + 1}; every sequence of ${depth} command${depth === 1 ? '' : 's'} explored`,
    );
    const human = await run(['explore', '--design', 'xen/map', '--time-limit', '0.001']);
    expect(human.code).toBe(4);
    expect(human.out).toContain('dmaprop explore: breadth-first as deep as the time allows, 0.001 s per design');
    expect(human.out).toMatch(/ {2}time limit 1 ms reached at depth \d+; every sequence of \d+ commands? explored/);
  });

  test('--time-limit on a search that ends in time changes nothing: the toy counter, broken as declared', async () => {
    const { code, out } = await run(['explore', '--time-limit', '60', '--json'], { registry: [counterDesign()] });
    expect(code).toBe(0);
    const [result] = (JSON.parse(out) as ExploreJson).results;
    expect(result).toMatchObject({
      verdict: 'violated',
      met: true,
      exhausted: true,
      timeLimited: false,
      message: null,
    });
  });

  test('a flawed design explored below its shortest counterexample is inconclusive, not unexpected', async () => {
    // The toy counter reaches 3 in two steps at least (add 2, add 1).
    const saidToReachThree = { ...counterDesign({ id: 'toy/reaches-three' }), breaks: ['below-three'] };
    const { code, out } = await run(['explore', '--depth', '1', '--json'], { registry: [saidToReachThree] });
    expect(code).toBe(4);
    const [result] = (JSON.parse(out) as ExploreJson).results;
    expect(result).toMatchObject({ verdict: 'violated', outcome: 'inconclusive', missing: ['below-three'] });
    expect(result!.message).toBe(
      'declared breaks not found: below-three within depth 1: it may lie deeper (raise --depth)',
    );
    const deep = await run(['explore', '--depth', '2', '--json'], { registry: [saidToReachThree] });
    expect(deep.code).toBe(0);
  });

  test('a flawed design whose whole scope was explored without its declared break is unexpected (exit 1)', async () => {
    // The toy counter's scope is exhausted within four steps: nothing deeper exists.
    const saidToOverflow = { ...counterDesign({ id: 'toy/said-to-overflow' }), breaks: ['at-most-four'] };
    const { code, out } = await run(['explore', '--depth', '10'], { registry: [saidToOverflow] });
    expect(code).toBe(1);
    expect(out).toContain('declared breaks not found: at-most-four in the whole scope');
  });

  test('exit 1 when a design does not meet its expectation', async () => {
    const wronglyTrusted = xenGtDesign({
      id: 'test/lookup-said-to-hold',
      backend: 'lookup',
      expected: 'holds',
      description: 'x',
    });
    const soundSaidBroken = xenGtDesign({
      id: 'test/map-said-to-break',
      backend: 'map',
      expected: 'violates',
      description: 'x',
      breaks: ['no-dma-to-foreign-frame'],
    });
    const trusted = await run(['explore', '--depth', '1'], { registry: [xenMap, wronglyTrusted] });
    expect(trusted.code).toBe(1);
    expect(trusted.out).toContain(`1 not (${wronglyTrusted.id})`);
    // Said to break, found sound to depth 1: too shallow to tell (exit 4), not a contradiction.
    const broken = await run(['explore', '--depth', '1'], { registry: [xenMap, soundSaidBroken] });
    expect(broken.code).toBe(4);
    expect(broken.out).toContain(`1 inconclusive (${soundSaidBroken.id})`);
  });

  test('--shard i/n explores the states of its part of the hash, and says so', async () => {
    const { code, out } = await run(['explore', '--design', 'xen/map', '--depth', '2', '--shard', '2/3', '--json']);
    expect(code).toBe(0);
    const [result] = (JSON.parse(out) as ExploreJson).results;
    expect(result!.shard).toEqual({ index: 2, count: 3 });
    const whole = (
      JSON.parse((await run(['explore', '--design', 'xen/map', '--depth', '2', '--json'])).out) as ExploreJson
    ).results[0]!;
    expect(result!.states).toBeLessThan(whole.states);
  });

  test('without --design: every design that declares a scope, and the others named as not explored', async () => {
    const toy = counterDesign({ id: 'toy/no-scope', explore: false });
    const { code, out } = await run(['explore', '--depth', '1', '--json'], { registry: [xenMap, toy] });
    expect(code).toBe(0);
    const json = JSON.parse(out) as ExploreJson & { skipped: { design: string; reason: string }[] };
    expect(json.results.map((result) => result.design)).toEqual(['xen/map']);
    expect(json.skipped).toEqual([{ design: 'toy/no-scope', stack: 'Counter', reason: 'declares no explore scope' }]);
    const human = await run(['explore', '--depth', '1'], { registry: [xenMap, toy] });
    expect(human.out).toContain('toy/no-scope [Counter] not explored: it declares no explore scope');
    expect(human.out).toContain('1 without a scope not explored (toy/no-scope)');
  });

  test.for([
    [['explore', '--design', 'xen/map', '--depth', '0'], 'depth must be between 1'],
    [['explore', '--design', 'xen/map', '--depth', 'x'], 'depth must be a whole number'],
    [['explore', '--design', 'xen/map'], 'explore needs --depth, --time-limit or both'],
    [['explore', '--design', 'xen/map', '--time-limit', '0'], 'time limit must be a positive number of seconds'],
    [['explore', '--design', 'xen/nope', '--depth', '1'], "unknown design 'xen/nope'"],
    [['explore', '--depth', '1', '--shard', '0/2'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['explore', '--depth', '1', '--shard', '3/2'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['explore', '--depth', '1', '--shard', 'half'], 'shard must be i/n with 1 ≤ i ≤ n'],
    [['explore', '--depth', '1', '--max-states', '0'], 'max-states must be between 1'],
    [['explore', '--depth', '1', '--bogus'], "unknown option '--bogus'"],
  ] as const)('%j → exit 2', async ([argv, message]) => {
    const { code, err } = await run([...argv]);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  test('a named design without a scope is bad usage', async () => {
    const toy = counterDesign({ id: 'toy/no-scope', explore: false });
    const { code, err } = await run(['explore', '--design', 'toy/no-scope', '--depth', '1'], { registry: [toy] });
    expect(code).toBe(2);
    expect(err).toBe("dmaprop: design 'toy/no-scope' (stack Counter) declares no explore scope\n");
  });

  test('--save writes each shortest counterexample; the corpus replays them', async () => {
    const corpus = temporaryCorpus();
    const argv = ['explore', '--design', 'xen/lookup', '--depth', '2', '--save', '--corpus', corpus, '--json'];
    const { code, out } = await run(argv);
    // Four of xen/lookup's six declared breaks lie deeper than 2 steps.
    expect(code).toBe(4);
    const { saved, results } = JSON.parse(out) as ExploreJson;
    expect(saved!.map((outcome) => outcome.status)).toEqual(results[0]!.violations.map(() => 'added'));
    expect(saved).toHaveLength(2);
    const entry = JSON.parse(readFileSync(saved![0]!.path, 'utf8')) as { found: { seed: number }; message: string };
    expect(entry.found.seed).toBe(0);
    expect(entry.message).toMatch(/found by dmaprop explore at depth 2: shortest, [12] steps?/);
    const replay = replayCorpus(corpus, designs);
    expect(replay).toMatchObject({ files: 2, passed: 2, problems: [] });
    // The same traces found again are stored once.
    const again = JSON.parse((await run(argv)).out) as ExploreJson;
    expect(again.saved!.map((outcome) => outcome.status)).toEqual(['exists', 'exists']);
  });

  test('progress goes to the terminal only, and is cleared when done', async () => {
    const silent = await run(['explore', '--design', 'xen/map', '--depth', '2']);
    expect(silent.err).toBe('');
    const shown = await run(['explore', '--design', 'xen/map', '--depth', '2'], { terminal: true });
    expect(shown.progress).toMatch(/\rxen\/map: depth 1\/2, \d+\/1 expanded, \d+ states, \d+ transitions/);
    expect(shown.progress.endsWith('\r')).toBe(true);
    const json = await run(['explore', '--design', 'xen/map', '--depth', '1', '--json'], { terminal: true });
    expect(json.progress).toBe('');
  });

  test('--help', async () => {
    const { code, out } = await run(['explore', '--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: dmaprop explore');
    expect(out).toContain('--max-states <n>');
  });
});
