/**
 * Each of our designs meets its expectation: a sound one holds over 300 sequences with every
 * command kind executed, a flawed one breaks every invariant it declares. A failure prints
 * dmaprop's whole report (each counterexample step by step, the replay line). The seed is fixed:
 * DMAPROP_SEED, or 1.
 */
import { describe } from 'vitest';
import { testDesign } from 'dmaprop/vitest';
import { exampleDesigns } from '../designs/index.js';

describe('our designs', () => {
  for (const design of exampleDesigns) testDesign(design, { runs: 300 });
});
