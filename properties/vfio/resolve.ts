/**
 * Picks of the VFIO generators, resolved against the state when the step runs. A generic mediated
 * driver pins, preferably, a page inside a mapping (where vfio_pin_pages can succeed) and unpins a
 * page another driver pins (the pins a correct driver must leave alone), else one it pins. The
 * VMM's container and device lifecycle aims at a target the request can act on. A device fd is closed preferably
 * while open, in the group with the fewest devices still open (so that a run's closes empty one
 * group), and opened while closed with its group in the container; a group leaves the container
 * preferably once its devices are closed, and joins it while out. In a world of several
 * groups and devices a uniform id lands on such a target too rarely for a default run to take a
 * group out and back in (the `mixed` world did it in 2 to 11 runs of a thousand). A concrete
 * command resolves to itself; the trace records the resolved value.
 */
import type { VfioCommand } from '../../models/vfio/commands.js';
import { dmaVaddrMm, liveMm } from '../../models/vfio/exec.js';
import { mapDmaArgs } from '../../models/vfio/map-dma.js';
import { domainOfGroup, type1Backend } from '../../models/vfio/state.js';
import type { VfioState } from '../../models/vfio/types.js';
import { ADVANCE, resolveAdvance } from '../generic/interleave.js';
import type { AdvanceCommand } from '../generic/interleave.js';
import { isPick } from '../pick.js';
import type { Pick, Templated } from '../pick.js';
import { resolvePreferring } from '../prefer.js';
import { RAM_VADDR_PAGE } from './world.js';
import type { VfioWorldLayout } from './world.js';

/**
 * MAP_DMA with VFIO_DMA_MAP_FLAG_VADDR as a VMM issues it after an exec (QEMU cpr-exec): it
 * re-supplies the vaddr of an invalidated mapping — which one is a pick — at the address its new
 * program mapped the guest's RAM (`resupplyVaddrCommand`).
 */
export interface ResupplyVaddrTemplate {
  readonly kind: 'mapDma';
  readonly resupplyVaddr: Pick;
  /** Started and left in flight after its first phase (the scheduler's interleaving). */
  readonly phased?: boolean;
}

/** A command as generated: a lifecycle command's device or group id may be a pick. */
export type VfioCommandTemplate = Templated<VfioCommand>;

/** What the VFIO-only stacks generate: a command template, or the VMM's re-supply of a vaddr. */
export type VfioTemplate = VfioCommandTemplate | ResupplyVaddrTemplate;

export function isResupplyVaddrTemplate(template: unknown): template is ResupplyVaddrTemplate {
  return typeof template === 'object' && template !== null && 'resupplyVaddr' in template;
}

/**
 * The MAP_DMA (VADDR) a `ResupplyVaddrTemplate` stands for: the picked invalidated mapping's iova
 * and size, and its vaddr moved by as much as the last exec moved the guest's RAM (not moved when
 * the mapping's vaddr is already an address of the live mm). With no invalidated mapping, the
 * picked mapping (EINVAL: its vaddr is valid), or with none at all a page of the IOVA universe
 * (ENOENT).
 */
export function resupplyVaddrCommand(state: VfioState, pick: number, iovaBasePage = 0): VfioCommand {
  const dmas = type1Backend(state)?.dmas ?? [];
  const invalid = dmas.filter((dma) => dma.vaddrInvalid);
  const targets = invalid.length > 0 ? invalid : dmas;
  const dma = targets[pick % Math.max(1, targets.length)];
  if (dma === undefined) {
    return {
      kind: 'mapDma',
      ...mapDmaArgs({ updateVaddr: true, iovaPage: iovaBasePage + pick, npages: 1, vaddrPage: RAM_VADDR_PAGE }),
    };
  }
  const shift = dmaVaddrMm(dma) === liveMm(state) ? 0 : (state.process.lastExecShiftPages ?? 0);
  return {
    kind: 'mapDma',
    ...mapDmaArgs({ updateVaddr: true, iovaPage: dma.iovaPage, npages: dma.npages, vaddrPage: dma.vaddrPage + shift }),
  };
}

