/**
 * Bounds and round trips of the XenGT stack (issue 18; docs/reference/xen.md §2.15): Xen's counters
 * stay in range — each active entry's four pin counters (`act->pin`'s fields: from zero to 128,
 * `map_grant_ref` refusing to raise one whose bit 7 is set, §2.10 inv. 2), each frame's reference
 * count (`count_info`, never below zero), each domain's `tot_pages` (never below zero) and its live
 * maptrack handles (at most the maptrack limit) — and the mediator's (`properties/gvt/bounds.ts`:
 * DMA cache krefs, shadow table and PPGTT references at least one while live). And what two
 * requests create can be undone at once: a grant mapping GNTTABOP_map_grant_ref accepts by
 * GNTTABOP_unmap_grant_ref of its handle (with the host address and the device bus address the map
 * reported, which `unmap_common` checks), giving back its pins, its page references, its maptrack
 * handle and the shared entry's GTF_reading / GTF_writing; an extent XENMEM_populate_physmap adds
 * by XENMEM_decrease_reservation of its gfn, giving back the frame, the p2m entry and tot_pages.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import { PIN_COUNTER_MAX } from '../../../models/xen/grant-table.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import { stepXenGt } from '../../../models/xengt/step.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import type { Invariant } from '../../../src/design.js';
import { countersInRange } from '../../generic/bounds.js';
import type { Counter } from '../../generic/bounds.js';
import { roundTripReturnsEverything } from '../../generic/round-trip.js';
import { gvtCounters } from '../../gvt/bounds.js';
import { formatXenGtCommand } from '../format.js';

type XenGtInvariant = Invariant<XenGtState, XenGtCommand>;

/** Every counter of the XenGT state and its range. */
export function xenGtCounters(state: XenGtState): Counter[] {
  const counters: Counter[] = [];
  for (const frame of state.xen.memory.frames) {
    counters.push({ name: `mfn ${frame.mfn} refcount`, value: frame.refcount, min: 0, max: Infinity });
  }
  for (const domain of state.xen.domains) {
    const d = `d${domain.domid}`;
    counters.push({ name: `${d} tot_pages`, value: domain.totPages, min: 0, max: Infinity });
    const live = domain.maptrack.filter((entry) => entry !== null).length;
    counters.push({ name: `${d} live maptrack handles`, value: live, min: 0, max: domain.maptrack.length });
    domain.active.forEach((act, ref) => {
      for (const pin of ['hstw', 'hstr', 'devw', 'devr'] as const) {
        counters.push({ name: `${d} active entry ${ref} ${pin}`, value: act[pin], min: 0, max: PIN_COUNTER_MAX });
      }
    });
  }
  counters.push(...gvtCounters(state.vgpu));
  return counters;
}

/** Reads Xen's memory, its domains and the vGPU (the design's `parts`: the same objects unless a step changed them). */
export const xenGtCountersInRange: XenGtInvariant = countersInRange<XenGtState, XenGtCommand>(
  xenGtCounters,
  (state) => [state.xen.memory, state.xen.domains, state.vgpu],
);

/**
 * A new grant mapping (GNTTABOP_map_grant_ref run whole and accepted, nothing left in flight) is
 * unmapped again on a copy, and a new extent (XENMEM_populate_physmap accepted) ballooned out
 * again, injected faults disarmed, with the design's own model (`config`): accepted, and the pins,
 * the frames' page references, the free maptrack handles, the shared entries' GTF_reading /
 * GTF_writing, the free frames, the p2m entries and tot_pages are back as before the request.
 */
export function xenGtRoundTrip(config: XenGtConfig): XenGtInvariant {
  return roundTripReturnsEverything<XenGtState, XenGtCommand>({
    inverse({ command, result, after }) {
      if (after.inflight.length > 0 || ('phased' in command && command.phased === true)) return null;
      if (command.kind === 'populatePhysmap')
        return { kind: 'decreaseReservation', domid: command.domid, gfn: command.gfn };
      if (command.kind !== 'mapGrantRef') return null;
      const handle = result?.detail?.['handle'];
      if (typeof handle !== 'number') return null;
      const devBusAddr = result?.detail?.['devBusAddr'];
      return {
        kind: 'unmapGrantRef',
        mapperDomid: command.mapperDomid,
        handle,
        hostAddr: command.host ? command.hostAddr : null,
        devBusAddr: command.device && typeof devBusAddr === 'number' ? devBusAddr : null,
      };
    },
    step: (state, command) => stepXenGt({ ...state, fault: null }, config, command),
    measures: (state) => ({ ...grantMeasures(state), ...memoryMeasures(state) }),
    describe: formatXenGtCommand,
  });
}

/** What a grant mapping takes, summed over every domain (only the mapped ref's and the mapper's change). */
function grantMeasures(state: XenGtState): Record<string, number> {
  let pins = 0;
  let reading = 0;
  let writing = 0;
  let freeHandles = 0;
  for (const domain of state.xen.domains) {
    for (const act of domain.active) pins += act.hstw + act.hstr + act.devw + act.devr;
    for (const entry of domain.grantTable) {
      if (entry.reading) reading += 1;
      if (entry.writing) writing += 1;
    }
    freeHandles += domain.maptrack.filter((handle) => handle === null).length;
  }
  return {
    'grant pins': pins,
    'page references': state.xen.memory.frames.reduce((sum, frame) => sum + frame.refcount, 0),
    'free maptrack handles': freeHandles,
    'entries with GTF_reading': reading,
    'entries with GTF_writing': writing,
  };
}

/** What a populated extent takes: a free frame, a p2m entry, one of the domain's tot_pages. */
function memoryMeasures(state: XenGtState): Record<string, number> {
  let totPages = 0;
  let p2mEntries = 0;
  for (const domain of state.xen.domains) {
    totPages += domain.totPages;
    for (const gfn in domain.p2m) if (Object.hasOwn(domain.p2m, gfn)) p2mEntries += 1;
  }
  return { 'free frames': state.xen.memory.freeList.length, tot_pages: totPages, 'p2m entries': p2mEntries };
}
