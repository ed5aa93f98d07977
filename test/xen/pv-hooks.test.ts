/**
 * Each flawed PV memory hook (models/xen/pv-rules.ts): a short sequence under it breaks the named
 * generic invariant (properties/xen/pv-invariants.ts), and the same sequence under Xen's does not.
 */
import { describe, expect, it } from 'vitest';
import type { XenConfig } from '../../models/xen/config.js';
import { grantAccess, mapGrantRef, unmapGrantRef } from '../../models/xen/grant-table.js';
import {
  pvGrantIommuCountDropsPerUnmap,
  pvGrantIommuCountNeverDrops,
  pvGrantUnmapKeepsType,
  pvL1AcceptsWritablePageTable,
  pvL1FastPathIgnoresRw,
  pvTypeChangeSkipsIommuUnmap,
  soundPvMemory,
} from '../../models/xen/pv-rules.js';
import type { PvMemoryRules } from '../../models/xen/pv-rules.js';
import { pvMmuStep } from '../../models/xen/pv-mmu.js';
import type { XenState } from '../../models/xen/types.js';
import { pvMemoryInvariants } from '../../properties/xen/pv-invariants.js';
import { pvMemoryFlawedVariants } from '../../properties/xen/pv-variants.js';
import { DOM0, PV, mfnAt, pvWorld, violated } from './pv-world.js';

const invariants = pvMemoryInvariants<XenState, unknown>((state) => state);

type Sequence = (state: XenState, config: XenConfig) => void;

function run(rules: PvMemoryRules, sequence: Sequence): string[] {
  const config: XenConfig = { bugs: [], pvMemory: rules };
  const state = pvWorld(config);
  sequence(state, config);
  return violated(state, invariants);
}

/** The L1 table dom1 gfn 0 maps its gfn 1 read-only, is pinned; gfn 1 is pinned as an L1 too; the entry becomes RW. */
const rwEntryOfPageTable: Sequence = (state, config) => {
  const [table, target] = [mfnAt(state, PV, 0), mfnAt(state, PV, 1)];
  pvMmuStep(state, config, { kind: 'pvPinL1Table', domid: PV, mfn: target });
  pvMmuStep(state, config, {
    kind: 'pvMmuUpdate',
    domid: PV,
    tableMfn: table,
    slot: 0,
    mfn: target,
    rw: false,
  });
  pvMmuStep(state, config, { kind: 'pvPinL1Table', domid: PV, mfn: table });
  pvMmuStep(state, config, {
    kind: 'pvMmuUpdate',
    domid: PV,
    tableMfn: table,
    slot: 0,
    mfn: target,
    rw: true,
  });
};

/** dom1 pins its gfn 1 and gfn 0 as L1 tables, then makes gfn 0's slot 0 map gfn 1 writable. */
const rwEntryOfPinnedTable: Sequence = (state, config) => {
  const [table, target] = [mfnAt(state, PV, 0), mfnAt(state, PV, 1)];
  pvMmuStep(state, config, { kind: 'pvPinL1Table', domid: PV, mfn: target });
  pvMmuStep(state, config, { kind: 'pvPinL1Table', domid: PV, mfn: table });
  pvMmuStep(state, config, { kind: 'pvMmuUpdate', domid: PV, tableMfn: table, slot: 0, mfn: target, rw: true });
};

/** dom1 pins its gfn 0 as an L1 table: the frame was writable and in dom1's IOMMU. */
const pinWritableFrame: Sequence = (state, config) => {
  pvMmuStep(state, config, { kind: 'pvPinL1Table', domid: PV, mfn: mfnAt(state, PV, 0) });
};

/** dom0 (PV, IOMMU sync) maps dom1's gfn 1 (host, device or both; writable or not), then unmaps the host part. */
function grantThenUnmapHost(parts: { device: boolean; readonly: boolean }): Sequence {
  return (state, config) => {
    grantAccess(state, { domid: PV, ref: 0, granteeDomid: DOM0, gfn: 1, readonly: false });
    const mapped = mapGrantRef(state, config, {
      mapperDomid: DOM0,
      granterDomid: PV,
      ref: 0,
      host: true,
      device: parts.device,
      readonly: parts.readonly,
      hostAddr: 100,
    });
    const handle = mapped.detail!['handle'] as number;
    unmapGrantRef(state, config, { mapperDomid: DOM0, handle, hostAddr: 100, devBusAddr: null });
  };
}

const cases: [PvMemoryRules, Sequence, string[]][] = [
  [pvTypeChangeSkipsIommuUnmap, pinWritableFrame, ['no-writable-page-table', 'pv-iommu-matches-types-and-grants']],
  [pvL1FastPathIgnoresRw, rwEntryOfPageTable, ['no-writable-page-table', 'page-type-count-matches-references']],
  [
    pvL1AcceptsWritablePageTable,
    rwEntryOfPinnedTable,
    ['no-writable-page-table', 'page-type-count-matches-references'],
  ],
  [
    pvGrantUnmapKeepsType,
    grantThenUnmapHost({ device: false, readonly: false }),
    ['page-type-count-matches-references'],
  ],
  [
    pvGrantIommuCountDropsPerUnmap,
    grantThenUnmapHost({ device: true, readonly: false }),
    ['grant-iommu-counts-match-mappings', 'pv-iommu-matches-types-and-grants'],
  ],
  [
    pvGrantIommuCountNeverDrops,
    grantThenUnmapHost({ device: false, readonly: true }),
    ['grant-iommu-counts-match-mappings', 'pv-iommu-matches-types-and-grants'],
  ],
];

describe('flawed PV memory hooks break the generic invariants; Xen holds', () => {
  for (const [rules, sequence, broken] of cases) {
    it(`${rules.name}: ${broken.join(', ')}`, () => {
      expect(run(rules, sequence)).toEqual(broken);
      expect(run(soundPvMemory, sequence)).toEqual([]);
      // What the variant declares (properties/xen/pv-variants.ts) is what it breaks here.
      const declared = pvMemoryFlawedVariants.find((variant) => variant.rules === rules)?.breaks ?? [];
      expect([...declared].sort()).toEqual([...broken].sort());
    });
  }
});
