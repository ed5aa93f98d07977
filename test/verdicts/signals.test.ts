/**
 * Ctrl-C and SIGTERM stop a run cleanly: what was found so far is printed, marked interrupted,
 * with the seed, and the process exits 130. Runs the built CLI (`npm test` builds it first).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, test } from 'vitest';

interface Finished {
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/**
 * Starts the CLI, sends `signals` once `ready` matches its output or its `file` exists (or after
 * `afterMs`), and waits.
 */
function interrupt(
  argv: readonly string[],
  signals: readonly NodeJS.Signals[],
  ready: { readonly text?: RegExp; readonly file?: string; readonly afterMs?: number; readonly thenMs?: number },
): Promise<Finished> {
  const child = spawn(process.execPath, ['bin/dmaprop.js', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let sent = false;
  const send = (): void => {
    if (sent) return;
    sent = true;
    const first = ready.thenMs ?? 0;
    signals.forEach((signal, index) => setTimeout(() => child.kill(signal), first + index * 200));
  };
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    if (ready.text?.test(out) === true) send();
  });
  child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  if (ready.afterMs !== undefined) setTimeout(send, ready.afterMs);
  const file = ready.file;
  const polling =
    file === undefined
      ? undefined
      : setInterval(() => {
          if (existsSync(file)) send();
        }, 50);
  return new Promise((resolve) =>
    child.on('close', (code) => {
      clearInterval(polling);
      resolve({ code, out, err });
    }),
  );
}

const endless = ['check', '--design', 'xen/map', 'xen/lookup', '--runs', '10000000', '--seed', '9'];

describe('interruption', () => {
  test('SIGINT: the results so far, marked interrupted, with the seed; exit 130', async () => {
    // The header is printed before the first search starts: give it half a second to be under way.
    const { code, out, err } = await interrupt(endless, ['SIGINT'], { text: /dmaprop check: seed 9/, thenMs: 500 });
    expect(code).toBe(130);
    expect(out).toMatch(/xen\/map \[XenGT\] expected holds, inconclusive \? INCONCLUSIVE — \d+ runs, seed 9/);
    expect(out).toContain('interrupted: 1 of 2 design checks ran; replay the run with --seed 9');
    expect(err).toContain('SIGINT: stopping with what was found so far');
  });

  test('SIGTERM with --json and a fresh seed: a complete JSON document marked interrupted, with the seed', async () => {
    const argv = ['check', '--design', 'xen/map', '--runs', '10000000', '--json'];
    const { code, out, err } = await interrupt(argv, ['SIGTERM'], { afterMs: 1500 });
    expect(code).toBe(130);
    const json = JSON.parse(out) as {
      seed: number;
      interrupted: boolean;
      results: { runs: number; verdict: string }[];
    };
    expect(json.interrupted).toBe(true);
    expect(Number.isInteger(json.seed)).toBe(true);
    expect(err).toContain(`--seed ${json.seed}`);
    for (const result of json.results) expect(result.verdict).toBe('inconclusive');
  });

  test('a second signal quits at once, even from a step that never returns, still naming the seed', async () => {
    // A design whose step spins forever: the first signal cannot stop it between runs.
    const dir = mkdtempSync(join(tmpdir(), 'dmaprop-hang-'));
    const config = join(dir, 'dmaprop.config.mjs');
    const spinning = join(dir, 'spinning');
    const api = resolve('dist/src/index.js');
    writeFileSync(
      config,
      `import { writeFileSync } from 'node:fs';
import { findDesign } from ${JSON.stringify(api)};
const map = findDesign('xen/map');
export default { designs: [{ ...map, id: 'toy/hangs', step: (state, command) => {
  if (command.kind === 'gpuDma') {
    writeFileSync(${JSON.stringify(spinning)}, '');
    for (;;);
  }
  return map.step(state, command);
} }] };\n`,
    );
    const argv = ['check', '--config', config, '--design', 'toy/hangs', '--seed', '9'];
    // The signals go once the step spins (it says so in a file first): a fixed delay was too short
    // on a loaded machine, where the first signal came before the CLI had set its handlers.
    const { code, err } = await interrupt(argv, ['SIGINT', 'SIGINT'], { file: spinning, thenMs: 100 });
    expect(code).toBe(130);
    expect(err).toContain('SIGINT: stopping with what was found so far');
    expect(err).toContain('SIGINT again: quitting; dmaprop check: seed 9; replay with --seed 9');
  });
});
