/**
 * Generators of the KVMGT stack, over the design's world. Guest gfns are drawn from its RAM
 * (eight pages by default) and now and then one past it; GGTT indices from the whole table (the
 * host's entries included) and one past it; table indices from a page-table page's entries. The guest builds page tables and batch buffers in its
 * own pages, so page-table pages, batch buffers and data pages collide.
 */
import fc from 'fast-check';
import { ownGgttIndices } from '../../models/gvt/config.js';
import type { GvtLayout } from '../../models/gvt/config.js';
import { OTHER_OWNER, RAM_VADDR_PAGE } from '../../models/kvmgt/config.js';
import type { KvmgtConfig, KvmgtWorld } from '../../models/kvmgt/config.js';
import { pendingShadows } from '../../models/gvt/inflight.js';
import { isPresentPte } from '../../models/gvt/ppgtt.js';
import { kvmgtFaultPoints } from '../../models/kvmgt/fault.js';
import type { KvmgtCommand, KvmgtFaultPoint, KvmgtState } from '../../models/kvmgt/types.js';
import type { GuestQword, Spt } from '../../models/gvt/types.js';
import { type1Backend } from '../../models/vfio/state.js';
import type { CommandSpace } from '../../src/design.js';
import { isPick, pickOr, resolvePick } from '../pick.js';
import type { Pickable } from '../pick.js';
import { PREFERRED_PICK, preferOr, preferredPick, resolvePreferring } from '../prefer.js';
import { ADVANCE, phasedSpace, resolveAdvance } from '../generic/interleave.js';
import { ipsBit, pseBit, setBits } from '../gvt/entry-bits.js';
import { ips64kStride, is64kTable } from '../../models/gvt/ips64k.js';
import { faultForPartWaySplit, splitFailingPartWay, tablesFailingPartWay } from './aim-64k.js';
import { partWayFault, populateAttempts, strikesPartWay } from './population.js';

type WithPick<C, K extends string, F extends string> = C extends { readonly kind: K }
  ? Omit<C, F> & { readonly [P in F]: Pickable<number> }
  : never;

/**
 * A command as generated. Some fields may name "the k-th live object" instead of a value: a guest
 * page-table page (a page the mediator shadows), a batch page (a page a present GGTT entry of the
 * vGPU names), a GGTT entry of the vGPU that is present, a PPGTT root, a frame of the other VM.
 * Others prefer what an attacker aims at (`resolveKvmgt`): a page the vGPU has not mapped yet for a
 * GGTT entry, a command operand the scanner refuses once a batch is queued, a prepared page table
 * as a PPGTT root, the RAM the vGPU has mapped for the VMM to take away.
 */
export type KvmgtTemplate =
  | KvmgtCommand
  | WithPick<KvmgtCommand, 'ggttWrite', 'gfn'>
  | WithPick<KvmgtCommand, 'guestWritePte', 'gfn' | 'targetGfn' | 'index'>
  | WithPick<KvmgtCommand, 'guestWriteCmd', 'gfn' | 'ggttIndex'>
  | WithPick<KvmgtCommand, 'submitBatch', 'ggttIndex'>
  | WithPick<KvmgtCommand, 'gpuDma', 'entry'>
  | WithPick<KvmgtCommand, 'ppgttCreate' | 'ppgttDestroy' | 'gpuDmaPpgtt', 'rootGfn'>
  | WithPick<KvmgtCommand, 'vmmUnmapRam' | 'vmmUnplugRam' | 'vmmPlugRam', 'gfn'>
  | WithPick<KvmgtCommand, 'otherVmRelease', 'mfn'>
  | WithPick<KvmgtCommand, 'injectFault', 'nth'>;

/** Kinds the generators draw (an `advance` is the engine's to insert). */
type GeneratedKind = Exclude<KvmgtTemplate['kind'], typeof ADVANCE>;

