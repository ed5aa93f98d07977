/** One line per XenGT command for reports, in the real systems' words. */
import { isGvtCommand } from '../../models/gvt/commands.js';
import type { XenGtCommand } from '../../models/xengt/commands.js';
import { formatGvtCommand } from '../gvt/commands.js';

const addr = (value: number | null): string => (value === null ? '0' : String(value));

export function formatXenGtCommand(command: XenGtCommand): string {
  if (isGvtCommand(command)) return formatGvtCommand(command);
  switch (command.kind) {
    case 'advance':
      return `advance operation ${command.op} in flight`;
    case 'gttWrite': {
      const who = command.vcpu === undefined ? 'guest' : `guest vCPU${command.vcpu}`;
      const started = command.phased === true ? ' (trapped; backend translates, shadow entry later)' : '';
      const size = command.sizeBytes ?? 8;
      const access =
        size === 8 && (command.offsetBytes ?? 0) === 0 ? '' : ` (${size} bytes at offset ${command.offsetBytes ?? 0})`;
      return command.present
        ? `${who} writes GTT entry ${command.entry} → gfn ${command.gfn}${access}${started}`
        : `${who} clears GTT entry ${command.entry}${access}${started}`;
    }
    case 'gpuDma':
      return `GPU DMA ${command.write ? 'write' : 'read'} through GTT entry ${command.entry}${command.phased === true ? ' (translated at fetch, lands later)' : ''}`;
    case 'decreaseReservation':
      return `dom${command.domid} balloons out gfn ${command.gfn} (decrease_reservation${command.phased === true ? '; p2m entry removed, pages put later' : ''})`;
    case 'populatePhysmap':
      return `dom${command.domid} populates gfn ${command.gfn} (populate_physmap)`;
    case 'grantAccess':
      return `dom${command.domid} grants ref ${command.ref} on gfn ${command.gfn} to dom${command.granteeDomid}${command.readonly ? ' read-only' : ''}`;
    case 'endAccess':
      return `dom${command.domid} ends foreign access to ref ${command.ref}`;
    case 'mapGrantRef': {
      const parts = [command.host ? 'host' : '', command.device ? 'device' : ''].filter((part) => part !== '');
      return `dom${command.mapperDomid} map_grant_ref dom${command.granterDomid} ref ${command.ref} [${parts.join('+') || 'none'}${command.readonly ? ', ro' : ''}] host_addr ${addr(command.hostAddr)}${command.phased === true ? ' (pinned; references and mapping later)' : ''}`;
    }
    case 'unmapGrantRef':
      return `dom${command.mapperDomid} unmap_grant_ref handle ${command.handle} host_addr ${addr(command.hostAddr)} dev_bus_addr ${addr(command.devBusAddr)}${command.phased === true ? ' (unmap_common; flush and completion later)' : ''}`;
    case 'mapForeign':
      return `dom${command.domid} maps dom${command.foreignDomid} gfn ${command.foreignGfn} at gfn ${command.gfn} (gmfn_foreign)`;
    case 'unmapForeign':
      return `dom${command.domid} removes foreign mapping at gfn ${command.gfn}`;
    case 'destroyDomain':
      return `toolstack destroys dom${command.domid}${command.phased === true ? ' (dying, mappings released; memory relinquished in the continuation)' : ''}`;
    case 'createDomain':
      return `toolstack creates dom${command.domid} (createdomain, then populate_physmap of its RAM)`;
    case 'injectFault':
      return `inject fault: attempt ${command.nth} at ${command.point} of each command fails`;
    case 'clearFault':
      return 'clear fault injection';
    case 'vgpuDestroy':
      return 'toolstack destroys the vGPU';
    case 'vgpuCreate':
      return 'toolstack creates a vGPU for the guest';
  }
}
