/** Meta-test, slice 3 of 3: explore's shortest counterexamples are as short as check's (see meta-cases.ts). */
import { describe, test } from 'vitest';
import { exploreAgreesWithCheck, flawedSlice, META_DEPTH } from './meta-cases.js';

describe(`explore (depth ≤ ${META_DEPTH}) and check (seed 1, 1000 runs) agree on shortest lengths`, () => {
  test.for(flawedSlice(2, 3))('$id', (design) => exploreAgreesWithCheck(design));
});
