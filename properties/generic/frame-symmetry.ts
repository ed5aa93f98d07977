/**
 * Symmetry reduction over host frames for the explore scopes of the stacks built on
 * `models/memory/frames.ts` (VFIO, the vIOMMU): a key and a fingerprint that are equal for states
 * differing only by a renaming of frame numbers, and different (but with probability about 2⁻¹²⁸
 * for the fingerprint) otherwise.
 *
 * A scope names the fields that hold a frame number wherever they sit in its state (`mfn`,
 * `zeroMfn`, a list of them such as `freeListBefore`); `renamedStableJson` and
 * `renamedFingerprint` walk the state without its memory, keys sorted, and rename each frame met
 * in those fields in order of first appearance. Then come the allocator's policy, its free list in
 * order (renamed: its order decides the next allocation, and is kept), any frame not met yet by
 * number, and each frame's owner and reference count in the order of the new names. A number in a
 * frame field that is no frame of the memory (a BAR's pfn past RAM) keeps its value: every name
 * is below the frame count, every such number at or past it. The allocation counter is left out
 * except under the `random` policy, the only one that reads it, and so are its records (a page
 * fault's `allocCountBefore`, which an unwind restores).
 *
 * The key and the fingerprint walk every field of the state, each in its own canonical key order
 * (the fingerprint takes array indices in numeric order, `stableFingerprint`), and rename by first
 * appearance along it: either way two states get equal forms exactly when a renaming of the
 * frames met maps one onto the other (the frames met are the same set in any order), so the two
 * give the same partition of states (a property test holds them to it). It is a canonical form only up to the traversal: two
 * states in one orbit whose unmet frames differ get two keys, which costs states, never soundness.
 * Soundness is the scope's to argue: every step, template and invariant must treat frames as
 * identities (compare, store, free them, allocate in free-list order), and no record may be keyed
 * by a frame number (the walk renames values, not keys). `test/explore/frame-symmetry.test.ts`
 * checks each merge a breadth-first search of the scope makes, one step deep: the two states break
 * the same invariants and have the same successors up to the key, with the same answers and
 * verdicts.
 */
import type { HostMemory } from '../../models/memory/frames.js';
import type { Fingerprint } from '../../src/state-table.js';
import { renamedFingerprint } from '../../src/stable-fingerprint.js';
import { renamedStableJson } from '../../src/stable-json.js';
import type { RenamedFields } from '../../src/stable-json.js';

/** A state split into its host memory and the rest (the view the walk renames). */
export interface FrameSplit {
  readonly view: unknown;
  readonly memory: HostMemory;
}

/** A renaming by first appearance over one state's frames. */
function renamer(memory: HostMemory): { readonly rename: (mfn: number) => number; readonly tail: () => unknown[] } {
  const frames = memory.frames;
  const names = new Int32Array(frames.length).fill(-1);
  const order: number[] = [];
  const rename = (mfn: number): number => {
    if (frames[mfn] === undefined) return mfn;
    let name = names[mfn] ?? -1;
    if (name < 0) {
      name = order.length;
      names[mfn] = name;
      order.push(mfn);
    }
    return name;
  };
  const tail = (): unknown[] => {
    const out: unknown[] = [memory.policy];
    if (memory.policy === 'random') out.push(memory.randomSeed, memory.allocCount);
    const free: number[] = [];
    for (const mfn of memory.freeList) free.push(rename(mfn));
    out.push(free);
    for (const frame of frames) rename(frame.mfn);
    for (const mfn of order) {
      const frame = frames[mfn];
      out.push(frame?.owner ?? null, frame?.refcount ?? 0);
    }
    return out;
  };
  return { rename, tail };
}

/**
 * The frame renaming of one stack's states: `frameFields` are the fields holding frame numbers,
 * `counterFields` the records of the allocation counter (`allocCountBefore`), left out with the
 * counter itself except under the `random` policy.
 */
export class FrameSymmetry {
  private readonly fields: RenamedFields;
  private readonly randomFields: RenamedFields;

  constructor(frameFields: readonly string[], counterFields: readonly string[] = ['allocCountBefore']) {
    const renamed = frameFields.map((field) => [field, 'rename'] as const);
    this.randomFields = new Map(renamed);
    this.fields = new Map([...renamed, ...counterFields.map((field) => [field, 'omit'] as const)]);
  }

  /** The canonical key of a split state with its frames renamed (see the header). */
  key(split: FrameSplit): string {
    const { rename, tail } = renamer(split.memory);
    const text = renamedStableJson(split.view, this.fieldsOf(split.memory), rename);
    return `${text}|${JSON.stringify(tail())}`;
  }

  /** The fingerprint of `key`'s partition, in one pass without building the text. */
  fingerprint(split: FrameSplit): Fingerprint {
    const { rename, tail } = renamer(split.memory);
    return renamedFingerprint(split.view, this.fieldsOf(split.memory), rename, tail);
  }

  private fieldsOf(memory: HostMemory): RenamedFields {
    return memory.policy === 'random' ? this.randomFields : this.fields;
  }
}
