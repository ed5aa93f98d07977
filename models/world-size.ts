/**
 * A size of a world a design describes (frames, RAM pages, limits, table entries): a whole number
 * in a range, or the default when absent. Anything else throws an Error that names the world and
 * the field, since a world that cannot be built must not turn into a design that holds by omission.
 */
export function worldSize(
  world: string,
  what: string,
  value: unknown,
  min: number,
  max: number,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new Error(`${world}: ${what} must be a whole number from ${min} to ${max}, got ${String(value)}`);
  }
  return value;
}
