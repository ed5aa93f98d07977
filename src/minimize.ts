/**
 * Deterministic minimization of a failing command list, run after fast-check's own shrinking.
 * It removes chunks of steps (halving down to single steps), then lowers each field — numbers
 * toward 0, `true` toward `false`, one field or all equal fields of one name at once — to the
 * smallest value that still fails, and repeats until
 * nothing changes. The result is 1-minimal (no single step can be removed) and, because values
 * are tried from the smallest up, the same bug tends to reduce to the same trace from any seed.
 *
 * A short trace that is stuck then gets one more pass: two steps removed together, alone or with
 * one field of another step lowered by one (or to its smallest value). Some traces need exactly
 * that joint move: two steps that only reorder the allocator's free list, and a range one page
 * too long that they compensate for.
 *
 * Last, one or two steps are removed while a value that stays is renamed to a fresh one (the
 * smallest values its field does not use yet). Lowering alone never gets there: a gfn that was
 * ballooned out and populated again needs steps that free and reorder frames, while a gfn never
 * populated needs none — but it is a larger number. In a trace of a few steps, the value is also
 * replaced at every place it appears, across fields, by any small value: a frame that steps gave
 * a domain can be a frame the domain had from the start, named by a pin and a page-table update
 * alike.
 *
 * Interleavings (`properties/generic/interleave.ts`): a start (`phased: true`) lowered becomes
 * the atomic command, written without the flag, as generation writes it. And a start with a later
 * `advance` is collapsed into its atomic command run where that advance was (one step fewer, one
 * context switch fewer): an operation whose effect is its last phase (a DMA that lands, a write
 * that is committed) then runs at the point it completed. Removing or lowering alone cannot get
 * there — the atomic command at the start's place completes too early.
 */
export interface MinimizeResult<C> {
  readonly commands: C[];
  /** Candidate traces tried. */
  readonly attempts: number;
}

/** Cap on replays, so a pathological predicate cannot run forever. Arbitrary, generous. */
const MAX_ATTEMPTS = 20_000;
/** Numbers above this are tried at a few points only (0, halves, minus one), not one by one. */
const EXHAUSTIVE_BELOW = 32;

/** Traces longer than this skip the pair-removal pass (its cost grows with the cube of the length). */
const PAIR_PASS_MAX_STEPS = 10;

/**
 * Traces longer than this skip the replace pass, and longer than the second one remove single steps
 * only there (its candidates: removals × values × EXHAUSTIVE_BELOW, removals growing with the
 * square of the length when pairs are removed).
 */
const REPLACE_PASS_MAX_STEPS = 5;
const REPLACE_PAIRS_MAX_STEPS = 4;

/** Fresh values tried per rename: the smallest ones the field does not use. */
const FRESH_VALUES = 4;

/** Places sharing one value that are lowered together, at most; 2^6 subsets is cheap. */
const MAX_JOINT_PLACES = 6;

/** Subsets of at least two places, largest first, each in increasing order. */
function subsetsLargestFirst(places: readonly number[]): number[][] {
  const subsets: number[][] = [];
  for (let mask = 1; mask < 1 << places.length; mask++) {
    const subset = places.filter((_, bit) => (mask & (1 << bit)) !== 0);
    if (subset.length >= 2) subsets.push(subset);
  }
  return subsets.sort((left, right) => right.length - left.length);
}

function smallerValues(value: unknown): unknown[] {
  if (value === true) return [false];
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) return [];
  if (value <= EXHAUSTIVE_BELOW) return Array.from({ length: value }, (_, index) => index);
  const candidates = new Set<number>([0]);
  for (let step = value >> 1; step > 0; step >>= 1) candidates.add(value - step);
  candidates.add(value - 1);
  return [...candidates].sort((left, right) => left - right);
}

/** The command with field `key` set to `value`; a start lowered to atomic loses its flag. */
function withField<C extends object>(command: C, key: string, value: unknown): C {
  if (key !== PHASED || value !== false) return { ...command, [key]: value } as C;
  const atomic: Record<string, unknown> = { ...(command as Record<string, unknown>) };
  delete atomic[PHASED];
  return atomic as C;
}

