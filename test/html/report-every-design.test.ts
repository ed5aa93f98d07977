/**
 * The deeper tier (`npm run test:deep`; `npm run report:screenshots` runs only this file): every
 * built-in flawed design's report in Chromium. Each design is checked until it breaks what it
 * declares; every counterexample page loads without console errors, shows every step and marks
 * the violating one, and is screenshotted into DMAPROP_SCREENSHOTS (default: a temporary directory,
 * printed).
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { designs } from '../../properties/registry.js';
import { checkDesign } from '../../src/check.js';
import { checkRow } from '../../src/html/report-model.js';
import { writeHtmlReport } from '../../src/html/write-report.js';
import { DEEP } from '../helpers.js';
import { expectTracePage, launchChromium, openPage } from './browser.js';

const flawed = designs.filter((design) => design.expected === 'violates');

describe.runIf(DEEP)("every flawed design's HTML report in Chromium", () => {
  let browser: Browser;
  const screenshots = process.env['DMAPROP_SCREENSHOTS'] ?? mkdtempSync(join(tmpdir(), 'dmaprop-report-'));
  beforeAll(async () => {
    mkdirSync(screenshots, { recursive: true });
    console.log(`report pages and screenshots: ${screenshots}`);
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
  });

  it.each(flawed.map((design) => [design.id, design] as const))('%s', async (id, design) => {
    const check = checkDesign(design, { seed: 1001, runs: 1000, report: design.breaks });
    const row = checkRow(check, design);
    expect(row.traces.length, `${id}: counterexamples`).toBeGreaterThan(0);
    const directory = join(screenshots, id.replace(/[^A-Za-z0-9.-]+/g, '-'));
    writeHtmlReport(directory, { title: `dmaprop check: ${id}, seed 1001`, rows: [row] });
    for (const trace of row.traces) {
      const { page, errors } = await openPage(browser, join(directory, trace.file));
      await expectTracePage(page, errors, trace);
      await page.screenshot({ path: join(directory, trace.file.replace(/\.html$/, '.png')), fullPage: true });
      await page.close();
    }
  });
});
