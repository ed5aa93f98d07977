/**
 * The flat encoding of a XenGT explore scope (`src/flat-scope.ts`, issue 23), for a scope whose
 * templates are all of the kinds `step.ts` runs: whole GGTT writes and clears of the vGPU's own
 * entries with concrete arguments, balloon-outs and populates of domains other than the backend
 * (a concrete gfn, or a plain pick: the k-th live gfn), and GPU accesses through a concrete own
 * entry; on a design with the built-in `map` or `lookup` backend, no deliberate bug, no fault
 * point and Xen's default orderings; the key with frames renamed or not (`layout.ts`
 * `canonicalize`). `xenGtFlatScope` answers undefined for anything else, and the explorer
 * searches the objects as before.
 *
 * The invariants, decided on the vectors. The ones a flat state can break, as their object
 * versions read them (properties/xengt/invariants, properties/gvt/invariants.ts):
 * - effect: a GPU access landed in a frame of no owner, or another domain's;
 * - latent: a frame a host entry reaches not the guest's, or with no reference of the backend's
 *   (its pool mappings and its own pages) keeping it;
 * - a host entry not scratch and not its present guest entry's cached DMA address;
 * - a frame's reference count not its holders (p2m entries, pool mappings, the constant rest);
 *   free not exactly when unreferenced and on the free list; a cache entry's kref not the host
 *   entries holding its address, or below one; a host entry's address in no cache entry; under
 *   the map backend, a pool mapping not the address of exactly one cache entry, or a cache entry
 *   whose address is no pool mapping of its guest gfn.
 * The rest hold in every state such a scope reaches, by what its vectors leave constant: no grant
 * (pins, GTF_reading, GTF_writing), no PPGTT (shadow tables, write protection), no domain dying or
 * re-created (teardown, mapping names), the vGPU's other GGTT entries never written (unowned
 * entries reach scratch), tot_pages the frames owned, nothing in flight (no wait), a populate
 * always undone by a balloon of its gfn (round trip), and a refusal that changes nothing.
 * `test/xengt/flat.test.ts` holds every verdict to the object invariants' on whole graphs.
 */
import type { XenGtCommand } from '../../../models/xengt/commands.js';
import type { XenGtConfig } from '../../../models/xengt/config.js';
import { xenGtLookupBackend, xenGtMapBackend } from '../../../models/xengt/backend.js';
import type { XenGtState } from '../../../models/xengt/types.js';
import { isPoolGfn } from '../../../models/xengt/host.js';
import type { Invariant } from '../../../src/design.js';
import { FLAT_CHANGED, FLAT_SAME } from '../../../src/flat-scope.js';
import type { FlatScope } from '../../../src/flat-scope.js';
import { isPick } from '../../pick.js';
import { PREFERRED_PICK } from '../../prefer.js';
import type { XenGtTemplate } from '../resolve.js';
import type { XenGtUniverse } from '../universe.js';
import { holderCensus } from '../views.js';
import { canonicalize, encodeXenGt, NONE, ownEntries, wordBitsOf, xenGtFlatLayout } from './layout.js';
import type { XenGtFlatLayout } from './layout.js';
import { flatGfn, landedMfn, stepFlatXenGt, translateFlat } from './step.js';
import type { FlatXenGtMachine, FlatXenGtOp } from './step.js';

/** What a flat scope is built from: the design's pieces. */
export interface XenGtFlatSource {
  readonly config: XenGtConfig;
  readonly values: XenGtUniverse;
  readonly templates: readonly XenGtTemplate[];
  readonly invariants: readonly Invariant<XenGtState, XenGtCommand>[];
  readonly init: () => XenGtState;
  readonly resolve: (state: XenGtState, template: XenGtTemplate) => XenGtCommand;
  /** The scope's key renames frames (`xenGtStateKey`'s `renameFrames`): the vectors are canonicalized alike. */
  readonly renameFrames: boolean;
}

