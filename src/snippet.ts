/**
 * A corpus entry as a program that replays it through the public API. The text is both
 * TypeScript and plain JavaScript (no type syntax), so it runs as an `.mjs` file too.
 */
import type { CorpusEntry } from './corpus-entry.js';

/**
 * `config`: the config file the entry's design comes from (`--config`), imported by the snippet;
 * a built-in design is found with `findDesign`.
 */
export function replaySnippet(entry: CorpusEntry, source: string, config?: string): string {
  const steps = entry.steps.map((step) => `  ${JSON.stringify(step)},`).join('\n');
  const invariants = entry.invariant === undefined ? [] : [entry.invariant];
  const what = entry.expect === 'crash' ? `crash in ${entry.crash.site}` : entry.invariant;
  return [
    `// Replays ${source} (${entry.design}, ${what}) through dmaprop's public API.`,
    `import { findDesign, runTrace } from 'dmaprop';`,
    ...(config === undefined
      ? []
      : [
          `import config from ${JSON.stringify(config.startsWith('.') || config.startsWith('/') ? config : `./${config}`)};`,
        ]),
    '',
    config === undefined
      ? `const design = findDesign(${JSON.stringify(entry.design)});`
      : `const design = config.designs.find((known) => known.id === ${JSON.stringify(entry.design)}) ?? findDesign(${JSON.stringify(entry.design)});`,
    `if (design === undefined) throw new Error('design ${entry.design} is not registered');`,
    'const steps = [',
    steps,
    '];',
    `const run = runTrace(design, steps, { invariants: ${JSON.stringify(invariants)} });`,
    'run.steps.forEach((step, index) => console.log(`${index + 1}. ${JSON.stringify(step.command)} → ${JSON.stringify(step.result)}`));',
    'const found = run.violations[0];',
    'if (run.crash !== null) console.log(`crashed at step ${run.crash.atStep} (${run.crash.site}): ${run.crash.name}: ${run.crash.message}`);',
    "else console.log(found === undefined ? 'no violation' : `violated after step ${found.afterStep}: ${found.violation.message}`);",
    '',
  ].join('\n');
}
