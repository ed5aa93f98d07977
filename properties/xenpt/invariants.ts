/**
 * Every invariant of the Xen passthrough stack, in report order: effect (where each DMA landed),
 * latent (what each device can reach through the IOTLB and its context), accounting (references,
 * tot_pages, grant pins, the IOMMU tables and IOTLB against the p2m), teardown, bounds, round
 * trips and atomicity. The Xen accounting ones that read only Xen's state are XenGT's, lifted.
 */
import { PIN_COUNTER_MAX, pinTotal } from '../../models/xen/grant-table.js';
import { p2mIommuFlags } from '../../models/xen/iommu.js';
import { DOMID_IO, ownerName } from '../../models/xen/pci.js';
import type { XenPtCommand } from '../../models/xenpt/commands.js';
import type { XenPtConfig } from '../../models/xenpt/config.js';
import { domainContext, stepXenPt, walkContext } from '../../models/xenpt/step.js';
import type { DmaAccess, XenPtState } from '../../models/xenpt/types.js';
import type { XenGtState } from '../../models/xengt/types.js';
import type { Invariant } from '../../src/design.js';
import { failedOperationLeavesStateUnchanged } from '../generic/atomicity.js';
import { countersInRange } from '../generic/bounds.js';
import type { Counter } from '../generic/bounds.js';
import { liftInvariant } from '../generic/lift.js';
import { roundTripReturnsEverything } from '../generic/round-trip.js';
import { frameRefcountMatchesXenHolders } from '../xen/grant-v2-invariants.js';
import { domainParts } from '../xengt/reads.js';
import { describeHolders, holdersByFrame } from '../xengt/views.js';
import { pvMemoryInvariants } from '../xen/pv-invariants.js';
import { freeIffUnreferenced, totPagesMatchesOwnedFrames } from '../xengt/invariants/accounting.js';
import { describeTarget, deviceReach, heldBy, inflightHeld } from './views.js';
import { xenPtGrantV2Invariants } from './grant-v2-invariants.js';
import { formatXenPtCommand } from './schema.js';

type XenPtInvariant = Invariant<XenPtState, XenPtCommand>;

function accessesOf(result: unknown): readonly DmaAccess[] {
  const accesses = (result as { accesses?: readonly DmaAccess[] } | null)?.accesses;
  return accesses ?? [];
}

function dmaWords(access: DmaAccess): string {
  return `device ${access.device}'s DMA ${access.write ? 'write' : 'read'} at dfn ${access.dfn} issued by ${ownerName(access.issuer)} (through ${access.via === 'iotlb' ? 'an IOTLB entry' : 'its context'})`;
}

export const noDmaToFreeFrame: XenPtInvariant = {
  name: 'no-dma-to-free-frame',
  class: 'effect',
  description: 'a DMA never lands in a free frame',
  check({ result }) {
    for (const access of accessesOf(result)) {
      if (access.target?.kind !== 'frame' || access.frameOwner !== null) continue;
      return {
        message: `${dmaWords(access)} landed in mfn ${access.target.mfn}, which is free`,
        actual: `mfn ${access.target.mfn} free`,
        expected: `a frame ${ownerName(access.issuer)} owns or holds`,
      };
    }
    return null;
  },
};

export const noDmaToForeignFrame: XenPtInvariant = {
  name: 'no-dma-to-foreign-frame',
  class: 'effect',
  description:
    "a DMA lands only in a frame its issuer (the device owner that issued it) owns or holds a reference on (a grant or foreign mapping): never in another domain's frame",
  check({ result, after }) {
    for (const access of accessesOf(result)) {
      if (access.target?.kind !== 'frame' || access.frameOwner === null || access.frameOwner === undefined) continue;
      if (access.frameOwner === access.issuer || heldBy(after, access.issuer, access.target.mfn) > 0) continue;
      return {
        message: `${dmaWords(access)} landed in mfn ${access.target.mfn}, owned by ${ownerName(access.frameOwner)}`,
        actual: `mfn ${access.target.mfn} owned by ${ownerName(access.frameOwner)}`,
        expected: `a frame ${ownerName(access.issuer)} owns or holds`,
      };
    }
    return null;
  },
};

