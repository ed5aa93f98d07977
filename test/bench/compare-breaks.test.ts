/** The before/after comparison of two declared-breaks outputs (bench/compare-breaks.ts). */
import { describe, expect, test } from 'vitest';
import { compareBreaks, parseBreaks } from '../../bench/compare-breaks.js';

const before = `seeds (3): 11 12 13
runs per seed: 1000, biased generation

a/slow: every declared break on 2/3 seeds (1.0 s)
  x: 2/3; first run median 400, p90 900, worst 900; missed on 13
  y: 3/3; first run median 10, p90 20, worst 20
b/fast: every declared break on 3/3 seeds (0.1 s)
  z: 3/3; first run median 2, p90 4, worst 4
`;

const after = `seeds (3): 11 12 13
runs per seed: 1000

a/slow: every declared break on 3/3 seeds (1.0 s)
  x: 3/3; first run median 100, p90 225, worst 225
  y: 3/3; first run median 5, p90 10, worst 10
b/fast: every declared break on 2/3 seeds (0.1 s)
  z: 2/3; never; missed on 11 12
`;

describe('compare-breaks', () => {
  test('parses each design, its seeds found and each declared break, "never" included', () => {
    const parsed = parseBreaks(after, 'after.txt');
    expect(parsed.seeds).toEqual([11, 12, 13]);
    expect(parsed.designs.get('a/slow')?.found).toBe(3);
    expect(parsed.designs.get('a/slow')?.breaks.get('x')).toEqual({ seeds: 3, median: 100, p90: 225, worst: 225 });
    expect(parsed.designs.get('b/fast')?.breaks.get('z')).toEqual({ seeds: 2, median: null, p90: null, worst: null });
  });

  test('before → after per declared break; geometric means over the breaks found in both; a miss after is incomplete', () => {
    const { lines, complete } = compareBreaks(parseBreaks(before, 'before.txt'), parseBreaks(after, 'after.txt'));
    expect(lines).toContain('a/slow: every declared break on 2/3 → 3/3 seeds');
    expect(lines).toContain('  x: seeds 2 → 3; median 400 → 100, p90 900 → 225, worst 900 → 225');
    expect(lines).toContain('  z: seeds 3 → 2; median 2 → never, p90 4 → never, worst 4 → never');
    expect(lines).toContain('designs and mutants in both: 2; every declared break on every seed: 1 → 1');
    // x and y only (z was never found after): medians √(400·10) = 63.2 → √(100·5) = 22.4.
    expect(lines.at(-1)).toBe(
      'geometric mean of the runs to first failure over 2 declared breaks: median 63.2 → 22.4, p90 134.2 → 47.4, worst 134.2 → 47.4',
    );
    expect(complete).toBe(false);
  });

  test('a file that is not an output of declared-breaks is named in the error', () => {
    expect(() => parseBreaks('hello\n', 'notes.txt')).toThrow(/notes\.txt: no "seeds \(N\): …" line/);
    expect(() => parseBreaks('seeds (1): 5\n  x: 1/1; never\n', 'early.txt')).toThrow(
      /early\.txt:2: a declared break before any design/,
    );
  });
});
