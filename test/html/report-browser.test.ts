/**
 * The HTML report in a real browser (headless Chromium, one launch for every page): a run's
 * index and each of its counterexample pages load without console errors, show every step, mark
 * the violating one, and are screenshotted (into the OS temp directory). Every built-in flawed
 * design's report is the deeper tier's (`report-every-design.test.ts`).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { designs } from '../../properties/registry.js';
import { parseEntry } from '../../src/corpus-parse.js';
import { entryRow } from '../../src/html/report-model.js';
import type { RunReport } from '../../src/html/report-model.js';
import { writeHtmlReport } from '../../src/html/write-report.js';
import { expectTracePage, launchChromium, openPage } from './browser.js';

const ENTRIES = [
  'test/regressions/viommu/viommu-shadow-unmap-skips-flush--no-dma-to-free-frame--9075a6161c0ed4b4.json',
  'test/regressions/viommu/viommu-shadow-unmap-skips-flush--no-stale-iotlb-outside-flush-queue--a573394eb4c4a955.json',
];

describe('HTML report in Chromium', () => {
  let browser: Browser;
  let directory: string;
  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'dmaprop-html-'));
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it('renders vIOMMU corpus entries: the index links every trace, each page shows its steps and marks the violating one', async () => {
    // Corpus entries rather than a search: the pages of a check are the same (report-cli.test.ts), and this stays cheap.
    const rows = ENTRIES.map((file) => {
      const { entry, design } = parseEntry(readFileSync(file, 'utf8'), file, designs);
      return entryRow(entry, design, file);
    });
    const run: RunReport = { title: 'dmaprop report: two vIOMMU entries', rows };
    const traces = run.rows.flatMap((row) => row.traces);
    expect(traces.map((trace) => trace.title)).toEqual(['no-dma-to-free-frame', 'no-stale-iotlb-outside-flush-queue']);
    const [index] = writeHtmlReport(directory, run);
    const opened = await openPage(browser, index ?? '');
    const links = await opened.page
      .locator('table.index a')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('href')));
    expect(links).toEqual(traces.map((trace) => trace.file));
    expect(await opened.page.locator('tr[data-design] td:nth-child(4)').allTextContents()).toEqual([
      'violated ✓ reproduces',
      'violated ✓ reproduces',
    ]);
    expect(opened.errors).toEqual([]);
    await opened.page.close();
    for (const trace of traces) {
      const { page, errors } = await openPage(browser, join(directory, trace.file));
      await expectTracePage(page, errors, trace);
      // The IOTLB the flaw leaves stale is in the state that matters of the violating step.
      const violating = await page.locator('section.step[data-violating] .explain').textContent();
      expect(violating).toContain('IOTLB');
      await page.screenshot({ path: join(directory, trace.file.replace(/\.html$/, '.png')), fullPage: false });
      await page.close();
    }
  });
});
