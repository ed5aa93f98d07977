/** Seeds: explicit when given, otherwise fresh — and always printed so any run can be replayed. */
import { randomInt } from 'node:crypto';

/** fast-check seeds are 32-bit integers. */
export const SEED_MAX = 2 ** 31 - 1;

export function freshSeed(): number {
  return randomInt(0, SEED_MAX);
}
