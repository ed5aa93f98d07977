/**
 * `dmaprop costs`: the numbers behind the vIOMMU debate's claim that nested avoids the trap on map
 * (docs/debates.md#viommu-shadow-or-nested), and the CLI contract (a table, `--json`, usage errors
 * exit 2). The workloads are deterministic; no timing.
 */
import { describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli.js';
import { measureCosts, standardWorkloads } from '../../src/costs.js';
import type { CostRow, CostsReport } from '../../src/costs.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => (out += text), err: (text) => (err += text) };
  const code = await main(argv, io);
  return { code, out, err };
}

const report = measureCosts();

function row(workload: string, design: string): CostRow {
  const found = report.rows.find((candidate) => candidate.workload === workload && candidate.design === design);
  if (found === undefined) throw new Error(`no row ${workload} ${design}`);
  return found;
}

describe('costs per design and workload', () => {
  test('nested traps no map: its exits are the unmaps; shadow traps every map and unmap', () => {
    // map-heavy: 32 one-page maps and 4 eight-page unmaps.
    expect(row('map-heavy', 'viommu/shadow').vmExits).toBe(36);
    expect(row('map-heavy', 'viommu/nested').vmExits).toBe(4);
    expect(row('static', 'viommu/nested').vmExits).toBe(0);
    expect(row('static', 'viommu/shadow').vmExits).toBe(1);
  });

  test('nested makes its VFIO ioctls and pins once, at setup; shadow pins what it maps, as it maps it', () => {
    expect(row('setup', 'viommu/nested')).toMatchObject({ vfioIoctls: 8, pins: 8 });
    expect(row('setup', 'viommu/shadow')).toMatchObject({ vfioIoctls: 0, pins: 0 });
    for (const workload of standardWorkloads) {
      expect(row(workload.name, 'viommu/nested')).toMatchObject({ vfioIoctls: 0, pins: 0, peakPinnedFrames: 8 });
    }
    expect(row('streaming', 'viommu/shadow')).toMatchObject({ vfioIoctls: 64, pins: 32, peakPinnedFrames: 1 });
  });

  test('every guest unmap costs one host IOTLB invalidation per page in shadow, one per invalidation in nested', () => {
    expect(row('unmap-heavy', 'viommu/shadow').hostIotlbInvalidations).toBe(32);
    expect(row('map-heavy', 'viommu/shadow').hostIotlbInvalidations).toBe(32);
    expect(row('map-heavy', 'viommu/nested')).toMatchObject({ invalidateIoctls: 4, hostIotlbInvalidations: 4 });
  });
});

describe('dmaprop costs', () => {
  test('--json: the four workloads, a setup row and a row per workload for each design', async () => {
    const { code, out, err } = await run(['costs', '--json']);
    expect([code, err]).toEqual([0, '']);
    const printed = JSON.parse(out) as CostsReport;
    expect(printed).toEqual(JSON.parse(JSON.stringify(report)));
    expect(printed.workloads.map((workload) => workload.name)).toEqual([
      'map-heavy',
      'unmap-heavy',
      'streaming',
      'static',
    ]);
    expect(printed.rows).toHaveLength(10);
  });

  test('the table names every counter', async () => {
    const { code, out } = await run(['costs']);
    expect(code).toBe(0);
    for (const title of ['VM exits', 'VFIO ioctls', 'host IOTLB invalidations', 'pins', 'peak pinned frames']) {
      expect(out).toContain(title);
    }
  });

  test('bad usage exits 2', async () => {
    const { code, err } = await run(['costs', '--bogus']);
    expect(code).toBe(2);
    expect(err).toContain("unknown option '--bogus'");
  });
});
