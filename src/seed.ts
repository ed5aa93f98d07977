/**
 * Seeds: explicit when given, otherwise fresh — and always printed so any run can be replayed.
 * Shards of one CI run must agree on theirs: they take it from `--seed`, from `DMAPROP_SEED`, or
 * derive it from the CI system's run id, which every job of one pipeline run shares.
 */
import { createHash, randomInt } from 'node:crypto';

/** fast-check seeds are 32-bit integers; dmaprop accepts 0 … 2^31 − 1. */
export const SEED_MAX = 2 ** 31 - 1;

/** The variable a CI job sets to give every shard the same seed. */
export const SEED_VARIABLE = 'DMAPROP_SEED';

/**
 * Run ids that every job of one CI pipeline run shares (GitHub Actions, GitLab CI, Buildkite,
 * CircleCI, Azure Pipelines), in the order they are looked for.
 */
export const CI_RUN_VARIABLES: readonly string[] = [
  'GITHUB_RUN_ID',
  'CI_PIPELINE_ID',
  'BUILDKITE_BUILD_ID',
  'CIRCLE_WORKFLOW_ID',
  'BUILD_BUILDID',
];

/** A fresh first seed such that `count` consecutive seeds from it are all valid. */
export function freshSeed(count = 1): number {
  return randomInt(0, SEED_MAX - count + 2);
}

/** The highest first seed of `count` consecutive seeds. */
export function maxFirstSeed(count: number): number {
  return SEED_MAX - count + 1;
}

export interface SharedSeed {
  readonly seed: number;
  /** Where it came from, for the run's header: `DMAPROP_SEED`, or `GITHUB_RUN_ID=…`. */
  readonly source: string;
}

/**
 * The seed every shard of a CI run agrees on, from the environment: `DMAPROP_SEED` as given, else
 * a hash of the first CI run id present (the same in every job of the run, and in its re-runs).
 * Null when there is none. Throws on a `DMAPROP_SEED` that is not a valid seed.
 */
export function sharedSeed(env: Readonly<Record<string, string | undefined>>, count = 1): SharedSeed | null {
  const given = env[SEED_VARIABLE];
  if (given !== undefined && given !== '') {
    const seed = Number(given);
    if (!/^\d+$/.test(given) || seed > maxFirstSeed(count)) {
      throw new Error(`${SEED_VARIABLE} must be a whole number from 0 to ${maxFirstSeed(count)}, got '${given}'`);
    }
    return { seed, source: SEED_VARIABLE };
  }
  for (const name of CI_RUN_VARIABLES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const digest = createHash('sha256').update(`${name}=${value}`).digest();
    return { seed: digest.readUInt32BE(0) % (maxFirstSeed(count) + 1), source: `${name}=${value}` };
  }
  return null;
}