function table(world: KvmgtWorld): Readonly<Record<GeneratedKind, fc.Arbitrary<KvmgtTemplate>>> {
  const ram = world.ramPages;
  const half = Math.floor(ram / 2);
  const layout = world.layout;
  const sectionPages = world.ramSectionPages;
  const gfn = fc.oneof({ weight: 12, arbitrary: fc.nat({ max: ram - 1 }) }, { weight: 1, arbitrary: fc.constant(ram) });
  /**
   * Page tables tend to live in the low half of RAM and GGTT-mapped pages (batch buffers, surfaces)
   * in the high half, so that a batch buffer is not usually a page table as well; any page can be
   * either.
   */
  const tableGfn = fc.oneof({ weight: 3, arbitrary: fc.nat({ max: half - 1 }) }, { weight: 1, arbitrary: gfn });
  const surfaceGfn = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: half, max: ram - 1 }) },
    { weight: 1, arbitrary: gfn },
  );
  const ggttIndex = fc.oneof(
    { weight: 12, arbitrary: fc.nat({ max: layout.ggttEntries - 1 }) },
    { weight: 1, arbitrary: fc.constant(layout.ggttEntries) },
  );
  const ownIndex = fc.integer({ min: layout.aperture.start, max: layout.hidden.end - 1 });
  const anyTableIndex = fc.nat({ max: layout.entriesPerTable - 1 });
  // Page-table entries: mostly the first of a table, so that the guest's stores meet the entries it
  // wrote before and the mediator shadows (commands stay spread: a batch runs past its first).
  const tableIndex = fc.oneof({ weight: 2, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: anyTableIndex });
  // A guest store's entry: besides those, the table's next free entry, as a guest filling a table
  // in order writes it (`resolveKvmgt`): tables with several present entries, whose shadowing pins
  // several pages — what a population failing part-way needs.
  const pteIndex = fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 2, arbitrary: preferredPick },
    { weight: 1, arbitrary: anyTableIndex },
  );
  /** Mostly whole sections of RAM as the VMM mapped them, sometimes one page of one. */
  const section = fc.nat({ max: ram / sectionPages - 1 }).map((index) => index * sectionPages);
  const ramRange = fc.oneof(
    { weight: 3, arbitrary: section.map((gfn) => ({ gfn, npages: sectionPages })) },
    { weight: 1, arbitrary: fc.record({ gfn: fc.nat({ max: ram - 1 }), npages: fc.constant(1) }) },
  );
  /** The same, aimed: preferably the RAM the vGPU's DMA cache maps (`resolveKvmgt`). */
  const aimedRamRange = fc.oneof(
    { weight: 3, arbitrary: preferOr(section).map((gfn) => ({ gfn, npages: sectionPages })) },
    { weight: 1, arbitrary: fc.record({ gfn: preferOr(fc.nat({ max: ram - 1 })), npages: fc.constant(1) }) },
  );
  // A store's operand: mostly the vGPU's own graphics memory (a batch the scanner accepts), often
  // the host's; a pick is any entry, preferably the host's once a batch is queued (`resolveKvmgt`).
  const hostRange: fc.Arbitrary<number>[] =
    layout.aperture.start > 0 ? [fc.integer({ min: 0, max: layout.aperture.start - 1 })] : [];
  const operand = fc.oneof(
    { weight: 3, arbitrary: fc.integer({ min: layout.aperture.start, max: layout.hidden.end - 1 }) },
    ...hostRange.map((arbitrary) => ({ weight: 1, arbitrary })),
    { weight: 1, arbitrary: ggttIndex },
  );
  const own: Readonly<Record<GeneratedKind, fc.Arbitrary<KvmgtTemplate>>> = {
    ggttWrite: fc
      .record({
        // Mostly the vGPU's own entries (the mediator translates those), sometimes any.
        index: fc.oneof({ weight: 3, arbitrary: ownIndex }, { weight: 1, arbitrary: ggttIndex }),
        gfn: preferOr(surfaceGfn),
        present: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        access: fc.constantFrom(
          { sizeBytes: 8, offsetBytes: 0 },
          { sizeBytes: 8, offsetBytes: 0 },
          { sizeBytes: 8, offsetBytes: 0 },
          { sizeBytes: 8, offsetBytes: 0 },
          { sizeBytes: 4, offsetBytes: 0 },
          { sizeBytes: 4, offsetBytes: 4 },
          { sizeBytes: 2, offsetBytes: 0 },
        ),
      })
      .map(({ access, ...rest }) => ({ kind: 'ggttWrite', ...rest, ...access })),
    guestWritePte: fc
      .record({
        gfn: pickOr(tableGfn, 4),
        index: pteIndex,
        present: fc.oneof({ weight: 4, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
        targetGfn: preferOr(gfn),
        sizeBytes: fc.constantFrom(8, 8, 8, 4),
        // The IPS bit (a 64K table, whose entry 0 is split) and the PS bit (a 2M page, shadowed
        // whole where a host huge page backs it, else split), now and then (`entry-bits.ts`).
        ips: ipsBit,
        pse: pseBit,
      })
      .map(({ ips, pse, ...fields }) => ({ kind: 'guestWritePte', ...fields, ...setBits({ ips, pse }) })),
    guestWriteCmd: fc
      .record({
        gfn: pickOr(gfn, 3),
        index: anyTableIndex,
        op: fc.oneof(
          { weight: 8, arbitrary: fc.constant('store' as const) },
          { weight: 1, arbitrary: fc.constant('end' as const) },
          { weight: 1, arbitrary: fc.constant('forbidden' as const) },
        ),
        ggttIndex: preferOr(operand),
      })
      .map((fields) => ({ kind: 'guestWriteCmd', ...fields })),
    // Now and then the guest's PDP entry naming the directory has the PS bit: a 1G entry, which
    // the mediator refuses (`models/gvt/ppgtt-mm.ts`).
    ppgttCreate: fc
      .record({
        rootGfn: preferOr(tableGfn),
        pse: fc.oneof({ weight: 11, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      })
      .map(({ rootGfn, pse }) => ({ kind: 'ppgttCreate', rootGfn, ...(pse ? { pse } : {}) })),
    ppgttDestroy: preferOr(gfn).map((rootGfn) => ({ kind: 'ppgttDestroy', rootGfn })),
    submitBatch: pickOr(ggttIndex).map((index) => ({ kind: 'submitBatch', ggttIndex: index })),
    vmmUnmapRam: aimedRamRange.map((range) => ({ kind: 'vmmUnmapRam', ...range })),
    vmmMapRam: ramRange.map((range) => ({ kind: 'vmmMapRam', ...range })),
    vmmUnplugRam: aimedRamRange.map((range) => ({ kind: 'vmmUnplugRam', ...range })),
    vmmPlugRam: aimedRamRange.map((range) => ({ kind: 'vmmPlugRam', ...range })),
    otherVmAllocate: fc.constant({ kind: 'otherVmAllocate' }),
    otherVmRelease: pickOr(fc.nat({ max: world.frames - 1 })).map((mfn) => ({ kind: 'otherVmRelease', mfn })),
    vgpuCreate: fc.constant({ kind: 'vgpuCreate' }),
    vgpuDestroy: fc.constant({ kind: 'vgpuDestroy' }),
    vmDestroy: fc.constant({ kind: 'vmDestroy' }),
    // The first few attempts of a command: a PPGTT's shadowing maps a handful of pages, a GGTT
    // write one (`models/kvmgt/fault.ts`).
    injectFault: fc
      .record({
        point: fc.constantFrom<KvmgtFaultPoint>(...kvmgtFaultPoints),
        nth: fc.oneof(
          { weight: 1, arbitrary: fc.constant(1) },
          { weight: 1, arbitrary: fc.integer({ min: 2, max: 3 }) },
          // The last attempt after translated entries of the guest's largest prepared PPGTT
          // (`resolveKvmgt`; weights 3, 2, 4 before the workloads, `WORKLOADS`).
          { weight: 6, arbitrary: preferredPick },
        ),
      })
      .map((fields) => ({ kind: 'injectFault', ...fields })),
    clearFault: fc.constant({ kind: 'clearFault' }),
    gpuExecute: fc.constant({ kind: 'gpuExecute' }),
    gpuDma: fc
      .record({ entry: pickOr(ggttIndex, 2), write: fc.boolean() })
      .map((fields) => ({ kind: 'gpuDma', ...fields })),
    gpuDmaPpgtt: fc
      .record({ rootGfn: pickOr(gfn), pdIndex: tableIndex, ptIndex: tableIndex, write: fc.boolean() })
      .map((fields) => ({ kind: 'gpuDmaPpgtt', ...fields })),
  };
  // A workload's kinds are enabled or disabled together (`WORKLOADS`).
  const together = Object.fromEntries(
    WORKLOADS.flatMap((kinds) => {
      const mixed = fc.oneof(...kinds.map((kind) => ({ weight: weights[kind] ?? 1, arbitrary: own[kind] })));
      return kinds.map((kind) => [kind, mixed]);
    }),
  );
  return { ...own, ...together };
}

/**
 * Kinds a run has all of or none of. The engine's swarm selection enables each kind alone (in three
 * runs of four, a random half of them: `src/generate.ts swarmKinds`), which split what a guest
 * does together: it fills a PPGTT's tables, announces it and retires it (the announcement and the
 * retirement are one g2v notification, i915's `gen8_ppgtt_notify_vgt(ppgtt, create)`, handled by
 * `handle_g2v_notification`), and a run that injects faults injects them into the operations it
 * drives, of which a PPGTT's population has the most attempts (a page track per table, a map per
 * page). Drawn alone, a run with stores but no announcement shadows nothing, and one that shadows a
 * 2M entry whole without a retirement never frees it (`kvmgt/shipped-free-skips-2m`: 46 of every
 * 100 such runs had no `ppgttDestroy` enabled). Each kind of a workload draws any of its commands,
 * in their weights' proportions, so the commands' frequencies are unchanged where all are enabled.
 */
const WORKLOADS: readonly (readonly GeneratedKind[])[] = [
  ['guestWritePte', 'ppgttCreate', 'ppgttDestroy', 'injectFault'],
];

/**
 * Relative frequencies: the guest's page-table and GGTT traffic and the GPU's accesses dominate;
 * the VMM's memory changes and the vGPU's lifecycle are rarer.
 */
const weights: Readonly<Record<string, number>> = {
  ggttWrite: 16,
  // The guest's page-table stores as often as its table traffic is (20 before: a 64K split
  // rewritten while a map fault is armed, `kvmgt/64k-split-error-keeps-slots`, needs a store in the
  // few steps the fault and the split entry meet; finds per 1,000 runs over seeds 1-20 1.75 -> 4.55,
  // seeds 21-40 1.95 -> 4.85; bench/time-to-bug/kvmgt-64k-split-registered.txt).
  guestWritePte: 44,
  guestWriteCmd: 20,
  ppgttCreate: 20,
  // A guest tears PPGTTs down as often as it drops a GPU context (6, up from 2: the KVMGT designs
  // and mutants of the time-to-bug set are unchanged, every declared break on 20/20 seeds). 14 since
  // a freed table's walk (`kvmgt/shipped-free-skips-2m`) and the tables a freed PPGTT hands back
  // for the guest to announce again (`kvmgt/shipped-populate-unwind`) need it: 15 and 3 of 20
  // seeds before this file's aimed picks, 20 and 18 after (bench/time-to-bug/kvmgt-issue-21.txt).
  ppgttDestroy: 14,
  submitBatch: 12,
  gpuExecute: 12,
  gpuDma: 8,
  gpuDmaPpgtt: 10,
  vmmUnmapRam: 16,
  vmmMapRam: 4,
  vmmUnplugRam: 2,
  vmmPlugRam: 2,
  otherVmAllocate: 4,
  otherVmRelease: 2,
  vgpuCreate: 2,
  vgpuDestroy: 1,
  vmDestroy: 1,
  // Fault injection as often as a population failing part-way needs (4 before: see ppgttDestroy;
  // 12 before the workloads, `WORKLOADS`; 28 found less than 20).
  injectFault: 20,
  clearFault: 1,
};

/**
 * The phases of each kind that takes time, in a design (`models/gvt/inflight.ts`): a guest store
 * lands, its notifier translates, (the map's insert, where the op takes no cache lock,) its shadow
 * entry is written; a GGTT write is translated, (inserted,) written; a PPGTT is translated, (inserted,) written; a shadowed batch is read twice; a
 * GPU access walks, then lands. A batch command stored into a page table is not started on its
 * own: its handler translates nothing (a command is never a present entry), so it has no window.
 */
export function kvmgtPhases(config: Pick<KvmgtConfig, 'unmapLock' | 'gvt'>): Readonly<Record<string, number>> {
  const deferred = config.unmapLock === 'none' ? 1 : 0;
  return {
    // Under the vGPU lock (`unmapLock: 'vgpu'`) nothing a random run draws can run inside a GGTT
    // write's window (the op waits for the lock), so only the designs whose op can are preempted
    // there; the explore scope starts it in every design.
    ggttWrite: config.unmapLock === 'vgpu' ? 1 : 2 + deferred,
    guestWritePte: 3 + deferred,
    ppgttCreate: 2 + deferred,
    submitBatch: config.gvt.cmdbuf === 'scan-in-place' ? 1 : 2,
    gpuDmaPpgtt: 2,
  };
}

/**
 * What can change, inside an operation's window, what its next phase relies on: the guest's other
 * vCPU storing to the table a trapped store or a PPGTT's shadowing reads, or to the batch buffer
 * between its audit and its copy; the VMM unmapping or unplugging the RAM a GGTT write or a GPU
 * access translated.
 */
const kvmgtConflicts: Readonly<Record<string, readonly GeneratedKind[]>> = {
  ggttWrite: ['vmmUnmapRam', 'vmmUnplugRam', 'ggttWrite'],
  guestWritePte: ['guestWritePte', 'ppgttCreate'],
  ppgttCreate: ['guestWritePte'],
  submitBatch: ['guestWriteCmd'],
  gpuDmaPpgtt: ['guestWritePte', 'vmmUnmapRam', 'vmmUnplugRam'],
};

/** The generators over `world`'s guest RAM, GGTT and frames, with the design's phased operations. */
export function kvmgtCommandSpace(
  world: KvmgtWorld,
  config: Pick<KvmgtConfig, 'unmapLock' | 'gvt'>,
): CommandSpace<KvmgtTemplate> {
  const arbitraries = table(world);
  return {
    kinds: Object.keys(arbitraries),
    weight: (kind) => weights[kind] ?? 1,
    arbitrary(kind) {
      const arbitrary = arbitraries[kind as GeneratedKind];
      if (arbitrary === undefined) throw new Error(`kvmgt: no generator for command kind '${kind}'`);
      return arbitrary;
    },
    interleaving: phasedSpace<KvmgtTemplate>(kvmgtPhases(config), kvmgtConflicts),
  };
}

/** The world's RAM pages (gfns) and a table's entry indices, in order: built once per world. */
interface WorldRanges {
  readonly ram: readonly number[];
  readonly entries: readonly number[];
}

const rangesOf = new WeakMap<KvmgtWorld, WorldRanges>();

// The explorer resolves every template of its scope from every state, so `resolveKvmgt` builds
// these once per world (issue 23); they are only read.
function worldRanges(world: KvmgtWorld): WorldRanges {
  let ranges = rangesOf.get(world);
  if (ranges === undefined) {
    ranges = {
      ram: Array.from({ length: world.ramPages }, (_, page) => page),
      entries: Array.from({ length: world.layout.entriesPerTable }, (_, index) => index),
    };
    rangesOf.set(world, ranges);
  }
  return ranges;
}

/**
 * The guest's first present page-table entry: in its page at `gfn`, else in any page (in the
 * pages' key order). A loop over the pages, not a flattened copy of them: a store's resolution
 * asks it on every state.
 */
function firstPresentPte(state: KvmgtState, gfn: number): (GuestQword & { kind: 'pte'; present: true }) | undefined {
  const own = (state.guestPages[gfn] ?? []).find(isPresentPte);
  if (own !== undefined) return own;
  for (const key in state.guestPages) {
    const found = (state.guestPages[key] ?? []).find(isPresentPte);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** What `splitFailingPartWay` finds where nothing is aimed. */
const NOT_PART_WAY: ReturnType<typeof splitFailingPartWay> = { slots: [], targets: [] };

/** Fixes the picks of a template against the state, in `world`. */
export function resolveKvmgt(world: KvmgtWorld, state: KvmgtState, template: KvmgtTemplate): KvmgtCommand {
  const vgpu = state.vgpu;
  const asIs = (pick: number): number => pick;
  const layout = world.layout;
  const { ram, entries } = worldRanges(world);
  switch (template.kind) {
    case ADVANCE:
      return resolveAdvance(template, state.inflight.length);
    case 'ggttWrite': {
      // A pick prefers RAM the VMM maps and the DMA cache does not hold yet: a new DMA address.
      const fresh = (): number[] => {
        const dmas = type1Backend(state.vfio)?.dmas ?? [];
        return ram.filter(
          (gfn) =>
            vgpu?.cache[gfn] === undefined &&
            dmas.some((dma) => gfn >= dma.iovaPage && gfn < dma.iovaPage + dma.npages),
        );
      };
      return { ...template, gfn: resolvePreferring(template.gfn, fresh, ram, asIs) };
    }
    case 'guestWritePte': {
      // A pick is a page the mediator shadows; a high one prefers the entry a store in flight
      // reached, or a table a PPGTT's shadowing in flight translates (another vCPU races it), else
      // a page table (its entries are leaves: the handler maps the page an entry names, the window
      // the VMM's unmap aims at). A store racing another one takes the entry it reached.
      // (The views a pick aims with are computed only for a pick: the explore scope's templates
      // are concrete, and each is resolved from every state.)
      const spts = (): Spt[] => Object.values(vgpu?.spts ?? {});
      const storing = isPick(template.gfn)
        ? state.inflight.flatMap((op) => (op.kind === 'guestWritePte' ? [op] : []))
        : [];
      const leaves = (): number[] => {
        const racing = state.inflight.flatMap((op) =>
          op.kind === 'guestWritePte' ? [op.gfn] : op.kind === 'ppgttCreate' ? [op.rootGfn] : [],
        );
        if (racing.length > 0) return racing;
        const failing = tablesFailingPartWay(world, state);
        if (failing.length > 0) return failing;
        const shadowed = spts()
          .filter((spt) => spt.level === 'pt')
          .map((spt) => spt.gfn);
        // Besides the tables the mediator shadows, the guest goes on filling the ones it has
        // begun for its next PPGTT.
        const begun = preparedTables(state, world.ramPages).filter(
          (page) => firstFreeEntry(state, page, layout.entriesPerTable) !== undefined,
        );
        return [...shadowed, ...begun.filter((page) => !shadowed.includes(page))];
      };
      // While a store waits for its notifier, an even low pick races it too: the window the
      // handler's re-read of the guest entry is for.
      const waiting = storing.filter((op) => op.phase === 'handle');
      const racingPick = isPick(template.gfn) && template.gfn.pick % 4 !== 3 ? waiting[0] : undefined;
      const gfn =
        racingPick?.gfn ??
        (isPick(template.gfn)
          ? resolvePreferring(
              template.gfn,
              leaves,
              spts().map((spt) => spt.gfn),
              asIs,
            )
          : template.gfn);
      const raced = isPick(template.gfn) ? storing.find((op) => op.gfn === gfn) : undefined;
      // The entry's target prefers, but in a page table, a page holding entries of its own: the
      // guest builds a directory over a table.
      const tables = (): number[] => {
        if (vgpu?.spts[gfn]?.level === 'pt') return [];
        // (Another table than those the directory names already: a directory over several tables.)
        const listed = new Set(
          (state.guestPages[gfn] ?? []).flatMap((qword) => (isPresentPte(qword) ? [qword.gfn] : [])),
        );
        return preparedTables(state, world.ramPages).filter((page) => page !== gfn && !listed.has(page));
      };
      // A 2M entry names a data page (a 2M page of RAM), not a table to build: half its aimed
      // picks name RAM a host huge page backs (shadowed whole), the rest any page (where a 4K
      // page is split, or found cached at 4K).
      const huge = (): number[] =>
        isPick(template.targetGfn) && template.targetGfn.pick % 2 === 0
          ? world.hugePages.flatMap((start) => ram.slice(start, start + layout.entriesPerTable))
          : [];
      // With a map fault armed, a split 64K entry rewritten over a page the fault strikes part-way.
      // (Read only by picks: none, none aimed.)
      const picked = isPick(template.gfn) || isPick(template.targetGfn) || isPick(template.index);
      const partWay = picked ? splitFailingPartWay(world, state, gfn) : NOT_PART_WAY;
      // A preferred pick of such a table is the guest rewriting that entry with another 64K page,
      // whole: a present qword store with the IPS bit (a 4-byte half is a partial write, a clear
      // no rewrite, and a PS bit no 64K page), its slot and page picked among the aimed ones.
      if (
        partWay.targets.length > 0 &&
        raced === undefined &&
        isPick(template.gfn) &&
        template.gfn.pick >= PREFERRED_PICK
      ) {
        const among = (value: Pickable<number>, aimed: readonly number[]): number =>
          aimed[(isPick(value) ? value.pick : value) % aimed.length] ?? 0;
        return {
          kind: 'guestWritePte',
          gfn,
          index: among(template.index, partWay.slots),
          present: true,
          targetGfn: among(template.targetGfn, partWay.targets),
          sizeBytes: 8,
          ips: true,
          ...('phased' in template && template.phased === true ? { phased: true } : {}),
        };
      }
      const aimed = partWay.targets.length > 0 ? (): readonly number[] => partWay.targets : tables;
      const resolved = resolvePreferring(template.targetGfn, template.pse === true ? huge : aimed, ram, asIs);
      // A racing store writes another value than the one it races (the same one races nothing).
      const same = raced?.qword.kind === 'pte' && raced.qword.present && raced.qword.gfn === resolved;
      const targetGfn = same && template.present ? (resolved + 1) % world.ramPages : resolved;
      // A table the mediator shadows keeps the IPS bit the guest gave it: the guest does not reuse
      // a 4K table as a 64K one (the reshadow v6.12 does then is left out, `translateTable`).
      // Else the store copies the IPS bit of the guest's present entries (this page's first, else
      // any page's): a guest driver chooses the page size it uses, not each store's, so the bit
      // is drawn once per run in effect (until no entry is present).
      const named = vgpu?.spts[targetGfn];
      const { ips: drawn, ...rest } = template;
      const sibling = named?.level === 'pt' ? undefined : firstPresentPte(state, gfn);
      const ips =
        named?.level === 'pt' ? named.ips === true : sibling !== undefined ? sibling.ips === true : drawn === true;
      // A pick of the entry prefers the table's first entry that is not present: the next one a
      // guest filling the table in order writes.
      // Once it is full, the entries it wrote: a guest remapping what a table maps rewrites them.
      const nextFree = (): number[] => {
        const stride = stride64k(world, state, gfn);
        const free = firstFreeEntry(state, gfn, layout.entriesPerTable, stride);
        if (free !== undefined) return [free];
        const qwords = state.guestPages[gfn] ?? [];
        return entries.filter((index) => index % stride === 0 && isPresentPte(qwords[index]));
      };
      const rewrite = partWay.targets.length > 0 ? (): readonly number[] => partWay.slots : nextFree;
      const index = raced?.index ?? resolvePreferring(template.index, rewrite, entries, asIs);
      return { ...rest, gfn, index, targetGfn, ...(ips ? { ips } : {}) };
    }
    case 'guestWriteCmd': {
      // Once a batch is queued, a pick of the operand prefers what the scanner refuses (the host's
      // graphics memory): a buffer rewritten after its scan.
      // (Concrete fields, as the explore scope's, are themselves: nothing to compute.)
      if (!isPick(template.gfn) && !isPick(template.ggttIndex))
        return { ...template, gfn: template.gfn, ggttIndex: template.ggttIndex };
      const own = ownGgttIndices(layout);
      const all = Array.from({ length: layout.ggttEntries }, (_, index) => index);
      const submitting = state.inflight.some((op) => op.kind === 'submitBatch');
      const aimed = (vgpu?.workloads.length ?? 0) > 0 || submitting ? all.filter((index) => !own.includes(index)) : [];
      return {
        ...template,
        gfn: resolvePick(template.gfn, isPick(template.gfn) ? batchPages(state, layout) : [], asIs),
        // Between a submission's two reads every pick aims at the host's range: the window.
        ggttIndex: submitting
          ? resolvePick(template.ggttIndex, aimed, asIs)
          : resolvePreferring(template.ggttIndex, () => aimed, all, asIs),
      };
    }
    case 'submitBatch':
      return {
        ...template,
        ggttIndex: isPick(template.ggttIndex)
          ? resolvePick(template.ggttIndex, presentEntries(state, layout), asIs)
          : template.ggttIndex,
      };
    case 'gpuDma':
      return {
        ...template,
        entry: isPick(template.entry)
          ? resolvePick(template.entry, presentEntries(state, layout), asIs)
          : template.entry,
      };
    case 'ppgttCreate': {
      // A pick of the root prefers a page the guest has written page-table entries into, and of
      // those one whose entry names another such page: a directory over a table, with leaves.
      const prepared = (): number[] => {
        const candidates = rootCandidates(state, world.ramPages);
        // With a fault armed, a root whose shadowing it strikes part-way (`strikesPartWay`).
        const struck = candidates.filter((gfn) => strikesPartWay(world, state, gfn));
        if (struck.length > 0) return struck;
        // A guest announces a PPGTT once it has filled it (two attempts past its root's page
        // track).
        const filled = candidates.filter((gfn) => populateAttempts(world, state, gfn).attempts.length >= 2);
        if (filled.length > 0) return richest(state, filled);
        // Else a new PPGTT over the tables it has begun; with none, one it has again (a reference).
        // (A guest announces each PPGTT it creates once, `gen8_ppgtt_notify_vgt`, and retires it
        // once: references from announcing a known root again keep its tables from being freed.)
        if (candidates.length > 0) return richest(state, candidates);
        return vgpu?.mms.map((mm) => mm.rootGfn) ?? [];
      };
      return { ...template, rootGfn: resolvePreferring(template.rootGfn, prepared, ram, asIs) };
    }
    case 'ppgttDestroy': {
      // A pick prefers a PPGTT whose last reference this is (its tables are freed), else one with
      // the fewest left, of those the ones whose tables hold the most DMA mappings: what the free
      // must give back.
      const roots = vgpu?.mms.map((mm) => mm.rootGfn) ?? [];
      const last = (): number[] => {
        const fewest = Math.min(...(vgpu?.mms.map((mm) => mm.refcount) ?? []));
        const closest = vgpu?.mms.filter((mm) => mm.refcount === fewest).map((mm) => mm.rootGfn) ?? [];
        const held = (root: number): number => mappingsUnder(state, root);
        const most = Math.max(0, ...closest.map(held));
        return closest.filter((root) => held(root) === most);
      };
      return { ...template, rootGfn: resolvePreferring(template.rootGfn, last, roots, asIs) };
    }
    case 'gpuDmaPpgtt':
      return { ...template, rootGfn: resolvePick(template.rootGfn, vgpu?.mms.map((mm) => mm.rootGfn) ?? [], asIs) };
    case 'vmmUnmapRam':
    case 'vmmUnplugRam': {
      // A pick prefers the RAM a translation in flight has just mapped, else the RAM the vGPU's
      // DMA cache maps: a whole section, or one page of it.
      if (!isPick(template.gfn)) return { ...template, gfn: template.gfn };
      const pending = pendingShadows(state.inflight).flatMap((entry) => (entry.pte.kind === 'dma' ? [entry.gfn] : []));
      const cached = pending.length > 0 ? pending : Object.keys(vgpu?.cache ?? {}).map(Number);
      const sectionPages = world.ramSectionPages;
      const sections = template.npages === sectionPages;
      const start = (gfn: number): number => (sections ? gfn - (gfn % sectionPages) : gfn);
      const preferred = [...new Set(cached.map(start))].sort((left, right) => left - right);
      const live = Array.from({ length: sections ? world.ramPages / sectionPages : world.ramPages }, (_, index) =>
        sections ? index * sectionPages : index,
      );
      return { ...template, gfn: resolvePreferring(template.gfn, () => preferred, live, asIs) };
    }
    case 'vmmPlugRam': {
      // A pick prefers RAM the VMM unplugged (a plug elsewhere is refused, EEXIST).
      const sectionPages = world.ramSectionPages;
      const sections = template.npages === sectionPages;
      const width = sections ? sectionPages : 1;
      const live = Array.from({ length: world.ramPages / width }, (_, index) => index * width);
      const unplugged = (): number[] =>
        live.filter((gfn) =>
          Array.from({ length: width }, (_, page) => RAM_VADDR_PAGE + gfn + page).every(
            (vaddrPage) => state.vfio.process.pages[vaddrPage] === undefined,
          ),
        );
      return { ...template, gfn: resolvePreferring(template.gfn, unplugged, live, asIs) };
    }
    case 'otherVmRelease': {
      const frames = state.vfio.otherAllocations
        .filter((allocation) => allocation.owner === OTHER_OWNER)
        .map((allocation) => allocation.mfn);
      return { ...template, mfn: resolvePick(template.mfn, frames, asIs) };
    }
    case 'vmmMapRam':
    case 'otherVmAllocate':
    case 'vgpuCreate':
    case 'vgpuDestroy':
    case 'vmDestroy':
    case 'gpuExecute':
    case 'clearFault':
      return template;
    case 'injectFault': {
      const preferred = isPick(template.nth) && template.nth.pick >= PREFERRED_PICK;
      // While a split 64K entry is shadowed, a preferred pick aims at its rewrite failing part-way.
      const aimed64K = preferred ? faultForPartWaySplit(world, state, template.point) : null;
      if (aimed64K !== null) return { ...template, ...aimed64K };
      // Else the last attempt the shadowing of the guest's largest prepared PPGTT makes after
      // translated entries: a population that fails part-way, after the attempts before it
      // succeeded (what its unwind must give back; `partWayFault`).
      // (The roots a PPGTT's announcement prefers, the largest first.)
      const roots = preferred ? rootCandidates(state, world.ramPages) : [];
      const largest = richest(state, roots);
      for (const root of [...largest, ...roots.filter((gfn) => !largest.includes(gfn))]) {
        const aimed = partWayFault(world, state, root, template.point);
        if (aimed !== undefined) return { ...template, ...aimed };
      }
      // With none, the second map, or the second table's page track past the root's: part-way
      // through the shortest population that has a translated entry before the failure.
      if (preferred && template.nth.pick % 2 === 0) return { ...template, nth: template.point === 'trackAdd' ? 3 : 2 };
      return { ...template, nth: resolvePick(template.nth, [1, 2, 3], asIs) };
    }
  }
}

/**
 * The guest's prepared tables a PPGTT's announcement prefers as its root: directories (an entry
 * naming another prepared table, or a 2M entry: the PS bit is a page-directory entry's,
 * `GTT_TYPE_PPGTT_PTE_2M_ENTRY`), else any prepared table.
 */
function rootCandidates(state: KvmgtState, ramPages: number): number[] {
  const tables = preparedTables(state, ramPages);
  const directories = tables.filter((gfn) =>
    (state.guestPages[gfn] ?? []).some(
      (qword) => isPresentPte(qword) && (qword.pse === true || (qword.gfn !== gfn && tables.includes(qword.gfn))),
    ),
  );
  return directories.length > 0 ? directories : tables;
}

/** RAM pages holding a present page-table entry that are no PPGTT root yet: tables the guest prepared. */
function preparedTables(state: KvmgtState, ramPages: number): number[] {
  const roots = new Set(state.vgpu?.mms.map((mm) => mm.rootGfn) ?? []);
  return Array.from({ length: ramPages }, (_, gfn) => gfn).filter(
    (gfn) => !roots.has(gfn) && (state.guestPages[gfn] ?? []).some((qword) => qword.kind === 'pte' && qword.present),
  );
}

/**
 * Of `tables`, those whose shadowing would translate the most present entries (their own and
 * those of the tables they name): the PPGTT a guest announces over the tables it has filled, whose
 * population makes the most attempts — where one failing part-way has the most to give back.
 */
function richest(state: KvmgtState, tables: readonly number[]): number[] {
  const present = (gfn: number): number[] =>
    (state.guestPages[gfn] ?? []).flatMap((qword) => (isPresentPte(qword) ? [qword.gfn] : []));
  const size = (gfn: number): number =>
    present(gfn).reduce((sum, target) => sum + 1 + (target === gfn ? 0 : present(target).length), 0);
  const most = Math.max(0, ...tables.map(size));
  return tables.filter((gfn) => size(gfn) === most);
}

/** The DMA mappings the shadow tables of the PPGTT rooted at `rootGfn` hold: its leaves, a whole 2M entry's pages. */
function mappingsUnder(state: KvmgtState, rootGfn: number): number {
  const spts = state.vgpu?.spts ?? {};
  const leaves = (gfn: number): number =>
    (spts[gfn]?.entries ?? []).reduce(
      (sum, pte) =>
        sum + (pte.kind === 'dma' ? (pte.pages ?? 1) : pte.kind === 'table' && pte.gfn !== gfn ? leaves(pte.gfn) : 0),
      0,
    );
  return leaves(rootGfn);
}

/**
 * The first entry of the guest's table at `gfn` that is not present: the next a guest filling it in
 * order writes. `stride`: the step between the entries it uses (a 64K table's, `ips64kStride`).
 */
function firstFreeEntry(state: KvmgtState, gfn: number, entriesPerTable: number, stride = 1): number | undefined {
  const qwords = state.guestPages[gfn] ?? [];
  for (let index = 0; index < entriesPerTable; index += stride) if (!isPresentPte(qwords[index])) return index;
  return undefined;
}

/**
 * The step between the entries a guest fills in its table at `gfn`: a 64K table's stride where the
 * mediator shadows the page as one, or a present entry of the guest's names it with the IPS bit (the
 * guest chose 64K pages for it: i915 writes its 64K entries at every `GEN8_PTE_64K_STRIDE`-th slot,
 * `gen8_ppgtt_insert_huge`), else 1.
 */
function stride64k(world: KvmgtWorld, state: KvmgtState, gfn: number): number {
  const spt = state.vgpu?.spts[gfn];
  const named = Object.values(state.guestPages).some((qwords) =>
    (qwords ?? []).some((qword) => isPresentPte(qword) && qword.ips === true && qword.gfn === gfn),
  );
  return (spt !== undefined && is64kTable(spt)) || named ? ips64kStride(world.layout) : 1;
}

/** GGTT indices of the vGPU whose guest entry is present. */
function presentEntries(state: KvmgtState, layout: GvtLayout): number[] {
  return ownGgttIndices(layout).filter((index) => state.vgpu?.ggttGuest[index]?.present === true);
}

/**
 * Where batch buffers live: the page of a submission in flight, the pages of queued workloads (an
 * adversarial guest rewrites a buffer in flight), else the pages the vGPU's present GGTT entries name.
 */
function batchPages(state: KvmgtState, layout: GvtLayout): number[] {
  // A submission between its two reads of the buffer is the window: its page first and alone.
  const submitting = state.inflight.flatMap((op) => (op.kind === 'submitBatch' ? [op.batchGfn] : []));
  if (submitting.length > 0) return submitting;
  const queued = state.vgpu?.workloads.map((workload) => workload.batchGfn) ?? [];
  if (queued.length > 0) return queued;
  return presentEntries(state, layout).map((index) => state.vgpu?.ggttGuest[index]?.gfn ?? 0);
}
