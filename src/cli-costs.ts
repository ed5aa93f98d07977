/** `dmaprop costs`: the vIOMMU designs' host costs per standard workload, as a table or JSON. */
import { formatTable } from './bench-report.js';
import type { CliIo } from './cli-io.js';
import { measureCosts } from './costs.js';
import type { CostsReport } from './costs.js';

export interface CostsFlags {
  readonly json?: boolean;
}

const header = [
  'workload',
  'design',
  'ops',
  'DMAs',
  'VM exits',
  'VFIO ioctls',
  'invalidate ioctls',
  'host IOTLB invalidations',
  'pins',
  'peak pinned frames',
];

export function formatCosts(report: CostsReport): string {
  const rows = report.rows.map((row) => [
    row.workload,
    row.design,
    row.operations,
    row.dmas,
    row.vmExits,
    row.vfioIoctls,
    row.invalidateIoctls,
    row.hostIotlbInvalidations,
    row.pins,
    row.peakPinnedFrames,
  ]);
  const workloads = report.workloads.map((workload) => `  ${workload.name}: ${workload.description}`);
  return [
    ...formatTable(header, rows),
    '',
    'workloads (an 8-page buffer of guest RAM; setup = what the VMM does before the guest runs):',
    ...workloads,
  ].join('\n');
}

export function runCosts(flags: CostsFlags, io: CliIo): number {
  const report = measureCosts();
  io.out(flags.json === true ? `${JSON.stringify(report, null, 2)}\n` : `${formatCosts(report)}\n`);
  return 0;
}
