/**
 * Splitting a long search across machines: a run covers seeds `base … base+count-1`, and shard
 * `i/n` takes every n-th of them starting at the i-th. Each seed is one independent search, so
 * the union of the shards is exactly the unsharded run.
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

export function shardSeeds(base: number, seedCount: number, shard: Shard | undefined): number[] {
  const seeds = Array.from({ length: seedCount }, (_, offset) => base + offset);
  if (shard === undefined) return seeds;
  return seeds.filter((_, position) => position % shard.count === shard.index - 1);
}
