/**
 * A corpus entry as a program that replays it through the public API. The text is both
 * TypeScript and plain JavaScript (no type syntax), so it runs as an `.mjs` file too.
 */
import type { CorpusEntry } from './corpus-entry.js';

export function replaySnippet(entry: CorpusEntry, source: string): string {
  const steps = entry.steps.map((step) => `  ${JSON.stringify(step)},`).join('\n');
  return [
    `// Replays ${source} (${entry.design}, ${entry.invariant}) through dmaprop's public API.`,
    `import { findDesign, runTrace } from 'dmaprop';`,
    '',
    `const design = findDesign(${JSON.stringify(entry.design)});`,
    `if (design === undefined) throw new Error('design ${entry.design} is not registered');`,
    'const steps = [',
    steps,
    '];',
    `const run = runTrace(design, steps, { invariants: [${JSON.stringify(entry.invariant)}] });`,
    'run.steps.forEach((step, index) => console.log(`${index + 1}. ${JSON.stringify(step.command)} → ${JSON.stringify(step.result)}`));',
    'const found = run.violations[0];',
    "console.log(found === undefined ? 'no violation' : `violated after step ${found.afterStep}: ${found.violation.message}`);",
    '',
  ].join('\n');
}
