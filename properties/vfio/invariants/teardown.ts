/**
 * Teardown invariants of the VFIO stacks: a closed device holds no pins and no I/O; a released
 * container leaves no locked_vm charge behind (its mappings and pins go with the backend itself);
 * a group the hardware still translates through a domain is in that domain of the container's
 * backend (a released or never-installed backend leaves no group attached).
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant } from '../../../src/design.js';
import { domainOfGroup, type1Backend } from '../../../models/vfio/state.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

export const closedDeviceHoldsNothing: VfioInvariant = {
  name: 'closed-device-holds-nothing',
  class: 'teardown',
  reads: (state) => [state],
  description: 'a device whose fd is closed holds no external pin and has no I/O in flight',
  check({ after }) {
    for (const device of after.devices) {
      if (device.open) continue;
      const pinned = Object.keys(device.pins);
      if (pinned.length === 0 && device.io === null) continue;
      return {
        message: `closed device ${device.id} still ${pinned.length > 0 ? `pins iova pages ${pinned.join(', ')}` : 'has I/O in flight'}`,
        actual: `${pinned.length} pinned pages${device.io === null ? '' : ', I/O in flight'}`,
        expected: 'nothing held',
      };
    }
    return null;
  },
};

export const releasedContainerUncharged: VfioInvariant = {
  name: 'released-container-uncharged',
  class: 'teardown',
  reads: (state) => [state],
  description: 'once the container has no backend, the VMM process has no locked_vm charge left',
  check({ after }) {
    if (after.container.backend !== null || after.process.lockedVmPages === 0) return null;
    return {
      message: `container released, but locked_vm is still ${after.process.lockedVmPages} pages`,
      actual: `locked_vm ${after.process.lockedVmPages}`,
      expected: 'locked_vm 0',
    };
  },
};

export const attachedGroupInContainerDomain: VfioInvariant = {
  name: 'attached-group-in-container-domain',
  class: 'teardown',
  reads: (state) => [state],
  description:
    "a group whose devices translate through an IOMMU domain (iommu_attach_group) is in that domain of the container's backend",
  check({ after }) {
    const backend = type1Backend(after);
    for (const group of after.groups) {
      if (group.attachedDomain === null) continue;
      const domain = backend === null ? undefined : domainOfGroup(backend, group.id);
      if (domain?.id === group.attachedDomain) continue;
      const held =
        backend === null
          ? 'the container has no backend'
          : domain === undefined
            ? "the container's backend has no domain holding it"
            : `the backend holds it in domain ${domain.id}`;
      return {
        message: `group ${group.id}'s devices translate through IOMMU domain ${group.attachedDomain}, but ${held}`,
        actual: `group ${group.id} attached to domain ${group.attachedDomain}`,
        expected:
          domain === undefined ? `group ${group.id} detached` : `group ${group.id} attached to domain ${domain.id}`,
      };
    }
    return null;
  },
};