/** A template as a flat op, or null when `step.ts` does not run it. */
function compile(source: XenGtFlatSource, template: XenGtTemplate, slots: readonly number[]): FlatXenGtOp | null {
  const { config, values } = source;
  const plainNumber = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value);
  const fields = Object.keys(template).length;
  if (template.kind === 'gttWrite') {
    if (fields !== 4 || !plainNumber(template.entry) || !plainNumber(template.gfn)) return null;
    if (template.gfn < 0 || template.gfn >= values.gfns || typeof template.present !== 'boolean') return null;
    return { kind: 'write', slot: slots.indexOf(template.entry), gfn: template.gfn, present: template.present };
  }
  if (template.kind === 'decreaseReservation' || template.kind === 'populatePhysmap') {
    if (fields !== 3 || !plainNumber(template.domid)) return null;
    const { domid, gfn } = template;
    if (domid === config.backendDomid || domid < 0 || domid >= config.world.domains.length) return null;
    const kind = template.kind === 'decreaseReservation' ? 'balloon' : 'populate';
    if (isPick(gfn)) return gfn.pick >= 0 && gfn.pick < PREFERRED_PICK ? { kind, domid, gfn: 0, pick: gfn.pick } : null;
    return plainNumber(gfn) && gfn >= 0 ? { kind, domid, gfn, pick: null } : null;
  }
  if (template.kind === 'gpuDma') {
    if (fields !== 3 || !plainNumber(template.entry) || typeof template.write !== 'boolean') return null;
    return { kind: 'dma', slot: slots.indexOf(template.entry) };
  }
  return null;
}

/** Why the design is outside what the flat step runs, or null. */
function unsupported(config: XenGtConfig): string | null {
  if (config.backend !== xenGtMapBackend && config.backend !== xenGtLookupBackend) return 'a backend of its own';
  if (config.bugs.length > 0 || config.xen.bugs.length > 0 || (config.gvt.bugs ?? []).length > 0) return 'a bug';
  if (config.gvt.hooks !== undefined && Object.keys(config.gvt.hooks).length > 0) return 'GVT hooks';
  if (config.gvt.unwind !== undefined) return 'a GVT unwind';
  // Xen's orderings and rules: the flat step runs the defaults (none given).
  for (const [hook, value] of Object.entries(config.xen)) {
    if (hook !== 'bugs' && value !== undefined) return `Xen's ${hook}`;
  }
  return null;
}

/** The state-only checks, by invariant name: true when the state at `at` breaks it. */
type StateCheck = (states: Int32Array, at: number) => boolean;