/** The lifecycle kinds whose id is a pick, and which field holds it. */
const lifecycleField: Readonly<Record<string, 'deviceId' | 'groupId'>> = {
  closeDevice: 'deviceId',
  openDevice: 'deviceId',
  groupUnsetContainer: 'groupId',
  groupSetContainer: 'groupId',
};

/** The ids a lifecycle command of `kind` can act on in `state`, ascending. */
export function lifecycleTargets(state: VfioState, kind: string): number[] {
  switch (kind) {
    case 'closeDevice': {
      // The open devices of the group with the fewest still open (the lowest id on a tie): the
      // closes of a run empty one group, which can then leave the container.
      const open = state.devices.filter((device) => device.open);
      const openIn = (groupId: number): number => open.filter((device) => device.groupId === groupId).length;
      const [first] = [...open].sort((a, b) => openIn(a.groupId) - openIn(b.groupId) || a.groupId - b.groupId);
      return first === undefined
        ? []
        : open.filter((device) => device.groupId === first.groupId).map((device) => device.id);
    }
    case 'openDevice':
      return state.devices
        .filter((device) => !device.open && state.groups[device.groupId]?.inContainer === true)
        .map((device) => device.id);
    case 'groupUnsetContainer':
      return state.groups
        .filter((group) => group.inContainer)
        .filter((group) => !state.devices.some((device) => device.groupId === group.id && device.open))
        .map((group) => group.id);
    case 'groupSetContainer':
      return state.groups.filter((group) => !group.inContainer).map((group) => group.id);
    default:
      return [];
  }
}

/**
 * The allocations of a VFIO_SET_IOMMU (`container.ts`) that belong to the attach of a group after
 * the first, were every group of the world in the container — those in it in their order, then
 * the others — so that a fault armed before the groups came back still aims there: the backend's
 * allocation is the first, then one per emulated group and two per IOMMU group (its record, its
 * domain; one when it joins a domain of its class already attached), newest group first.
 */
export function laterAttachAllocations(state: VfioState): number[] {
  const container = state.container;
  if (container.noiommu || state.groups.length < 2) return [];
  const out = state.groups.filter((group) => !container.groupIds.includes(group.id)).map((group) => group.id);
  const targets: number[] = [];
  const classes = new Set<number>();
  let count = 1;
  [...container.groupIds, ...out].reverse().forEach((groupId, index) => {
    const spec = state.groups[groupId]?.spec;
    if (spec === undefined || spec.kind === 'noiommu') return;
    const allocs = spec.kind === 'iommu' && !classes.has(spec.domainClass) ? 2 : 1;
    if (spec.kind === 'iommu') classes.add(spec.domainClass);
    for (let i = 1; i <= allocs; i++) if (index > 0) targets.push(count + i);
    count += allocs;
  });
  return targets;
}

/** IOVA pages inside a mapping, ascending (where a driver's vfio_pin_pages can succeed). */
function mappedIovaPages(state: VfioState): number[] {
  const backend = type1Backend(state);
  if (backend === null) return [];
  return backend.dmas.flatMap((dma) => Array.from({ length: Math.min(dma.npages, 64) }, (_, i) => dma.iovaPage + i));
}

/**
 * Where a driver's pin aims: the mapped pages an UNMAP_DMA in flight is removing (it dropped
 * iommu->lock to notify the drivers: a pin taken now is what its recheck must find), else every
 * mapped page.
 */
function pinTargets(state: VfioState): number[] {
  const mapped = mappedIovaPages(state);
  const unmapping = state.inflight.flatMap((op) => {
    if (op.kind !== 'unmapDma') return [];
    const first = Number(BigInt(op.iova) / 4096n);
    const end = Number((BigInt(op.end) + 4095n) / 4096n);
    return mapped.filter((page) => page >= first && page < end);
  });
  return unmapping.length > 0 ? unmapping : mapped;
}

