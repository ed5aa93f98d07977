/** One line per VFIO command for reports. u64 ioctl arguments are shown in hex, as kernel logs do. */
import type { VfioCommand } from '../../models/vfio/commands.js';

function hex(u64: string): string {
  try {
    return `0x${BigInt(u64).toString(16)}`;
  } catch {
    return JSON.stringify(u64);
  }
}

/** ` (started)` for an operation left in flight after its first phase. */
function started(command: { readonly phased?: boolean }): string {
  return command.phased === true ? ' (started)' : '';
}

export function formatVfioCommand(command: VfioCommand): string {
  return formatOne(command) + ('phased' in command ? started(command) : '');
}

function formatOne(command: VfioCommand): string {
  switch (command.kind) {
    case 'advance':
      return `advance operation ${command.op}`;
    case 'mapDma':
      return `MAP_DMA iova ${hex(command.iova)} vaddr ${hex(command.vaddr)} size ${hex(command.sizeBytes)} flags ${command.flags}${command.argsz === 32 ? '' : ` argsz ${command.argsz}`}`;
    case 'unmapDma':
      return `UNMAP_DMA iova ${hex(command.iova)} size ${hex(command.sizeBytes)} flags ${command.flags}${command.argsz === 16 ? '' : ` argsz ${command.argsz}`}`;
    case 'checkExtension':
      return `CHECK_EXTENSION ${command.extension}`;
    case 'getInfo':
      return `IOMMU_GET_INFO argsz ${command.argsz}`;
    case 'deviceDma':
      return `device ${command.deviceId} DMA ${command.write ? 'write' : 'read'} at page ${command.addressPage}`;
    case 'munmap':
    case 'discard':
      return `VMM ${command.kind === 'munmap' ? 'munmaps' : 'discards (MADV_DONTNEED)'} vaddr pages ${command.vaddrPage}..${command.vaddrPage + command.npages - 1}`;
    case 'mmap':
      return `VMM mmaps vaddr pages ${command.vaddrPage}..${command.vaddrPage + command.npages - 1}${command.writable ? '' : ' read-only'}`;
    case 'touch':
      return `VMM ${command.write ? 'writes' : 'reads'} vaddr page ${command.vaddrPage}`;
    case 'exec':
      return `VMM execs (cpr-exec): new mm, guest RAM mapped again ${command.shiftPages} pages higher`;
    case 'allocateToOther':
      return `owner ${command.owner} takes a free frame`;
    case 'releaseFromOther':
      return `other owner frees mfn ${command.mfn}`;
    case 'mdevPinPages':
      return `mdev ${command.deviceId} vfio_pin_pages iova page ${command.iovaPage} npage ${command.npage}`;
    case 'mdevUnpinPages':
      return `mdev ${command.deviceId} vfio_unpin_pages iova page ${command.iovaPage} npage ${command.npage}`;
    case 'ccwStartIo':
    case 'ccwRunIo':
      return `ccw ${command.deviceId} ${command.kind === 'ccwStartIo' ? 'starts' : 'runs'} I/O on iova pages ${command.program.map((transfer) => transfer.iovaPage).join(', ')}`;
    case 'ccwCompleteIo':
      return `ccw ${command.deviceId} completes its I/O`;
    case 'injectFault':
      return `fail the ${command.nth}. ${command.point} of each operation`;
    case 'clearFault':
      return 'stop injecting faults';
    case 'groupSetContainer':
    case 'groupUnsetContainer':
      return `group ${command.groupId} ${command.kind === 'groupSetContainer' ? 'joins' : 'leaves'} the container`;
    case 'setIommu':
      return `SET_IOMMU type ${command.type}`;
    case 'openDevice':
    case 'closeDevice':
      return `${command.kind === 'openDevice' ? 'open' : 'close'} device ${command.deviceId}`;
  }
}