function stateChecks(
  machine: FlatXenGtMachine,
  constHolders: Int32Array,
  constBackendHeld: Int32Array,
): Record<string, StateCheck> {
  const { layout, guest } = machine;
  const slots = layout.entries.length;
  const reached = (states: Int32Array, at: number, slot: number): number => {
    const dmaAddr = states[at + layout.host + slot] ?? NONE;
    return dmaAddr === NONE ? NONE : translateFlat(machine, states, at, dmaAddr);
  };
  // The backend's references: its pool mappings and its own pages.
  const backendHolders = (states: Int32Array, at: number, mfn: number): number => {
    let count = 0;
    for (let slot = 0; slot < layout.poolSize; slot++) if (states[at + layout.poolMfn + slot] === mfn) count += 1;
    for (let index = 0; index < layout.backendGfns.length; index++)
      if (states[at + layout.backendMfn + index] === mfn) count += 1;
    return count;
  };
  const usersOf = (states: Int32Array, at: number, dmaAddr: number): number => {
    let count = 0;
    for (let slot = 0; slot < slots; slot++) if (states[at + layout.host + slot] === dmaAddr) count += 1;
    return count;
  };
  const cachedGfnOf = (states: Int32Array, at: number, dmaAddr: number): number => {
    for (let gfn = 0; gfn < layout.gfns; gfn++) if (states[at + layout.cacheAddr + gfn] === dmaAddr) return gfn;
    return NONE;
  };
  return {
    'shadow-frame-owned-by-guest': (states, at) => {
      for (let slot = 0; slot < slots; slot++) {
        const mfn = reached(states, at, slot);
        if (mfn !== NONE && states[at + layout.owner + mfn] !== guest) return true;
      }
      return false;
    },
    'shadow-frame-held-by-backend': (states, at) => {
      for (let slot = 0; slot < slots; slot++) {
        const mfn = reached(states, at, slot);
        if (mfn !== NONE && (constBackendHeld[mfn] ?? 0) + backendHolders(states, at, mfn) === 0) return true;
      }
      return false;
    },
    'shadow-matches-guest-entry': (states, at) => {
      for (let slot = 0; slot < slots; slot++) {
        const dmaAddr = states[at + layout.host + slot] ?? NONE;
        if (dmaAddr === NONE) continue;
        if (states[at + layout.guestPresent + slot] !== 1) return true;
        const gfn = states[at + layout.guestGfn + slot] ?? 0;
        if (gfn < 0 || gfn >= layout.gfns || states[at + layout.cacheAddr + gfn] !== dmaAddr) return true;
      }
      return false;
    },
    'frame-refcount-matches-holders': (states, at) => {
      for (let mfn = 0; mfn < layout.frames; mfn++) {
        let holders = (constHolders[mfn] ?? 0) + backendHolders(states, at, mfn);
        for (let cell = layout.p2m; cell < layout.p2m + layout.domains * layout.gfns; cell++)
          if (states[at + cell] === mfn) holders += 1;
        if (states[at + layout.refcount + mfn] !== holders) return true;
      }
      return false;
    },
    'free-iff-unreferenced': (states, at) => {
      const count = states[at + layout.freeCount] ?? 0;
      for (let mfn = 0; mfn < layout.frames; mfn++) {
        const free = states[at + layout.owner + mfn] === NONE;
        let listed = false;
        for (let index = 0; index < count; index++) if (states[at + layout.freeList + index] === mfn) listed = true;
        if (free !== (states[at + layout.refcount + mfn] === 0) || free !== listed) return true;
      }
      return false;
    },
    'cache-kref-matches-shadow-users': (states, at) => {
      for (let gfn = 0; gfn < layout.gfns; gfn++) {
        const dmaAddr = states[at + layout.cacheAddr + gfn] ?? NONE;
        if (dmaAddr !== NONE && states[at + layout.cacheKref + gfn] !== usersOf(states, at, dmaAddr)) return true;
      }
      return false;
    },
    'shadow-dma-addr-cached': (states, at) => {
      for (let slot = 0; slot < slots; slot++) {
        const dmaAddr = states[at + layout.host + slot] ?? NONE;
        if (dmaAddr !== NONE && cachedGfnOf(states, at, dmaAddr) === NONE) return true;
      }
      return false;
    },
    'backend-mappings-match-shadow': (states, at) => {
      if (!machine.pool) return false;
      for (let slot = 0; slot < layout.poolSize; slot++) {
        if (states[at + layout.poolMfn + slot] === NONE) continue;
        const dfn = layout.poolBaseGfn + slot;
        let users = 0;
        for (let gfn = 0; gfn < layout.gfns; gfn++) if (states[at + layout.cacheAddr + gfn] === dfn) users += 1;
        if (users !== 1) return true;
      }
      for (let gfn = 0; gfn < layout.gfns; gfn++) {
        const dmaAddr = states[at + layout.cacheAddr + gfn] ?? NONE;
        if (dmaAddr === NONE) continue;
        const slot = dmaAddr - layout.poolBaseGfn;
        if (slot < 0 || slot >= layout.poolSize) return true;
        if (states[at + layout.poolMfn + slot] === NONE || states[at + layout.poolGfn + slot] !== gfn) return true;
      }
      return false;
    },
    'counters-in-range': (states, at) => {
      for (let mfn = 0; mfn < layout.frames; mfn++) if ((states[at + layout.refcount + mfn] ?? 0) < 0) return true;
      for (let gfn = 0; gfn < layout.gfns; gfn++) {
        if (states[at + layout.cacheAddr + gfn] !== NONE && (states[at + layout.cacheKref + gfn] ?? 0) < 1) return true;
      }
      return false;
    },
  };
}

