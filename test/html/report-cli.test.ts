/**
 * The HTML report without a browser: `check --html`, `report` and `replay --html` write an index
 * and a page per counterexample; bad input and unusable paths are bad usage; text from a trace is
 * escaped; a step's changes are grouped by part. (The pages in Chromium: report-browser.test.ts.)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { main } from '../../src/cli.js';
import type { CliIo } from '../../src/cli.js';
import { tracePage } from '../../src/html/pages.js';
import type { TraceReport } from '../../src/html/report-model.js';
import { stateChanges } from '../../src/html/trace-states.js';

const directory = mkdtempSync(join(tmpdir(), 'dmaprop-html-cli-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (text) => (out += text), err: (text) => (err += text) };
  const code = await main(argv, io);
  return { code, out, err };
}

/** The first test's `check --json` output, which the second reads back. */
const CHECK_JSON = join(directory, 'check.json');
const ENTRY = 'test/regressions/xengt/xen-lookup--no-dma-to-foreign-frame--cb0166ec9f1f1ae4.json';

describe('dmaprop check --html, report, replay --html', () => {
  test('check --html writes an index linking a page per counterexample, each marking its violating step', async () => {
    const html = join(directory, 'check');
    // A small budget (not every declared break is found: exit 1), cheap enough for the default tier.
    const { code, out } = await run([
      'check',
      '--design',
      'xen/lookup',
      '--seed',
      '7',
      '--runs',
      '10',
      '--max-commands',
      '10',
      '--json',
      '--html',
      html,
    ]);
    expect(code).toBe(1);
    writeFileSync(CHECK_JSON, out);
    const violations = (JSON.parse(out) as { results: { violations: { invariant: string; length: number }[] }[] })
      .results[0]?.violations;
    expect(violations?.length).toBeGreaterThan(0);
    const index = readFileSync(join(html, 'index.html'), 'utf8');
    for (const violation of violations ?? []) {
      const file = `xen-lookup--${violation.invariant}--seed-7.html`;
      expect(index).toContain(`href="${file}"`);
      const page = readFileSync(join(html, file), 'utf8');
      expect(page).toContain(
        `<section id="step-${violation.length}" class="step violating" data-step="${violation.length}" data-violating="true">`,
      );
      expect(page.match(/<section id="step-/g)?.length).toBe(violation.length);
      expect(page).toContain('dmaprop check --design xen/lookup --seed 7 --runs 10 --max-commands 10');
    }
    expect(readdirSync(html).length).toBe((violations?.length ?? 0) + 1);
  });

  test('report reads corpus entries and --json output; replay --html writes the entry', async () => {
    const html = join(directory, 'report');
    const { code, out } = await run(['report', ENTRY, CHECK_JSON, '--html', html]);
    expect(code, out).toBe(0);
    const page = readFileSync(join(html, 'xen-lookup--no-dma-to-foreign-frame.html'), 'utf8');
    expect(readdirSync(html).filter((file) => file.endsWith('--seed-7.html')).length).toBeGreaterThan(0);
    expect(page).toContain('dmaprop replay test/regressions/xengt/');
    expect(page).toContain('data-violating="true"');
    const replayed = join(directory, 'replay');
    expect((await run(['replay', ENTRY, '--html', replayed])).code).toBe(0);
    expect(readdirSync(replayed).sort()).toEqual(['index.html', 'xen-lookup--no-dma-to-foreign-frame.html']);
  });

  test('a file that is no run, or an unusable directory, is bad usage', async () => {
    const stray = join(directory, 'stray.json');
    writeFileSync(stray, '{"hello": 1}');
    const bad = await run(['report', stray, '--html', join(directory, 'bad')]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain('neither a corpus entry nor the output of check --json or explore --json');
    const onFile = await run(['check', '--design', 'xen/lookup', '--runs', '1', '--html', stray]);
    expect(onFile.code).toBe(2);
    expect(onFile.err).toContain('--html');
  });
});

describe('pages', () => {
  test('text from a trace is escaped, never markup', () => {
    const evil = '<script>alert(1)</script>';
    const trace: TraceReport = {
      file: 'x.html',
      design: 'user/design',
      stack: 'user',
      description: evil,
      title: 'an-invariant',
      invariantClass: 'effect',
      steps: [
        {
          number: 1,
          command: {},
          text: evil,
          actor: evil,
          result: { ok: true },
          resultText: 'ok',
          explain: [evil],
          parts: [],
          inflight: [],
        },
      ],
      violatingStep: 1,
      violation: { message: evil, actual: evil, expected: evil },
      crash: null,
      replay: evil,
      replayNote: null,
      snippet: evil,
      graph: null,
      origin: 'test',
    };
    const page = tracePage(trace, 'index.html');
    // In an attribute's quoted value a tag is inert text; anywhere else it must be escaped.
    expect(page.replace(/"[^"]*"/g, '""')).not.toContain(evil);
    expect(page).toContain('&#x3C;script>alert(1)&#x3C;/script>');
  });

  test("a step's changes are grouped by top-level part, and those the explanation names are marked", () => {
    const before = { frames: [{ owner: 1, refcount: 1 }], iotlb: {} };
    const after = { frames: [{ owner: null, refcount: 0 }], iotlb: { 5: { mfn: 0 } } };
    const parts = stateChanges(before, after, ['host IOTLB (DID 1): iova page 5 → mfn 0 (stale)']);
    expect(parts).toEqual([
      {
        part: 'frames',
        omitted: 0,
        changes: [
          { path: '0.owner', change: 'changed', before: '1', after: 'null', named: false },
          { path: '0.refcount', change: 'changed', before: '1', after: '0', named: false },
        ],
      },
      {
        part: 'iotlb',
        omitted: 0,
        changes: [{ path: '5', change: 'added', before: '', after: '{"mfn":0}', named: true }],
      },
    ]);
  });
});
