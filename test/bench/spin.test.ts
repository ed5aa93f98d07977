import { describe, expect, test } from 'vitest';
import { childrenCpuMs } from '../../src/bench-spin.js';

describe('Spin on the anchor (bench-spin.ts)', () => {
  test("reads the children's user and system time from bash's times", () => {
    expect(childrenCpuMs('0m0.010s 0m0.002s\n0m0.240s 0m0.004s\n')).toBe(244);
    expect(childrenCpuMs('0m0.010s 0m0.002s\n1m2.500s 0m0.000s')).toBe(62_500);
  });

  test('anything else is unreadable, not a time', () => {
    expect(childrenCpuMs('')).toBeNull();
    expect(childrenCpuMs('0m0.010s 0m0.002s\n')).toBeNull();
  });
});