/** The invariants a flat state cannot break (see the header), decided as holding. */
const CONSTANT = new Set([
  'unowned-ggtt-reaches-scratch',
  'tot-pages-matches-owned-frames',
  'grant-pins-match-handles',
  'grant-reading-matches-pins',
  'grant-writing-matches-pins',
  'spt-refcount-matches-references',
  'shadowed-table-write-protected',
  'dying-domain-holds-no-handles',
  'dying-domain-has-empty-p2m',
  'dead-domain-owns-no-frames',
  'zombie-without-frames-is-dead',
  'no-vgpu-no-backend-mappings',
  'mapping-names-current-domain',
  'no-operation-waits-forever',
  'round-trip-returns-everything',
  'failed-op-leaves-state-unchanged',
]);

/** The effect invariants, judged on where a GPU access landed. */
const LANDED = ['no-dma-to-foreign-frame', 'no-dma-to-free-frame'] as const;

/**
 * The flat encoding of the design `source` describes, or undefined when its
 * configuration or one of its templates is outside what the vectors hold (see the header).
 */
export interface XenGtFlat {
  /** A fresh flat scope (`ExploreScope.flat`). */
  readonly scope: () => FlatScope<XenGtTemplate>;
  /** The vector of a state of the scope into `out` (for the tests that hold the two models equal). */
  readonly encode: (state: XenGtState, out: Int32Array) => void;
  /** Where each field lies in a vector. */
  readonly layout: XenGtFlatLayout;
}

export function xenGtFlatScope(source: XenGtFlatSource): XenGtFlat | undefined {
  const { config, values, templates } = source;
  if (unsupported(config) !== null) return undefined;
  const named = templates.flatMap((template) =>
    template.kind === 'gttWrite' || template.kind === 'gpuDma'
      ? [typeof template.entry === 'number' ? template.entry : Number.NaN]
      : [],
  );
  const slots = ownEntries(config, named);
  if (slots === null) return undefined;
  const ops: FlatXenGtOp[] = [];
  for (const template of templates) {
    const op = compile(source, template, slots);
    if (op === null) return undefined;
    ops.push(op);
  }
  const initial = source.init();
  // The backend's own pages, below its pool (the key meets them first).
  const backendP2m = initial.xen.domains[config.backendDomid]?.p2m ?? {};
  const backendGfns = Object.keys(backendP2m)
    .map(Number)
    .filter((gfn) => !isPoolGfn(config, gfn));
  if (backendGfns.some((gfn) => gfn >= config.mappingPoolBaseGfn)) return undefined;
  const frames = initial.xen.memory.frames.length;
  const layoutOf = (renameFrames: boolean): XenGtFlatLayout =>
    xenGtFlatLayout(config, frames, values.gfns, slots, backendGfns, renameFrames);
  const layout = layoutOf(source.renameFrames);
  const raw = new Int32Array(layout.width);
  const start = new Int32Array(layout.width);
  try {
    encodeXenGt(initial, config, layoutOf(false), raw);
    encodeXenGt(initial, config, layout, start);
  } catch {
    return undefined;
  }
  const machine = machineOf(config, layout);
  // The templates must resolve to themselves (but a pick's gfn) for `command` to give the design's command.
  for (const [position, template] of templates.entries()) {
    const resolved = source.resolve(initial, template);
    const op = ops[position];
    const gfn = op === undefined || op.kind === 'dma' ? undefined : flatGfn(machine, op, start, 0);
    const expected = gfn === undefined || op?.kind === 'write' ? template : { ...template, gfn };
    if (JSON.stringify(resolved) !== JSON.stringify(expected)) return undefined;
  }
  const names: string[] = [];
  const stateOnly: boolean[] = [];
  for (const invariant of source.invariants) {
    names.push(invariant.name);
    stateOnly.push(invariant.reads !== undefined);
  }
  if (names.length > 31) return undefined;
  const { constHolders, constBackendHeld } = constantHolders(config, layout, initial, raw);
  // Renamed, a frame's number says nothing of the holders the vector leaves out: there must be none.
  if (source.renameFrames && [...constHolders, ...constBackendHeld].some((holders) => holders !== 0)) return undefined;
  const checks = stateChecks(machine, constHolders, constBackendHeld);
  const known = (name: string): boolean =>
    name in checks || CONSTANT.has(name) || (LANDED as readonly string[]).includes(name);
  if (!names.every(known)) return undefined;
  // Which bits each part decides: the state-only invariants at a state's first arrival, the rest
  // on every transition (as the object search splits them, by `reads`).
  const stateBits: { readonly bit: number; readonly check: StateCheck }[] = [];
  let foreignBit = 0;
  let freeBit = 0;
  names.forEach((name, index) => {
    const check = checks[name];
    if (stateOnly[index] === true && check !== undefined) stateBits.push({ bit: 1 << index, check });
    if (stateOnly[index] !== true && name === 'no-dma-to-foreign-frame') foreignBit = 1 << index;
    if (stateOnly[index] !== true && name === 'no-dma-to-free-frame') freeBit = 1 << index;
  });
  // A state-only check of a transition invariant (or the reverse) would be judged at the wrong
  // time: the encoding then stands aside.
  if (names.some((name, index) => name in checks !== (stateOnly[index] === true) && !CONSTANT.has(name)))
    return undefined;
  const scratch = new Int32Array(3 * layout.frames);
  const scope = (): FlatScope<XenGtTemplate> => ({
    width: layout.width,
    wordBits: wordBitsOf(layout),
    commands: ops.length,
    invariants: names,
    init: (out) => out.set(start),
    step: (states, from, position, out) => {
      const op = ops[position];
      if (op === undefined) return FLAT_SAME;
      const status = stepFlatXenGt(machine, op, states, from, out);
      if (status === FLAT_CHANGED && layout.renameFrames) canonicalize(layout, out, 0, scratch);
      return status;
    },
    checkTransition: (states, from, position) => {
      if (ops[position]?.kind !== 'dma' || landedMfn === NONE) return 0;
      const owner = states[from + layout.owner + landedMfn] ?? NONE;
      if (owner === machine.guest) return 0;
      return owner === NONE ? freeBit : foreignBit;
    },
    checkState: (states, at) => {
      let mask = 0;
      for (const { bit, check } of stateBits) if (check(states, at)) mask |= bit;
      return mask;
    },
    command: (states, from, position) => {
      const template = templates[position] as XenGtTemplate;
      const op = ops[position];
      if (op === undefined || op.kind === 'dma' || op.kind === 'write' || op.pick === null) return template;
      return { ...template, gfn: flatGfn(machine, op, states, from) } as XenGtTemplate;
    },
  });
  return { scope, encode: (state, out) => encodeXenGt(state, config, layout, out), layout };
}

