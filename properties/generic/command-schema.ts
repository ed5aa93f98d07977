/**
 * Validation of commands read from files (the corpus) against a stack's schema: the fields each
 * kind has and what each holds. Values may be out of range — invalid requests are legitimate
 * commands — but never of the wrong type.
 */
import type { CommandProblem } from '../../src/design.js';

export type FieldType =
  | 'whole number'
  | 'boolean'
  | 'whole number or null'
  /** An unsigned 64-bit ioctl argument as a decimal string (any string: malformed ones are refused by the model). */
  | 'u64 string'
  /** A vfio-ccw channel program: a list of `{ iovaPage, write }`. */
  | 'transfer list'
  /** A fault injection point. */
  | '"pin" or "alloc"'
  /** A batch-buffer command of the GVT-g stacks. */
  | '"store", "forbidden" or "end"'
  /** A vIOMMU invalidation's granularity. */
  | '"page", "domain" or "global"';

export type CommandSchema = Readonly<Record<string, Readonly<Record<string, FieldType>>>>;

function isWhole(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function fits(value: unknown, type: FieldType): boolean {
  switch (type) {
    case 'whole number':
      return isWhole(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'whole number or null':
      return isWhole(value) || value === null;
    case 'u64 string':
      return typeof value === 'string';
    case 'transfer list':
      return (
        Array.isArray(value) &&
        value.every(
          (item: unknown) =>
            typeof item === 'object' &&
            item !== null &&
            isWhole((item as Record<string, unknown>)['iovaPage']) &&
            typeof (item as Record<string, unknown>)['write'] === 'boolean' &&
            Object.keys(item).length === 2,
        )
      );
    case '"pin" or "alloc"':
      return value === 'pin' || value === 'alloc';
    case '"store", "forbidden" or "end"':
      return value === 'store' || value === 'forbidden' || value === 'end';
    case '"page", "domain" or "global"':
      return value === 'page' || value === 'domain' || value === 'global';
  }
}

export function validateCommand(
  schema: CommandSchema,
  command: Readonly<Record<string, unknown>>,
): CommandProblem | null {
  const fields = schema[String(command['kind'])];
  if (fields === undefined) return { field: 'kind', problem: `unknown command kind '${String(command['kind'])}'` };
  for (const [field, type] of Object.entries(fields)) {
    if (!(field in command)) return { field, problem: 'missing' };
    if (!fits(command[field], type))
      return { field, problem: `expected a ${type}, got ${JSON.stringify(command[field])}` };
  }
  for (const field of Object.keys(command)) {
    if (field !== 'kind' && !(field in fields)) return { field, problem: `not a field of ${String(command['kind'])}` };
  }
  return null;
}
