/**
 * Spin on the Promela anchor (`bench/anchor/xengt-dmaprop.pml`, a copy of
 * `shared/anchors/xengt-dmaprop.pml`: the XenGT graph `bench-anchor.ts` builds), measured on this
 * machine when Spin and a C compiler are installed (`apt-get install spin gcc`), as its README
 * says to run it: `spin -a -o2`, `gcc -O2 -DBFS -DSAFETY`, `pan -E -m1000 -w20`. CPU time is
 * the verifier's own (bash's `times` after it ran: user and system time of the children), the
 * steadier figure on a shared machine. Spin counts the state before the model's initialising
 * `d_step` as one more state (and two more transitions): taken off, so the counts compare with
 * the explorer's.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from './version.js';

export interface SpinRun {
  readonly states: number;
  readonly transitions: number;
  readonly cpuMs: number;
  readonly statesPerCpuSec: number;
}

/** Spin's run, or why there is none (not installed, the model not in this checkout, a step failed). */
export type SpinMeasurement = { readonly run: SpinRun } | { readonly skipped: string };

/** The scaled universe's parameters (`SCALED_ANCHOR`): 4 frames, 2 gfns, 2 GTT entries, full, map. */
const SCALED = ['-DNF=4', '-DNG=2', '-DNE=2', '-DFULL=1', '-DMAPDESIGN=1'];

/** Where the verifier's output ends and `times`' begins. */
const MARK = '--- times ---';

function installed(command: string, versionFlag: string): boolean {
  return spawnSync(command, [versionFlag], { encoding: 'utf8' }).status === 0;
}

/** `times`' second line: the children's user and system time, as `0m0.240s 0m0.004s`. */
export function childrenCpuMs(times: string): number | null {
  const line = times.trim().split('\n')[1];
  const parts = line === undefined ? [] : [...line.matchAll(/(\d+)m([\d.]+)s/g)];
  if (parts.length !== 2) return null;
  return parts.reduce((sum, part) => sum + (Number(part[1]) * 60 + Number(part[2])) * 1000, 0);
}

export function measureSpin(): SpinMeasurement {
  const model = join(packageRoot(), 'bench', 'anchor', 'xengt-dmaprop.pml');
  if (!existsSync(model)) return { skipped: `${model} is not in this checkout` };
  if (!installed('spin', '-V') || !installed('gcc', '--version'))
    return { skipped: 'Spin or gcc not installed (apt-get install spin gcc)' };
  const directory = mkdtempSync(join(tmpdir(), 'dmaprop-spin-'));
  try {
    copyFileSync(model, join(directory, 'anchor.pml'));
    const run = (command: string, args: readonly string[]): string | null => {
      const child = spawnSync(command, [...args], { cwd: directory, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      return child.status === 0 ? `${child.stdout}\n${child.stderr}` : null;
    };
    if (run('spin', ['-a', '-o2', ...SCALED, 'anchor.pml']) === null) return { skipped: 'spin -a failed' };
    if (run('gcc', ['-O2', '-DBFS', '-DSAFETY', '-w', '-o', 'pan', 'pan.c']) === null)
      return { skipped: 'gcc failed on pan.c' };
    const output = run('bash', [
      '-c',
      `./pan -E -m1000 -w20 > pan.out 2>&1; status=$?; cat pan.out; echo ${MARK}; times; exit $status`,
    ]);
    if (output === null) return { skipped: 'pan failed' };
    const stored = /(\d+) states, stored/.exec(output)?.[1];
    const transitions = /(\d+) transitions \(= stored\+matched\)/.exec(output)?.[1];
    const cpuMs = childrenCpuMs(output.slice(output.lastIndexOf(MARK) + MARK.length));
    if (stored === undefined || transitions === undefined || cpuMs === null)
      return { skipped: 'could not read pan output' };
    const states = Number(stored) - 1;
    return {
      run: {
        states,
        transitions: Number(transitions) - 2,
        cpuMs: Math.round(cpuMs),
        statesPerCpuSec: Math.round((states * 1000) / Math.max(cpuMs, 1)),
      },
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}