/** IOVA pages the domain of device `deviceId` translates, ascending. */
function translatedPages(state: VfioState, deviceId: unknown): number[] {
  const backend = type1Backend(state);
  const device = typeof deviceId === 'number' ? state.devices[deviceId] : undefined;
  const domain = backend === null || device === undefined ? undefined : domainOfGroup(backend, device.groupId);
  return Object.keys(domain?.translations ?? {})
    .map(Number)
    .sort((left, right) => left - right);
}

/**
 * IOVA pages pinned by an emulated driver other than `deviceId` (its record or its I/O in flight),
 * ascending; when there are none, the pages `deviceId` pins itself.
 */
function pinnedIovaPages(state: VfioState, deviceId: unknown): number[] {
  const own = new Set<number>();
  const others = new Set<number>();
  for (const device of state.devices) {
    const pages = device.id === deviceId ? own : others;
    for (const key of Object.keys(device.pins)) pages.add(Number(key));
    for (const transfer of device.io ?? []) pages.add(transfer.iovaPage);
  }
  for (const page of own) others.delete(page);
  return [...(others.size > 0 ? others : own)].sort((left, right) => left - right);
}

/** Resolves one field of `template`: an aimed pick against the state, any other pick to its number. */
export function resolveVfioField(
  state: VfioState,
  layout: VfioWorldLayout,
  template: { readonly kind: string; readonly deviceId?: unknown },
  field: string,
  value: unknown,
  iovaBasePage = 0,
): unknown {
  if (!isPick(value)) return value;
  const kind = template.kind;
  if (field === 'iovaPage' && (kind === 'mdevPinPages' || kind === 'mdevUnpinPages')) {
    const aimed = kind === 'mdevPinPages' ? () => pinTargets(state) : () => pinnedIovaPages(state, template.deviceId);
    const universe = Array.from({ length: layout.ramPages }, (_, offset) => iovaBasePage + offset);
    return resolvePreferring(value, aimed, universe, (pick) => iovaBasePage + (pick % layout.ramPages));
  }
  if (field === 'addressPage' && kind === 'deviceDma') {
    const universe = Array.from({ length: layout.ramPages }, (_, offset) => iovaBasePage + offset);
    return resolvePreferring(
      value,
      () => translatedPages(state, template.deviceId),
      universe,
      (pick) => iovaBasePage + (pick % layout.ramPages),
    );
  }
  if (field === 'nth' && kind === 'injectFault') {
    return resolvePreferring(
      value,
      () => laterAttachAllocations(state),
      [1, 2, 3, 4],
      (pick) => 1 + (pick % 4),
    );
  }
  if (lifecycleField[kind] !== field) return value.pick;
  const live = field === 'deviceId' ? layout.deviceIds : layout.groupIds;
  return resolvePreferring(
    value,
    () => lifecycleTargets(state, kind),
    live,
    (pick) => live[pick % live.length] ?? pick,
  );
}

/** `iovaBasePage`: the first page of the generated IOVA universe (a stack may move it). */
export function resolveVfio(
  state: VfioState,
  layout: VfioWorldLayout,
  template: VfioTemplate,
  iovaBasePage = 0,
): VfioCommand {
  if (template.kind === ADVANCE) return resolveAdvance(template as AdvanceCommand, state.inflight.length);
  if (isResupplyVaddrTemplate(template)) {
    const command = resupplyVaddrCommand(state, template.resupplyVaddr.pick, iovaBasePage);
    return template.phased === undefined || command.kind !== 'mapDma'
      ? command
      : { ...command, phased: template.phased };
  }
  const resolved: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(template) as [string, unknown][]) {
    resolved[field] = resolveVfioField(state, layout, template, field, value, iovaBasePage);
  }
  return resolved as VfioCommand;
}
