/** One line per command of the passthrough stack over VT-d, for reports; and the shape of each. */
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandProblem } from '../../src/design.js';
import { formatVfioCommand } from '../vfio/format.js';
import { commandValidator, templateValidator } from '../generic/command-schema.js';
import { vfioCommandSchema } from '../vfio/schema.js';

export function formatPassthroughCommand(command: PassthroughCommand): string {
  return command.kind === 'drainFlushQueue'
    ? 'flush-queue timer: flush and release every lazy queue'
    : formatVfioCommand(command);
}

/** Every VFIO command, and the flush-queue timer, which has no fields. */
const passthroughSchema = { ...vfioCommandSchema, drainFlushQueue: {} };

export const validatePassthroughCommand: (command: unknown) => CommandProblem | null =
  commandValidator(passthroughSchema);
/** Templates (a whole-number field may hold a pick), for a resolve behind `guardResolve`. */
export const validatePassthroughTemplate: (template: unknown) => CommandProblem | null =
  templateValidator(passthroughSchema);