export const quarantinedDmaLandsInOwnScratch: XenPtInvariant = {
  name: 'quarantined-dma-lands-in-own-scratch',
  class: 'effect',
  description: "a DMA by a device in quarantine (dom_io) faults or lands in that device's scratch page, nowhere else",
  check({ result, after }) {
    for (const access of accessesOf(result)) {
      if (access.owner !== DOMID_IO || access.target === null) continue;
      const scratch = after.devices[access.device]?.scratch ?? null;
      if (access.target.kind === 'scratch' && access.target.id === scratch) continue;
      return {
        message: `${dmaWords(access)} by a quarantined device landed in ${describeTarget(access.target)}`,
        actual: describeTarget(access.target),
        expected: scratch === null ? 'a fault' : `scratch page ${scratch}`,
      };
    }
    return null;
  },
};

export const deviceReachOwnedOrHeld: XenPtInvariant = {
  name: 'device-reach-owned-or-held',
  class: 'latent',
  description:
    "every frame a device can reach (through an IOTLB entry of its context or the context's table) is owned by the device's domain and referenced, or held by that domain; a quarantined device reaches no frame",
  reads: (state) => [state.xen, state.devices, state.iotlb, state.inflight],
  check({ after }) {
    for (const reach of deviceReach(after)) {
      if (reach.target.kind !== 'frame') continue;
      const owner = after.devices[reach.device]?.owner ?? DOMID_IO;
      const mfn = reach.target.mfn;
      const frame = after.xen.memory.frames[mfn];
      if (owner !== DOMID_IO && frame !== undefined && frame.owner === owner && frame.refcount > 0) continue;
      if (owner !== DOMID_IO && heldBy(after, owner, mfn) > 0) continue;
      const holders = describeHolders(holdersByFrame(after.xen)[mfn] ?? []);
      return {
        message: `device ${reach.device} (${ownerName(owner)}) reaches mfn ${mfn} at dfn ${reach.dfn} through ${reach.via === 'iotlb' ? 'an IOTLB entry' : 'its table'}: owned by ${ownerName(frame?.owner ?? null)}, refcount ${frame?.refcount ?? 0} (${holders})`,
        actual: `mfn ${mfn} owned by ${ownerName(frame?.owner ?? null)}`,
        expected: owner === DOMID_IO ? 'no frame' : `a frame ${ownerName(owner)} owns or holds`,
      };
    }
    return null;
  },
};

export const quarantineScratchPrivate: XenPtInvariant = {
  name: 'quarantine-scratch-private',
  class: 'latent',
  description: 'a scratch page a quarantined device reaches is reached by no other device',
  reads: (state) => [state.devices, state.iotlb],
  check({ after }) {
    const reachers = new Map<number, Set<number>>();
    for (const reach of deviceReach(after)) {
      if (reach.target.kind !== 'scratch') continue;
      const set = reachers.get(reach.target.id) ?? new Set<number>();
      set.add(reach.device);
      reachers.set(reach.target.id, set);
    }
    for (const [id, devices] of reachers) {
      if (devices.size <= 1) continue;
      const names = [...devices].sort((left, right) => left - right).map((device) => `device ${device}`);
      return {
        message: `scratch page ${id} is reached by ${names.join(' and ')}: what one quarantined device writes, another reads`,
        actual: `${devices.size} devices`,
        expected: '1 device',
      };
    }
    return null;
  },
};

/** The Xen model's, with the references the stack's operations in flight hold. */
export const frameRefcountMatchesHolders: XenPtInvariant = frameRefcountMatchesXenHolders<XenPtState, XenPtCommand>(
  (state) => state.xen,
  inflightHeld,
  (state) => [state.xen.memory, state.xen.domains, state.inflight],
);

export const iommuTableMatchesP2m: XenPtInvariant = {
  name: 'iommu-table-matches-p2m',
  class: 'accounting',
  description:
    "a running HVM domain's own IOMMU table maps exactly what its p2m gives the IOMMU (p2m_get_iommu_flags), gfn for gfn",
  reads: (state) => [state.xen.domains],
  check({ after }) {
    for (const domain of after.xen.domains) {
      const iommu = domain.iommu;
      if (iommu === undefined || iommu.sharePt || !domain.translated || domain.life !== 'running') continue;
      const gfns = new Set([...Object.keys(domain.p2m), ...Object.keys(iommu.table)]);
      for (const key of gfns) {
        const want = p2mIommuFlags(domain.p2m[key]);
        const have = iommu.table[key] ?? null;
        const same =
          want === null || have === null
            ? want === have
            : want.mfn === have.mfn && want.read === have.read && want.write === have.write;
        if (same) continue;
        const words = (pte: typeof have): string =>
          pte === null ? 'nothing' : `mfn ${pte.mfn} ${pte.write ? 'rw' : pte.read ? 'r' : '-'}`;
        return {
          message: `dom${domain.domid} dfn ${key}: the IOMMU table maps ${words(have)}, the p2m gives ${words(want)}`,
          actual: words(have),
          expected: words(want),
        };
      }
    }
    return null;
  },
};

