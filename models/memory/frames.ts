/**
 * Host memory: a small array of machine frames, each with an owner and a reference count,
 * and the allocator's free list.
 *
 * A frame is free exactly when its reference count is zero (Xen `free_domheap_page`, Linux
 * `put_page`): the count is what keeps it alive, not the owner field. While referenced, a frame
 * keeps its owner even after that owner dropped its own mapping (a ballooned-out page that a
 * grantee still maps stays "owned by d"). The models keep the count the way the real systems do,
 * by get/put at each holder; the accounting invariants recompute holders from every structure and
 * compare, so a forgotten get or put shows up as a mismatch.
 *
 * Left out: page types and type counts (PGT_writable_page), scrubbing, TLB-flush timestamps,
 * NUMA, higher-order allocations. None of them decides *which* frame a device can reach.
 *
 * Mutating helpers take a state the caller has already copied (see `cloneHostMemory`):
 * step functions copy first, then edit their own copy, so callers only ever see new values.
 */
import seedrandom from 'seedrandom';
import { share, unshared } from '../copy-on-write.js';

/** Which free frame the allocator hands out next. `lifo` makes reuse races reachable fast. */
export type AllocPolicy = 'lifo' | 'fifo' | 'random';
export const allocPolicies: readonly AllocPolicy[] = ['lifo', 'fifo', 'random'];

/** Owner of a frame: a domain id, or `null` while free. */
export type FrameOwner = number | null;

export interface Frame {
  readonly mfn: number;
  readonly owner: FrameOwner;
  readonly refcount: number;
}

/** A frame of a memory the caller owns (`writableFrame`). */
export type WritableFrame = { -readonly [K in keyof Frame]: Frame[K] };

export interface HostMemory {
  /**
   * Indexed by mfn. Shared between copies of the memory until one writes a frame: a step edits a
   * frame only through `writableFrame` (`../copy-on-write.ts`).
   */
  frames: readonly Frame[];
  /** Free mfns in the order they were freed (oldest first). */
  freeList: number[];
  readonly policy: AllocPolicy;
  /** Seed of the `random` policy: each allocation draws from `seedrandom(seed + '/' + allocCount)`. */
  readonly randomSeed: string;
  allocCount: number;
}

export interface HostMemoryConfig {
  readonly frameCount: number;
  readonly policy: AllocPolicy;
  readonly randomSeed: string;
}

export function createHostMemory(config: HostMemoryConfig): HostMemory {
  const frames: Frame[] = [];
  for (let mfn = 0; mfn < config.frameCount; mfn++) frames.push({ mfn, owner: null, refcount: 0 });
  return {
    frames,
    freeList: frames.map((frame) => frame.mfn),
    policy: config.policy,
    randomSeed: config.randomSeed,
    allocCount: 0,
  };
}

export function cloneHostMemory(memory: HostMemory): HostMemory {
  return {
    // Copied on the first write of a frame (`writableFrame`): a step that takes or drops no
    // reference (a DMA, a flush, most phases) copies none (issue 23).
    frames: share(memory.frames),
    freeList: [...memory.freeList],
    policy: memory.policy,
    randomSeed: memory.randomSeed,
    allocCount: memory.allocCount,
  };
}

function copyFrames(frames: readonly Frame[]): WritableFrame[] {
  const copy: WritableFrame[] = [];
  for (const frame of frames) copy.push({ mfn: frame.mfn, owner: frame.owner, refcount: frame.refcount });
  return copy;
}

/** Frame `mfn` of `memory` (a draft's), to edit in place: the draft's own frames first, if shared. */
export function writableFrame(memory: HostMemory, mfn: number): WritableFrame | undefined {
  if (memory.frames[mfn] === undefined) return undefined;
  const frames = unshared(memory.frames, copyFrames);
  memory.frames = frames;
  return frames[mfn];
}

export function frameAt(memory: HostMemory, mfn: number): Frame | undefined {
  return memory.frames[mfn];
}

export function isFree(memory: HostMemory, mfn: number): boolean {
  return memory.frames[mfn]?.owner === null;
}

/** Index in the free list of the frame the policy hands out next. */
function nextFreeIndex(memory: HostMemory): number {
  switch (memory.policy) {
    case 'lifo':
      return memory.freeList.length - 1;
    case 'fifo':
      return 0;
    case 'random':
      return Math.floor(seedrandom(`${memory.randomSeed}/${memory.allocCount}`)() * memory.freeList.length);
  }
}

/** The mfn the next allocation would return, or `null` when memory is exhausted. Does not allocate. */
export function peekAllocation(memory: HostMemory): number | null {
  if (memory.freeList.length === 0) return null;
  return memory.freeList[nextFreeIndex(memory)] ?? null;
}

/**
 * Allocates a free frame to `owner` with one reference (the allocation reference,
 * Xen's PGC_allocated). Returns the mfn, or `null` when no frame is free.
 */
export function allocFrame(memory: HostMemory, owner: number): number | null {
  if (memory.freeList.length === 0) return null;
  return claimFree(memory, nextFreeIndex(memory), owner);
}

/** Takes the free list's `index`-th frame for `owner`, with one reference; `null` if there is none. */
function claimFree(memory: HostMemory, index: number, owner: number): number | null {
  const mfn = memory.freeList[index];
  const frame = mfn === undefined ? undefined : memory.frames[mfn];
  if (mfn === undefined || frame === undefined) return null;
  memory.freeList.splice(index, 1);
  const own = writableFrame(memory, mfn) as WritableFrame;
  own.owner = owner;
  own.refcount = 1;
  memory.allocCount += 1;
  return mfn;
}

/** Allocates the free frame `mfn` to `owner` with one reference; `null` if it is not free. */
export function allocFrameAt(memory: HostMemory, mfn: number, owner: number): number | null {
  const index = memory.freeList.indexOf(mfn);
  return index < 0 ? null : claimFree(memory, index, owner);
}

/** Takes a reference on a frame that is in use. */
export function getRef(memory: HostMemory, mfn: number): void {
  const frame = writableFrame(memory, mfn);
  if (frame !== undefined) frame.refcount += 1;
}

/**
 * Drops a reference. When the last one goes the frame is freed: it loses its owner and joins the
 * free list. Returns the previous owner if the frame was freed, otherwise `undefined`.
 */
export function putRef(memory: HostMemory, mfn: number): FrameOwner | undefined {
  if (memory.frames[mfn] === undefined || memory.frames[mfn].refcount === 0) return undefined;
  const frame = writableFrame(memory, mfn) as WritableFrame;
  frame.refcount -= 1;
  if (frame.refcount > 0) return undefined;
  const previousOwner = frame.owner;
  frame.owner = null;
  memory.freeList.push(mfn);
  return previousOwner;
}

/** Frames currently owned by `owner`. */
export function framesOwnedBy(memory: HostMemory, owner: number): number[] {
  return memory.frames.filter((frame) => frame.owner === owner).map((frame) => frame.mfn);
}
