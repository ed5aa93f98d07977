/**
 * Our designs of one stack as vitest tests, one per design: a sound design holds over the default
 * budget (1,000 sequences) with every command kind executed, a flawed one breaks every invariant it
 * declares within it — the budget `dmaprop check` runs, so a test passes exactly when the CLI's
 * verdict is met. A
 * failure prints dmaprop's whole report (each counterexample step by step, the replay line). The
 * seed is fixed: DMAPROP_SEED, or 1. One file per stack, so vitest runs the stacks in parallel.
 */
import { describe, expect, test } from 'vitest';
import { testDesign } from 'dmaprop/vitest';
import { exampleDesigns } from '../designs/index.js';

export function testOurDesigns(stack: string): void {
  const ours = exampleDesigns.filter((design) => design.stack === stack);
  describe(`our ${stack} designs`, () => {
    test('there are some', () => expect(ours.length).toBeGreaterThan(0));
    for (const design of ours) testDesign(design);
  });
}
