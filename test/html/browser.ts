/**
 * The browser the HTML report's tests drive: Debian's headless Chromium (`apt-get install -y
 * chromium`, as `.ci/run` does), or the binary `DMAPROP_CHROMIUM` names, through playwright-core
 * (no browser download). A missing browser fails the test with how to install it: the browser
 * tests never pass by being skipped.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { TraceReport } from '../../src/html/report-model.js';

export const CHROMIUM = process.env['DMAPROP_CHROMIUM'] ?? '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `the HTML report's browser tests need Chromium at ${CHROMIUM}: install it with \`apt-get install -y chromium\` (sudo when not root; .ci/run does), or set DMAPROP_CHROMIUM to a Chromium or Chrome binary`,
    );
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
}

/** Opens a file in a fresh page; every console error and uncaught exception is collected in `errors`. */
export async function openPage(browser: Browser, file: string): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  // A missing element fails the test at once rather than after playwright's 30 s default wait.
  page.setDefaultTimeout(2000);
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => errors.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => errors.push(`request failed: ${request.url()}`));
  page.on('request', (request) => {
    if (!request.url().startsWith('file:')) errors.push(`network request: ${request.url()}`);
  });
  await page.goto(pathToFileURL(file).href, { waitUntil: 'load' });
  return { page, errors };
}

/**
 * What every counterexample page must show, as the browser renders it: each step in the chart
 * and in the step list, the violating step (and only it) marked in both, the violation or crash,
 * the replay command and snippet; and no console error or request off the page.
 */
export async function expectTracePage(page: Page, errors: readonly string[], trace: TraceReport): Promise<void> {
  const count = trace.steps.length;
  // A counterexample of no steps is an initial state that breaks the invariant (vfio/noiommu's device reaches every frame).
  if (count === 0) expect(trace.violatingStep, `${trace.file}: no steps, so the initial state`).toBe(0);
  expect(await page.locator('section.step').count(), `${trace.file}: step sections`).toBe(count);
  expect(await page.locator('svg.sequence-chart g.arrow').count(), `${trace.file}: chart arrows`).toBe(count);
  for (const step of trace.steps) {
    const section = page.locator(`section#step-${step.number}`);
    expect(await section.isVisible(), `${trace.file}: step ${step.number} visible`).toBe(true);
    expect(await section.textContent(), `${trace.file}: step ${step.number}`).toContain(step.text);
  }
  const marked = await page
    .locator('section.step[data-violating]')
    .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-step')));
  const markedArrows = await page
    .locator('svg.sequence-chart g.arrow[data-violating]')
    .evaluateAll((nodes) => nodes.map((node) => node.getAttribute('data-step')));
  const expected = trace.violatingStep === 0 || trace.violatingStep > count ? [] : [String(trace.violatingStep)];
  expect(marked, `${trace.file}: marked steps`).toEqual(expected);
  expect(markedArrows, `${trace.file}: marked arrows`).toEqual(expected);
  if (expected.length > 0) {
    const color = await page
      .locator(`section.step[data-violating]`)
      .evaluate(
        (node) =>
          (globalThis as unknown as { getComputedStyle(node: unknown): { borderTopColor: string } }).getComputedStyle(
            node,
          ).borderTopColor,
      );
    expect(color, `${trace.file}: the violating step is drawn in red`).toBe('rgb(198, 40, 40)');
  }
  const problem = await page.locator('#violation').textContent();
  expect(problem, `${trace.file}: the violation`).toContain(trace.violation?.actual ?? trace.crash?.message ?? '');
  expect(await page.locator('#replay-snippet').textContent(), `${trace.file}: snippet`).toBe(trace.snippet);
  if (trace.replay !== null) expect(await page.locator('#replay-command').textContent()).toBe(trace.replay);
  expect(errors, `${trace.file}: console errors`).toEqual([]);
}
