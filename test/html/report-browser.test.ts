/**
 * The HTML report in a real browser (headless Chromium, one launch for every page): a check's
 * index and each of its counterexample pages load without console errors, show every step, mark
 * the violating one, and are screenshotted (into the OS temp directory). Every built-in flawed
 * design's report is the deeper tier's (`report-every-design.test.ts`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { findDesign } from '../../src/index.js';
import { checkDesign } from '../../src/check.js';
import { checkRow } from '../../src/html/report-model.js';
import type { RunReport } from '../../src/html/report-model.js';
import { writeHtmlReport } from '../../src/html/write-report.js';
import { expectTracePage, launchChromium, openPage } from './browser.js';

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

  it('renders a vIOMMU check: the index links every counterexample, each page shows its steps and marks the violating one', async () => {
    const design = findDesign('viommu/shadow-unmap-skips-flush');
    if (design === undefined) throw new Error('design not registered');
    const check = checkDesign(design, {
      seed: 1001,
      runs: 100,
      report: ['no-dma-to-free-frame', 'no-stale-iotlb-outside-flush-queue'],
    });
    const run: RunReport = { title: 'dmaprop check: seed 1001', rows: [checkRow(check, design)] };
    const traces = run.rows.flatMap((row) => row.traces);
    expect(traces.map((trace) => trace.title).sort()).toEqual([
      'no-dma-to-free-frame',
      'no-stale-iotlb-outside-flush-queue',
    ]);
    const [index] = writeHtmlReport(directory, run);
    const opened = await openPage(browser, index ?? '');
    const links = await opened.page
      .locator('table.index a')
      .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('href')));
    expect(links).toEqual(traces.map((trace) => trace.file));
    expect(await opened.page.locator('tr[data-design] td:nth-child(4)').textContent()).toContain(
      `violated ${run.rows[0]?.mark}`,
    );
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