/** The interleaving conventions' field and kind (`properties/generic/interleave.ts`). */
const PHASED = 'phased';
const ADVANCE = 'advance';

export function minimize<C extends object>(
  initial: readonly C[],
  fails: (commands: C[]) => boolean,
): MinimizeResult<C> {
  let current = [...initial];
  let attempts = 0;
  const tryCandidate = (candidate: C[]): boolean => {
    if (attempts >= MAX_ATTEMPTS) return false;
    attempts += 1;
    if (!fails(candidate)) return false;
    current = candidate;
    return true;
  };

  // A value shared by fields of the same name (the gfn a GTT entry was written with and the gfn
  // ballooned out) is lowered at those places together, which single-field lowering cannot do.
  // Every subset of two or more places is tried, largest first, so that one bug found from any
  // seed reduces to the same trace.
  const lowerJointly = (): boolean => {
    const keys = [...new Set(current.flatMap((command) => Object.keys(command)))].sort();
    for (const key of keys) {
      const field = (command: C): unknown => (command as Record<string, unknown>)[key];
      const values = [...new Set(current.map(field))].filter((value) => typeof value === 'number').sort();
      for (const value of values) {
        const places = current.flatMap((command, index) => (field(command) === value ? [index] : []));
        for (const subset of subsetsLargestFirst(places.slice(0, MAX_JOINT_PLACES))) {
          for (const smaller of smallerValues(value)) {
            const candidate = current.map((command, index) =>
              subset.includes(index) ? withField(command, key, smaller) : command,
            );
            if (tryCandidate(candidate)) return true;
          }
        }
      }
    }
    return false;
  };

  // Two steps out at once, alone or with one field of a remaining step nudged down.
  const removePairs = (): boolean => {
    if (current.length < 3 || current.length > PAIR_PASS_MAX_STEPS) return false;
    for (let first = 0; first < current.length; first++) {
      for (let second = first + 1; second < current.length; second++) {
        const rest = current.filter((_, index) => index !== first && index !== second);
        if (tryCandidate(rest)) return true;
        for (let index = 0; index < rest.length; index++) {
          const command = rest[index] as Record<string, unknown>;
          for (const key of Object.keys(command).sort()) {
            const value = command[key];
            const nudged: unknown[] =
              value === true ? [false] : typeof value === 'number' && value > 0 ? [value - 1, 0] : [];
            for (const smaller of new Set(nudged)) {
              const candidate = [...rest];
              candidate[index] = withField(command as C, key, smaller);
              if (tryCandidate(candidate)) return true;
            }
          }
        }
      }
    }
    return false;
  };

  // One or two steps out, and one value of the rest renamed — at all its places of one field,
  // then at each place alone — to a value that field does not use.
  const removeWithRename = (): boolean => {
    if (current.length < 2 || current.length > PAIR_PASS_MAX_STEPS) return false;
    const removals: number[][] = [];
    for (let first = 0; first < current.length; first++) removals.push([first]);
    for (let first = 0; first < current.length; first++) {
      for (let second = first + 1; second < current.length; second++) removals.push([first, second]);
    }
    for (const removal of removals) {
      const rest = current.filter((_, index) => !removal.includes(index));
      const keys = [...new Set(rest.flatMap((command) => Object.keys(command)))].sort();
      for (const key of keys) {
        const field = (command: C): unknown => (command as Record<string, unknown>)[key];
        const used = new Set(rest.map(field));
        const values = [...used].filter((value): value is number => typeof value === 'number').sort((a, b) => a - b);
        if (values.length === 0) continue;
        const fresh: number[] = [];
        for (let value = 0; fresh.length < FRESH_VALUES; value++) if (!used.has(value)) fresh.push(value);
        for (const value of values) {
          const places = rest.flatMap((command, index) => (field(command) === value ? [index] : []));
          const targets = places.length > 1 ? [places, ...places.map((place) => [place])] : [places];
          for (const target of targets) {
            for (const renamed of fresh) {
              const candidate = rest.map((command, index) =>
                target.includes(index) ? ({ ...command, [key]: renamed } as C) : command,
              );
              if (tryCandidate(candidate)) return true;
            }
          }
        }
      }
    }
    return false;
  };

  // One or two steps out, and one value of the rest replaced (or swapped with another) at every
  // place it appears, whatever the field (a frame named by a pin and by the page-table update that writes it: `mfn` and
  // `tableMfn`), by any small value, used or not. The steps removed may be what made that value
  // right (a frame an earlier populate gave the domain); another value may be right from the
  // start (a frame the domain had all along), and it need not be fresh or smaller. Only for
  // traces this short: the candidates grow with the length's square times the values tried.
  const removeWithReplace = (): boolean => {
    if (current.length < 2 || current.length > REPLACE_PASS_MAX_STEPS) return false;
    const removals: number[][] = [];
    for (let first = 0; first < current.length; first++) removals.push([first]);
    if (current.length <= REPLACE_PAIRS_MAX_STEPS) {
      for (let first = 0; first < current.length; first++) {
        for (let second = first + 1; second < current.length; second++) removals.push([first, second]);
      }
    }
    for (const removal of removals) {
      const rest = current.filter((_, index) => !removal.includes(index));
      const numbers = (command: C): [string, number][] =>
        Object.entries(command).filter((entry): entry is [string, number] => typeof entry[1] === 'number');
      const values = [...new Set(rest.flatMap((command) => numbers(command).map(([, value]) => value)))].sort(
        (left, right) => left - right,
      );
      for (const value of values) {
        for (let replacement = 0; replacement < EXHAUSTIVE_BELOW; replacement++) {
          if (replacement === value) continue;
          // The value replaced; and, when the replacement is in use too, the two swapped (a gfn a
          // removed step moved a frame to, and the gfn it came from).
          const swaps = values.includes(replacement) ? [false, true] : [false];
          for (const swap of swaps) {
            const candidate = rest.map((command) => {
              const replaced = numbers(command).flatMap(([key, found]): [string, number][] => {
                if (found === value) return [[key, replacement]];
                return swap && found === replacement ? [[key, value]] : [];
              });
              return replaced.length === 0 ? command : ({ ...command, ...Object.fromEntries(replaced) } as C);
            });
            if (tryCandidate(candidate)) return true;
          }
        }
      }
    }
    return false;
  };

  // A start and a later advance become the atomic command at the advance's place.
  const collapseStarts = (): boolean => {
    const field = (command: C, key: string): unknown => (command as Record<string, unknown>)[key];
    for (let advance = 1; advance < current.length; advance++) {
      const at = current[advance];
      if (at === undefined || field(at, 'kind') !== ADVANCE) continue;
      for (let start = advance - 1; start >= 0; start--) {
        const started = current[start];
        if (started === undefined || field(started, PHASED) !== true) continue;
        const candidate = current.flatMap((command, index) =>
          index === start ? [] : [index === advance ? withField(started, PHASED, false) : command],
        );
        if (tryCandidate(candidate)) return true;
      }
    }
    return false;
  };

  let changed = true;
  while (changed && attempts < MAX_ATTEMPTS) {
    changed = false;
    for (let size = Math.max(1, current.length >> 1); size >= 1; size >>= 1) {
      for (let start = 0; start + size <= current.length;) {
        if (tryCandidate([...current.slice(0, start), ...current.slice(start + size)])) changed = true;
        else start += 1;
      }
    }
    if (collapseStarts()) changed = true;
    if (lowerJointly()) changed = true;
    for (let index = 0; index < current.length; index++) {
      for (const key of Object.keys(current[index] ?? {}).sort()) {
        const command = current[index] as Record<string, unknown>;
        for (const smaller of smallerValues(command[key])) {
          const candidate = [...current];
          candidate[index] = withField(command as C, key, smaller);
          if (tryCandidate(candidate)) {
            changed = true;
            break;
          }
        }
      }
    }
    if (!changed && removePairs()) changed = true;
    if (!changed && removeWithRename()) changed = true;
    if (!changed && removeWithReplace()) changed = true;
  }
  return { commands: current, attempts };
}
