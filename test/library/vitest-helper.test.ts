/** The vitest helper as a user's suite uses it: a design as a test, a corpus as tests. */
import { describe, expect, test } from 'vitest';
import { xenGtDesign } from '../../src/index.js';
import { designs } from '../../properties/registry.js';
import { DesignCheckFailure, expectDesignMeets, testCorpus, testDesign, testSeed } from '../../src/vitest.js';
import { soundCounter, stepMutates } from '../verdicts/fixtures.js';

describe('testDesign', () => {
  testDesign(soundCounter, { runs: 200 });
  testDesign(
    xenGtDesign({
      id: 'mine/leaky-teardown',
      backend: 'map',
      bugs: ['vgpu-destroy-skips-unmap'],
      expected: 'violates',
      description: 'vGPU destruction leaves its mappings behind',
      breaks: ['backend-mappings-match-shadow', 'no-vgpu-no-backend-mappings'],
    }),
    // Caught at run 1 of seed 1; 50 runs keep the test to the helper, not the search (300: 5 s of the suite).
    { runs: 50 },
  );
});

describe('expectDesignMeets', () => {
  test('a design that does not meet its expectation fails with the full report: steps, state, replay line', () => {
    const trusted = xenGtDesign({ id: 'mine/lookup-trusted', backend: 'lookup', expected: 'holds', description: 'x' });
    let failure: unknown;
    try {
      expectDesignMeets(trusted, { runs: 50, seed: 4 });
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(DesignCheckFailure);
    const message = (failure as DesignCheckFailure).message;
    expect(message).toContain('mine/lookup-trusted [XenGT] expected holds, violated ✗ UNEXPECTED');
    expect(message).toContain('shadow-frame-held-by-backend, step by step:');
    // Each step names its actor (the guest's vCPU that traps the write).
    expect(message).toMatch(/ {5}1\. \[guest vCPU0\] guest writes GTT entry \d → gfn \d+/);
    expect(message).toContain('replay: dmaprop check --design mine/lookup-trusted --seed 4 --runs 50');
    expect((failure as DesignCheckFailure).check.verdict).toBe('violated');
  });

  test('the purity guard is on: a step that writes into its input fails the test', () => {
    expect(() => expectDesignMeets(stepMutates, { runs: 200 })).toThrow('PurityError');
    expect(expectDesignMeets(stepMutates, { runs: 200, strict: false }).verdict).toBe('holds');
  });

  test('the seed is fixed: DMAPROP_SEED when set, else 1', () => {
    expect(testSeed({})).toBe(1);
    expect(testSeed({ DMAPROP_SEED: '77' })).toBe(77);
  });
});

testCorpus('test/regressions/mediated', designs);