export const iotlbMatchesContext: XenPtInvariant = {
  name: 'iotlb-matches-context-unless-pending',
  class: 'accounting',
  description:
    "an IOTLB entry of a domain's context translates as the context does now, unless its dfn changed and awaits a flush",
  reads: (state) => [state.xen.domains, state.iotlb],
  check({ after }) {
    for (const [key, entry] of Object.entries(after.iotlb)) {
      if (!key.startsWith('dom')) continue;
      const [context = '', dfnKey = ''] = key.split('/');
      const domid = Number(context.slice(3));
      const dfn = Number(dfnKey);
      if (after.xen.domains[domid]?.iommu?.flushPending.includes(dfn) === true) continue;
      const now = walkContext(after.xen, after.devices, domainContext(domid), dfn);
      const same =
        now !== null &&
        now.read === entry.read &&
        now.write === entry.write &&
        describeTarget(now.target) === describeTarget(entry.target);
      if (same) continue;
      return {
        message: `dom${domid}'s IOTLB entry for dfn ${dfn} translates to ${describeTarget(entry.target)}, its context to ${now === null ? 'nothing' : describeTarget(now.target)}, and no flush is pending`,
        actual: describeTarget(entry.target),
        expected: now === null ? 'no entry' : describeTarget(now.target),
      };
    }
    return null;
  },
};

export const deadDomainHasNoDevice: XenPtInvariant = {
  name: 'dead-domain-has-no-device',
  class: 'teardown',
  description: 'no device is assigned to a dead domain',
  reads: (state) => [state.xen.domains, state.devices],
  check({ after }) {
    for (const device of after.devices) {
      const domain = device.owner === DOMID_IO ? undefined : after.xen.domains[device.owner];
      if (domain?.life !== 'dead') continue;
      return {
        message: `device ${device.sbdf} is still assigned to dom${domain.domid}, which is dead`,
        actual: `owner dom${domain.domid} (dead)`,
        expected: 'dom_io or the hardware domain',
      };
    }
    return null;
  },
};

export const deadDomainContextEmpty: XenPtInvariant = {
  name: 'dead-domain-context-reaches-nothing',
  class: 'teardown',
  description:
    "a dead domain's IOMMU context reaches nothing: its table is empty and no IOTLB entry is tagged with its DID",
  reads: (state) => [state.xen.domains, state.iotlb],
  check({ after }) {
    for (const domain of after.xen.domains) {
      if (domain.life !== 'dead' || domain.iommu === undefined) continue;
      const table = Object.keys(domain.iommu.table).length;
      const prefix = `${domainContext(domain.domid)}/`;
      const cached = Object.keys(after.iotlb).filter((key) => key.startsWith(prefix)).length;
      if (table === 0 && cached === 0) continue;
      return {
        message: `dom${domain.domid} is dead with ${table} IOMMU table entries and ${cached} IOTLB entries`,
        actual: `${table} table entries, ${cached} IOTLB entries`,
        expected: 'none',
      };
    }
    return null;
  },
};

/**
 * A counter whose name is written only when asked (for a violation's message): the bounds are
 * checked on every new state, and the names of some fifty counters were most of that (issue 23).
 */
class NamedLater implements Counter {
  readonly value: number;
  readonly min: number;
  readonly max: number;
  private readonly describe: (first: number, second: number) => string;
  private readonly first: number;
  private readonly second: number;

  constructor(
    describe: (first: number, second: number) => string,
    first: number,
    second: number,
    value: number,
    min: number,
    max: number,
  ) {
    this.describe = describe;
    this.first = first;
    this.second = second;
    this.value = value;
    this.min = min;
    this.max = max;
  }

  get name(): string {
    return this.describe(this.first, this.second);
  }
}

const refcountName = (mfn: number): string => `refcount of mfn ${mfn}`;
const totPagesName = (domid: number): string => `dom${domid} tot_pages`;
const pinsName = (domid: number, ref: number): string => `dom${domid} grant ref ${ref} pins`;

