/**
 * Query invariants of the VFIO stacks (docs/reference/vfio-type1.md §1.17): what VFIO_IOMMU_GET_INFO
 * writes stays inside the VMM's buffer, and what the container's queries answer agrees with the
 * state — the VMM sizes its memory listener, its DMA-entry budget and its live-update plan on them.
 */
import type { VfioCommand } from '../../../models/vfio/commands.js';
import { extensionTruth, infoTruth } from '../../../models/vfio/query-views.js';
import type { VfioState } from '../../../models/vfio/types.js';
import type { Invariant, Transition, Violation } from '../../../src/design.js';

type VfioInvariant = Invariant<VfioState, VfioCommand>;

function detailOf(transition: Transition<VfioState, VfioCommand>, field: string): unknown {
  return transition.result?.ok === true ? transition.result.detail?.[field] : undefined;
}

export const queryReplyWithinArgsz: VfioInvariant = {
  name: 'query-reply-within-argsz',
  class: 'effect',
  description: "VFIO_IOMMU_GET_INFO never writes past the argsz bytes of the VMM's buffer",
  check(transition) {
    const command = transition.command;
    if (command?.kind !== 'getInfo') return null;
    const written = detailOf(transition, 'writtenBytes');
    if (typeof written !== 'number' || written <= command.argsz) return null;
    return {
      message: `GET_INFO with argsz ${command.argsz} wrote ${written} bytes: the capability chain ran ${written - command.argsz} bytes past the VMM's buffer`,
      actual: `${written} bytes written`,
      expected: `at most argsz ${command.argsz}`,
    };
  },
};

function mismatch(what: string, actual: unknown, expected: unknown): Violation {
  return {
    message: `${what}: answered ${String(actual)}, the container has ${String(expected)}`,
    actual: `${what} ${String(actual)}`,
    expected: `${what} ${String(expected)}`,
  };
}

export const queryAnswersMatchState: VfioInvariant = {
  name: 'query-answers-match-state',
  class: 'effect',
  description:
    'CHECK_EXTENSION and GET_INFO answer what the container has: dma_avail = dma_entry_limit - mappings, the usable IOVA ranges (apertures minus reserved regions), the page sizes, and only the extensions it supports',
  check(transition) {
    const { command, after } = transition;
    if (transition.result?.ok !== true) return null;
    if (command?.kind === 'checkExtension') {
      const value = detailOf(transition, 'value');
      const expected = extensionTruth(after, command.extension);
      return value === expected ? null : mismatch(`CHECK_EXTENSION ${command.extension}`, value, expected);
    }
    if (command?.kind !== 'getInfo') return null;
    const truth = infoTruth(after);
    if (truth === null) return null;
    const pgsizes = detailOf(transition, 'iovaPgsizes');
    if (pgsizes !== truth.iovaPgsizes) return mismatch('GET_INFO iova_pgsizes', pgsizes, truth.iovaPgsizes);
    // The capabilities are only there when the chain was copied out.
    if (detailOf(transition, 'capOffset') === 0 || detailOf(transition, 'dmaAvail') === null) return null;
    const dmaAvail = detailOf(transition, 'dmaAvail');
    if (dmaAvail !== truth.dmaAvail) return mismatch('GET_INFO DMA_AVAIL', dmaAvail, truth.dmaAvail);
    const ranges = detailOf(transition, 'iovaRanges');
    return ranges === truth.iovaRanges ? null : mismatch('GET_INFO IOVA_RANGE', ranges, truth.iovaRanges);
  },
};