function machineOf(config: XenGtConfig, layout: XenGtFlatLayout): FlatXenGtMachine {
  return { layout, guest: config.guestDomid, pool: config.backend === xenGtMapBackend };
}

/**
 * The holders of each frame the vectors do not hold (anything the scope never changes but the
 * backend's own pages): the census of the initial state less what its vector (`raw`, frames not
 * renamed) counts.
 */
function constantHolders(
  config: XenGtConfig,
  layout: XenGtFlatLayout,
  initial: XenGtState,
  raw: Int32Array,
): { constHolders: Int32Array; constBackendHeld: Int32Array } {
  const census = holderCensus(initial.xen);
  const constHolders = new Int32Array(layout.frames);
  const constBackendHeld = new Int32Array(layout.frames);
  const count = (start: number, cells: number, mfn: number): number => {
    let found = 0;
    for (let cell = start; cell < start + cells; cell++) if (raw[cell] === mfn) found += 1;
    return found;
  };
  for (let mfn = 0; mfn < layout.frames; mfn++) {
    const backend =
      count(layout.poolMfn, layout.poolSize, mfn) + count(layout.backendMfn, layout.backendGfns.length, mfn);
    const p2m = count(layout.p2m, layout.domains * layout.gfns, mfn);
    constHolders[mfn] = (census.total[mfn] ?? 0) - backend - p2m;
    constBackendHeld[mfn] = (census.byDomain[config.backendDomid]?.[mfn] ?? 0) - backend;
  }
  return { constHolders, constBackendHeld };
}