function xenPtCounters(state: XenPtState): Counter[] {
  const counters: Counter[] = [];
  for (const frame of state.xen.memory.frames)
    counters.push(new NamedLater(refcountName, frame.mfn, 0, frame.refcount, 0, Number.POSITIVE_INFINITY));
  // Every frame is owned once: the domains' tot_pages together stay within the host's frames.
  const frames = state.xen.memory.frames.length;
  const total = state.xen.domains.reduce((sum, domain) => sum + (domain.life === 'dead' ? 0 : domain.totPages), 0);
  counters.push({ name: 'tot_pages of all domains together', value: total, min: 0, max: frames });
  for (const domain of state.xen.domains) {
    counters.push(new NamedLater(totPagesName, domain.domid, 0, domain.totPages, 0, frames));
    domain.active.forEach((act, ref) => {
      counters.push(new NamedLater(pinsName, domain.domid, ref, pinTotal(act), 0, 4 * PIN_COUNTER_MAX));
    });
  }
  return counters;
}

/** The quantities a round trip gives back: free frames, references, pins, maptrack handles in use. */
function measures(state: XenPtState): Record<string, number> {
  let refs = 0;
  for (const frame of state.xen.memory.frames) refs += frame.refcount;
  let pins = 0;
  let handles = 0;
  for (const domain of state.xen.domains) {
    for (const act of domain.active) pins += pinTotal(act);
    handles += domain.maptrack.filter((mapping) => mapping !== null).length;
  }
  return {
    'free frames': state.xen.memory.freeList.length,
    'page references': refs,
    'grant pins': pins,
    'maptrack handles in use': handles,
  };
}

function roundTrip(config: XenPtConfig): XenPtInvariant {
  return roundTripReturnsEverything<XenPtState, XenPtCommand>({
    inverse({ before, command, result, after }) {
      if (command.kind === 'mapGrantRef') {
        const handle = result?.detail?.['handle'];
        return typeof handle === 'number' ? { kind: 'unmapGrantRef', mapperDomid: command.mapperDomid, handle } : null;
      }
      if (command.kind === 'moveGfn' && command.phased !== true && command.idx !== command.gpfn) {
        // A move onto an empty gfn comes back; one that freed the page at the destination does not.
        const empty = before.xen.domains[command.domid]?.p2m[command.gpfn] === undefined;
        return empty && after.xen.domains[command.domid]?.life === 'running'
          ? { kind: 'moveGfn', domid: command.domid, idx: command.gpfn, gpfn: command.idx }
          : null;
      }
      return null;
    },
    step: (state, command) => stepXenPt(state, config, command),
    measures,
    describe: formatXenPtCommand,
  });
}

/** Lifts an invariant of XenGT's that reads Xen's state only (`state.xen`, no operation in flight). */
function xenOnly(invariant: Invariant<XenGtState, unknown>): XenPtInvariant {
  return liftInvariant<XenPtState, XenPtCommand, XenGtState, unknown>(
    invariant,
    (state) => ({ xen: state.xen, inflight: [] }) as unknown as XenGtState,
  );
}

export function xenPtInvariants(config: XenPtConfig): XenPtInvariant[] {
  return [
    noDmaToFreeFrame,
    noDmaToForeignFrame,
    quarantinedDmaLandsInOwnScratch,
    deviceReachOwnedOrHeld,
    quarantineScratchPrivate,
    frameRefcountMatchesHolders,
    xenOnly(freeIffUnreferenced as Invariant<XenGtState, unknown>),
    xenOnly(totPagesMatchesOwnedFrames as Invariant<XenGtState, unknown>),
    // Grant pins and status bits: C's, which count copies in flight and read the v2 status words.
    ...xenPtGrantV2Invariants(),
    iommuTableMatchesP2m,
    iotlbMatchesContext,
    countersInRange<XenPtState, XenPtCommand>(xenPtCounters, (state) => [
      state.xen.memory,
      ...domainParts(state.xen, 'totPages', 'life', 'active'),
    ]),
    deadDomainHasNoDevice,
    deadDomainContextEmpty,
    ...pvMemoryInvariants<XenPtState, XenPtCommand>((state) => state.xen),
    roundTrip(config),
    failedOperationLeavesStateUnchanged<XenPtState, XenPtCommand>(),
  ];
}
