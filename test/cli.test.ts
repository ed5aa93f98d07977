/** The CLI contract that CI and later tools rely on: JSON shapes, exit codes, usage errors. */
import { describe, expect, test } from 'vitest';
import { main } from '../src/cli.js';
import type { CliIo } from '../src/cli.js';
import { xenGtDesign } from '../properties/xengt/design.js';
import { xenLookup, xenMap } from '../properties/xengt/designs.js';
import type { AnyDesign } from '../src/design.js';

interface Ran {
  readonly code: number;
  readonly out: string;
  readonly err: string;
}

/** A JSON report without what depends on the clock or the thread (times, a crash's stack). */
const untimed = (text: string): unknown =>
  JSON.parse(text, (key, value: unknown) => (key === 'elapsedMs' || key === 'stack' ? null : value)) as unknown;

async function run(argv: string[], registry?: readonly AnyDesign[]): Promise<Ran> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => (out += text), err: (text) => (err += text) };
  const code = registry === undefined ? await main(argv, io) : await main(argv, io, registry);
  return { code, out, err };
}

describe('dmaprop designs', () => {
  test('--json lists { id, stack, expected, description, breaks, invariants, explore } for every design', async () => {
    const { code, out } = await run(['designs', '--json']);
    expect(code).toBe(0);
    const rows = JSON.parse(out) as { id: string; stack: string; expected: string; description: string }[];
    expect(rows.map((row) => [row.id, row.expected])).toEqual([
      ['xen/map', 'holds'],
      ['xen/lookup', 'violates'],
      ['xen/lookup-then-map', 'violates'],
      ['xen/map-unwind-keeps-device-ref', 'violates'],
      ['xen/map-unwind-keeps-device-pin', 'violates'],
      ['xen/domid-freed-at-kill', 'violates'],
      ['xengt/no-ggtt-reset', 'violates'],
      ['xen/balloon-ignores-remove-error', 'violates'],
      ['xengt/shadows-half-written-ggtt', 'violates'],
      ['xengt/2m-split-error-leaks', 'violates'],
      ['vfio/type1', 'holds'],
      ['vfio/noiommu', 'violates'],
      ['iommu/strict', 'holds'],
      ['iommu/lazy', 'violates'],
      ['iommu/lazy-held', 'holds'],
      ['iommu/unpin-before-sync', 'violates'],
      ['iommu/strict-regroup', 'holds'],
      ['iommu/context-clear-flushes-cleared-did', 'violates'],
      ['iommu/detach-keeps-context', 'violates'],
      ['iommu/pasid-teardown', 'holds'],
      ['iommu/pasid-teardown-skips-pasid-cache', 'violates'],
      ['iommu/noncoherent', 'holds'],
      ['iommu/noncoherent-unmap-skips-writeback', 'violates'],
      ['iommu/noncoherent-pasid-skips-writeback', 'violates'],
      ['iommu/noncoherent-context-skips-writeback', 'violates'],
      ['iommu/context-cache-skips-flush', 'violates'],
      ['iommu/kdump-copied-context', 'holds'],
      ['iommu/kdump-invalidate-before-clear', 'violates'],
      ['iommu/first-level-pasid', 'holds'],
      ['iommu/first-level-teardown-dsi', 'violates'],
      ['iommu/first-level-no-cache-tag', 'violates'],
      ['mdev/unmap-callback', 'holds'],
      ['mdev/ignores-unmap', 'violates'],
      ['vfio/mixed', 'holds'],
      ['vfio/mixed-unmap-skips-unpin', 'violates'],
      ['vfio/map-unwind-skips-uncharge', 'violates'],
      ['vfio/map-unwind-returns-slot-twice', 'violates'],
      ['vfio/mixed-attach-skips-replay', 'violates'],
      ['vfio/mixed-replay-skips-unwind', 'violates'],
      ['vfio/mixed-detach-keeps-pins', 'violates'],
      ['mdev/pin-unwind-skips-earlier', 'violates'],
      ['mdev/unmap-callback-under-lock', 'violates'],
      ['vfio/mixed-attach-error-skips-detach', 'violates'],
      ['vfio/set-iommu-unwind-skips-attached', 'violates'],
      ['vfio/update-vaddr-with-mdev', 'violates'],
      ['vfio/get-info-overflows-argsz', 'violates'],
      ['vfio/p2p-bar', 'holds'],
      ['vfio/pfnmap-ram-unpinned', 'violates'],
      ['vfio/pfnmap-charged', 'violates'],
      ['vfio/zero-page', 'holds'],
      ['vfio/pins-zero-page', 'violates'],
      ['vfio/exec-locked-vm-underflow', 'violates'],
      ['vfio/exec-charge-not-moved', 'violates'],
      ['gvt/write-protect', 'holds'],
      ['gvt/no-write-protect', 'violates'],
      ['cmdbuf/shadow-copy', 'holds'],
      ['cmdbuf/scan-in-place', 'violates'],
      ['cmdbuf/scan-then-copy', 'violates'],
      ['kvmgt/unmap-callback', 'holds'],
      ['kvmgt/ignores-unmap', 'violates'],
      ['kvmgt/shipped-unmap', 'violates'],
      ['kvmgt/unmap-under-cache-lock', 'violates'],
      ['kvmgt/unmap-unlocked', 'violates'],
      ['kvmgt/dma-map-error-keeps-pin', 'violates'],
      ['kvmgt/cache-add-error-keeps-map', 'violates'],
      ['kvmgt/destroy-keeps-ggtt', 'violates'],
      ['kvmgt/no-ggtt-reset', 'violates'],
      ['kvmgt/track-add-error-keeps-registration', 'violates'],
      ['kvmgt/shipped-populate-unwind', 'violates'],
      ['kvmgt/unmap-under-iommu-lock', 'violates'],
      ['kvmgt/64k-removal-first-page', 'violates'],
      ['kvmgt/64k-split-unmasked', 'violates'],
      ['kvmgt/64k-split-error-keeps-slots', 'violates'],
      ['kvmgt/2m-size-change-remaps', 'violates'],
      ['kvmgt/2m-lookup-ignores-size', 'violates'],
      ['kvmgt/2m-pin-skips-contiguity', 'violates'],
      ['kvmgt/2m-release-unpins-4k', 'violates'],
      ['kvmgt/2m-split-error-leaks', 'violates'],
      ['kvmgt/shipped-free-skips-2m', 'violates'],
      ['viommu/shadow', 'holds'],
      ['viommu/nested', 'holds'],
      ['viommu/shadow-unmap-skips-flush', 'violates'],
      ['viommu/nested-flush-leaves-combined', 'violates'],
      ['viommu/shadow-wait-before-unmap', 'violates'],
      ['viommu/context-clear-keeps-shadow', 'violates'],
      ['viommu/shadow-same-did-skips-sync', 'violates'],
      ['viommu/nested-same-did-skips-flush', 'violates'],
      ['viommu/te-on-keeps-no-dmar', 'violates'],
      ['viommu/scalable', 'holds'],
      ['viommu/pasid-cache-ignored', 'violates'],
      ['viommu/pasid-cache-gated', 'violates'],
      ['viommu/differential', 'holds'],
      ['xenpt/hvm-shared-pt', 'holds'],
      ['xenpt/hvm-sync-pt', 'holds'],
      ['xenpt/quarantine-basic', 'holds'],
      ['xenpt/no-quarantine', 'violates'],
      ['xenpt/put-before-flush', 'violates'],
      ['xenpt/remove-page-defers-flush', 'violates'],
      ['xenpt/unmap-not-synced', 'violates'],
      ['xenpt/release-devices-after-memory', 'violates'],
      ['xenpt/shared-scratch', 'violates'],
      ['xenpt/gnttab-set-version-ignores-pins', 'violates'],
      ['xenpt/gnttab-unpopulate-leaves-status-mapped', 'violates'],
      ['xenpt/gnttab-status-frame-at-two-gfns', 'violates'],
      ['xenpt/gnttab-copy-skips-bounds', 'violates'],
      ['xenpt/gnttab-copy-writes-readonly-grant', 'violates'],
      ['xenpt/gnttab-copy-releases-before-copy', 'violates'],
      ['xenpt/pv-type-change-skips-iommu-unmap', 'violates'],
      ['xenpt/pv-l1-fast-path-ignores-rw', 'violates'],
      ['xenpt/pv-l1-accepts-writable-page-table', 'violates'],
      ['xenpt/pv-grant-unmap-keeps-type', 'violates'],
      ['xenpt/pv-grant-iommu-count-drops-per-unmap', 'violates'],
      ['xenpt/pv-grant-iommu-count-never-drops', 'violates'],
      ['iommufd/passthrough', 'holds'],
      ['iommufd/lazy-held', 'holds'],
      ['iommufd/lazy', 'violates'],
      ['iommufd/access-ignores-unmap', 'violates'],
      ['iommufd/access-unpins-contained-only', 'violates'],
      ['iommufd/unmap-under-access', 'violates'],
      ['iommufd/pins-uncharged', 'violates'],
      ['iommufd/domain-not-filled', 'violates'],
      ['iommufd/differential', 'holds'],
    ]);
    for (const row of rows) {
      expect(Object.keys(row).sort()).toEqual([
        'breaks',
        'description',
        'expected',
        'explore',
        'id',
        'invariants',
        'stack',
      ]);
      expect(row.description.length).toBeGreaterThan(0);
    }
  });
});

