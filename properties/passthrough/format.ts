/** One line per command of the passthrough stack over VT-d, for reports. */
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandProblem } from '../../src/design.js';
import { formatVfioCommand } from '../vfio/format.js';
import { validateVfioCommand } from '../vfio/schema.js';

export function formatPassthroughCommand(command: PassthroughCommand): string {
  return command.kind === 'drainFlushQueue'
    ? 'flush-queue timer: flush and release every lazy queue'
    : formatVfioCommand(command);
}

export function validatePassthroughCommand(command: Readonly<Record<string, unknown>>): CommandProblem | null {
  if (command['kind'] !== 'drainFlushQueue') return validateVfioCommand(command);
  const extra = Object.keys(command).find((field) => field !== 'kind');
  return extra === undefined ? null : { field: extra, problem: 'not a field of drainFlushQueue' };
}
