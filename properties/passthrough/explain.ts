/**
 * What `dmaprop replay` shows around a step of the passthrough stack over VT-d: VFIO's view (frames
 * touched, translations changed), then the IOMMU's: where the DMA was translated (IOTLB or walk),
 * the IOTLB entries of the device's domain, stale ones marked, the flush queues and the flush holds.
 */
import { pasidEntryDomainId } from '../../models/iommu/domain.js';
import { staleIotlbEntries } from '../../models/iommu/views.js';
import { isPasidCommand } from '../../models/passthrough/step.js';
import type { PassthroughCommand, PassthroughState } from '../../models/passthrough/types.js';
import type { VfioCommand } from '../../models/vfio/commands.js';
import type { Transition } from '../../src/design.js';
import { explainVfioStep } from '../vfio/explain.js';

export function explainPassthroughStep(transition: Transition<PassthroughState, PassthroughCommand>): string[] {
  const { before, command, result, after } = transition;
  const lines =
    command !== null &&
    (command.kind === 'drainFlushQueue' || command.kind === 'finishCopiedAttach' || isPasidCommand(command))
      ? []
      : explainVfioStep({
          before: before?.vfio ?? null,
          command: command as VfioCommand | null,
          result,
          after: after.vfio,
        });
  const via = result?.detail?.['via'];
  if ((command?.kind === 'deviceDma' || command?.kind === 'pasidDma') && typeof via === 'string')
    lines.push(`translated via ${via}`);
  for (const entry of after.iommu.pasidCache ?? []) {
    lines.push(
      `PASID cache: source-id ${entry.deviceId} PASID ${entry.pasid} → DID ${entry.domainId}${pasidEntryDomainId(after.iommu, entry.deviceId, entry.pasid) === entry.domainId ? '' : ' (stale: the entry is gone or changed)'}`,
    );
  }
  const stale = new Set(staleIotlbEntries(after.iommu).map((entry) => entry.index));
  after.iommu.iotlb.forEach((entry, index) => {
    if (entry.kind !== 'translation') return;
    const range = entry.pages === 1 ? `${entry.iovaPage}` : `${entry.iovaPage}..${entry.iovaPage + entry.pages - 1}`;
    lines.push(
      `IOTLB (DID ${entry.domainId}${entry.pasid === null ? '' : `, PASID ${entry.pasid}`}): iova page ${range} → mfn ${entry.frame}${stale.has(index) ? ' (stale)' : ''}`,
    );
  });
  for (const domain of Object.values(after.iommu.domains)) {
    for (const entry of domain.flushQueue) {
      lines.push(
        `flush queue (DID ${domain.domainId}) entry ${entry.seq}: iova pages ${entry.iovaPage}..${entry.iovaPage + entry.pages - 1} await a flush`,
      );
    }
  }
  for (const hold of after.held) lines.push(`mfn ${hold.mfn} held until flush-queue entry ${hold.seq} is flushed`);
  return lines;
}