describe('dmaprop check', () => {
  test('--json reports each design with its verdict and shrunk steps; exit 0 when expectations are met', async () => {
    const argv = [
      'check',
      '--design',
      'xen/lookup',
      'xen/map',
      '--runs',
      '100',
      // Seed 13: in 100 runs xen/lookup breaks every declared invariant and xen/map executes
      // every kind (seeds 10 and 11 did until XenGT's generation changed; their xen/map runs then
      // never execute gpuExecute, the rarest kind at 100 runs, and the check is inconclusive).
      '--seed',
      '13',
      '--json',
    ];
    const { code, out } = await run(argv);
    expect(code).toBe(0);
    const { results } = JSON.parse(out) as {
      results: {
        design: string;
        expected: string;
        verdict: string;
        runs: number;
        seed: number;
        elapsedMs: number;
        violations: { invariant: string; length: number; steps: { kind: string }[] }[];
      }[];
    };
    expect(results.map((result) => [result.design, result.expected, result.verdict])).toEqual([
      ['xen/lookup', 'violates', 'violated'],
      ['xen/map', 'holds', 'holds'],
    ]);
    const lookup = results[0]!;
    expect(lookup.seed).toBe(13);
    expect(lookup.runs).toBe(100);
    expect(typeof lookup.elapsedMs).toBe('number');
    const latent = lookup.violations.find((found) => found.invariant === 'shadow-frame-held-by-backend')!;
    expect(latent.length).toBe(latent.steps.length);
    expect(latent.steps.map((step) => step.kind)).toEqual(['gttWrite']);
  });

  test('--jobs: the same report in the same order; Ctrl-C stops the checks running; a bad count is bad usage', async () => {
    // Each check runs whole on a worker thread (`src/check-pool.ts`; the compiled code, built by
    // `npm test` before the suite): a flawed design caught in a few runs (its counterexamples cross
    // threads) and a sound one.
    const argv = ['check', '--design', 'vfio/noiommu', 'xen/map', '--seed', '1', '--runs', '20'];
    const one = await run([...argv, '--json']);
    const two = await run([...argv, '--json', '--jobs', '2']);
    expect(two.code).toBe(one.code);
    expect(untimed(two.out)).toEqual(untimed(one.out));
    expect((untimed(two.out) as { results: { design: string }[] }).results.map((result) => result.design)).toEqual([
      'vfio/noiommu',
      'xen/map',
    ]);
    let polls = 0;
    let out = '';
    const io: CliIo = { out: (text) => (out += text), err: () => undefined, shouldStop: () => ++polls > 3 };
    expect(await main([...argv, '--jobs', '2'], io)).toBe(130);
    expect(out).toMatch(/interrupted: [0-2] of 2 design checks ran/);
    for (const bad of ['0', '65', 'two', '-1']) {
      const refused = await run([...argv, '--jobs', bad]);
      expect(refused.code, bad).toBe(2);
      expect(refused.err, bad).toMatch(/jobs/);
    }
  });

  test('--shortest searches the explore scope one step shallower and says what it found; 0 is refused', async () => {
    const argv = ['check', '--design', 'xenpt/shared-scratch', '--seed', '1', '--runs', '50'];
    const { code, out } = await run([...argv, '--shortest']);
    expect(code).toBe(0);
    expect(out).toMatch(/minimized to 2, none shorter in the explore scope \(\d+ states\)/);
    const refused = await run([...argv, '--shortest', '0']);
    expect(refused.code).toBe(2);
  });

  test('exit 1 when a design does not meet its expectation', async () => {
    const wronglyTrusted = xenGtDesign({
      id: 'test/lookup-said-to-hold',
      backend: 'lookup',
      expected: 'holds',
      description: 'x',
    });
    const { code, out } = await run(['check', '--runs', '50', '--seed', '1'], [xenMap, wronglyTrusted]);
    expect(code).toBe(1);
    expect(out).toContain('1 not (test/lookup-said-to-hold)');
  });

  test('prints the seed it used, so a fresh-seed run can be replayed', async () => {
    // A fresh seed: the verdict may be anything, but the seed printed replays it exactly.
    const { code, out } = await run(['check', '--design', 'vfio/noiommu', '--runs', '20']);
    const seed = /seed (\d+)/.exec(out)?.[1];
    expect(seed).toBeDefined();
    const again = await run(['check', '--design', 'vfio/noiommu', '--runs', '20', '--seed', seed!]);
    expect(again.code).toBe(code);
    const withoutTime = (text: string): string => text.replace(/\d+(\.\d+)? m?s\b/g, 'T');
    expect(withoutTime(again.out)).toBe(withoutTime(out));
  });

  test('the human report shows each step with its result and the violation in domain words', async () => {
    const { out } = await run(['check', '--design', xenLookup.id, '--runs', '30', '--seed', '4']);
    expect(out).toContain('guest writes GTT entry 0 → gfn 0');
    expect(out).toContain('violated after step 1: shadow GTT entry 0 reaches mfn');
    expect(out).toContain('replay: dmaprop check --design xen/lookup --seed 4');
  });
});

describe('bad usage exits 2 with a message', () => {
  test.for([
    [['check', '--runs', 'abc'], 'runs must be a whole number'],
    [['check', '--runs', '0'], 'runs must be between 1'],
    [['check', '--seed', '-3'], 'seed must be a whole number'],
    [['check', '--time-limit', 'soon'], 'time limit must be a positive number'],
    [['check', '--bogus'], "unknown option '--bogus'"],
    [['check', '--design', 'xen/nope'], "unknown design 'xen/nope'"],
    [['frobnicate'], "unknown command 'frobnicate'"],
  ] as const)('%j → exit 2', async ([argv, message]) => {
    const { code, err } = await run([...argv]);
    expect(code).toBe(2);
    expect(err).toContain(message);
  });

  test('--help exits 0 and prints usage', async () => {
    const { code, out } = await run(['check', '--help']);
    expect(code).toBe(0);
    expect(out).toContain('Usage: dmaprop check');
  });
});
