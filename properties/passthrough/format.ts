/** One line per command of the passthrough stack over VT-d, for reports; and the shape of each. */
import type { PassthroughCommand } from '../../models/passthrough/types.js';
import type { CommandProblem } from '../../src/design.js';
import { formatVfioCommand } from '../vfio/format.js';
import { commandValidator, fd, pageNumber, templateValidator, u32 } from '../generic/command-schema.js';
import { vfioCommandSchema } from '../vfio/schema.js';

export function formatPassthroughCommand(command: PassthroughCommand): string {
  if (command.kind === 'drainFlushQueue') return 'flush-queue timer: flush and release every lazy queue';
  if (command.kind === 'finishCopiedAttach')
    return `kernel: device ${command.deviceId}'s probe finishes tearing down its copied (kdump) context entry and attaches its default domain`;
  if (command.kind === 'attachPasid')
    return `device ${command.deviceId}: attach PASID ${command.pasid} to its VFIO domain`;
  if (command.kind === 'detachPasid') return `device ${command.deviceId}: detach PASID ${command.pasid}`;
  if (command.kind === 'pasidDma')
    return `device ${command.deviceId} DMA ${command.write ? 'write' : 'read'} with PASID ${command.pasid} at iova page ${command.addressPage}`;
  return formatVfioCommand(command);
}

/**
 * A PASID as a command carries it: any 32-bit value (`ioasid_t`), the model answers those outside
 * 1..2^20-1 with EINVAL.
 */
const pasidArgs = { deviceId: fd, pasid: u32('an ioasid_t') };

/** Every VFIO command, the flush-queue timer, which has no fields, the PASID commands and a kdump probe's end. */
const passthroughSchema = {
  ...vfioCommandSchema,
  drainFlushQueue: {},
  attachPasid: pasidArgs,
  detachPasid: pasidArgs,
  pasidDma: { ...pasidArgs, addressPage: pageNumber, write: 'boolean' as const },
  finishCopiedAttach: { deviceId: fd },
};

export const validatePassthroughCommand: (command: unknown) => CommandProblem | null =
  commandValidator(passthroughSchema);
/** Templates (a whole-number field may hold a pick), for a resolve behind `guardResolve`. */
export const validatePassthroughTemplate: (template: unknown) => CommandProblem | null =
  templateValidator(passthroughSchema);
