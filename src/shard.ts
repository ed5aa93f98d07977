/**
 * Splitting one check across machines (`--shard i/n`, a CI matrix of n jobs). The work of a check
 * is every design, run over `runs` sequences of each of its seeds. With at least n seeds, shard
 * i takes every n-th seed from the i-th, whole. With fewer, every shard takes every seed and
 * shard i runs every n-th sequence of each, from the i-th (each shard generates all of a seed's
 * sequences, which are cheap next to running them, and runs its own). Either way the shards
 * together run each (seed, sequence) exactly once: their union is the unsharded check
 * (`mergeChecks`). A shard with nothing to run is a usage error.
 */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

export function parseShard(text: string): Shard {
  const match = /^(\d+)\/(\d+)$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (match === null || count < 1 || index < 1 || index > count) {
    throw new Error(`shard must be i/n with 1 ≤ i ≤ n, got '${text}'`);
  }
  return { index, count };
}

/** What one shard of a check runs: its seeds, and the shard of each seed's runs (null: all of them). */
export interface ShardPlan {
  readonly seeds: readonly number[];
  readonly runShard: Shard | null;
  /** How the work is split, in words, for the run's header. */
  readonly description: string;
}

export function planShard(base: number, seedCount: number, runs: number, shard: Shard | undefined): ShardPlan {
  const seeds = Array.from({ length: seedCount }, (_, offset) => base + offset);
  if (shard === undefined) return { seeds, runShard: null, description: '' };
  if (seedCount >= shard.count) {
    const mine = seeds.filter((_, position) => position % shard.count === shard.index - 1);
    return {
      seeds: mine,
      runShard: null,
      description: `shard ${shard.index}/${shard.count}: ${mine.length} of ${seedCount} seeds`,
    };
  }
  if (runs < shard.index) {
    throw new Error(
      `shard ${shard.index}/${shard.count} is empty: ${seedCount} seed${seedCount === 1 ? '' : 's'} of ${runs} run${runs === 1 ? '' : 's'} split ${shard.count} ways leave nothing to shard ${shard.index} (use at most ${Math.max(seedCount, runs)} shards)`,
    );
  }
  const mine = Math.floor((runs - shard.index) / shard.count) + 1;
  return {
    seeds,
    runShard: shard,
    description: `shard ${shard.index}/${shard.count}: runs ${shard.index}, ${shard.index + shard.count}, … of each seed (${mine} of ${runs})`,
  };
}
