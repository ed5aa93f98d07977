import { describe, expect, it } from 'vitest';
import {
  allocFrame,
  cloneHostMemory,
  createHostMemory,
  framesOwnedBy,
  getRef,
  isFree,
  peekAllocation,
  putRef,
} from '../../../models/memory/frames.js';
import type { AllocPolicy, HostMemory } from '../../../models/memory/frames.js';

function memory(policy: AllocPolicy, frameCount = 4, randomSeed = 's'): HostMemory {
  return createHostMemory({ frameCount, policy, randomSeed });
}

function allocAll(mem: HostMemory, owner = 1): number[] {
  const mfns: number[] = [];
  for (let mfn = allocFrame(mem, owner); mfn !== null; mfn = allocFrame(mem, owner)) mfns.push(mfn);
  return mfns;
}

describe('host memory: creation and allocation', () => {
  it('starts with every frame free, unowned and unreferenced, free list in mfn order', () => {
    const mem = memory('lifo');
    expect(mem.frames).toEqual([0, 1, 2, 3].map((mfn) => ({ mfn, owner: null, refcount: 0 })));
    expect(mem.freeList).toEqual([0, 1, 2, 3]);
    expect(mem.allocCount).toBe(0);
  });

  it('allocFrame gives the frame to its owner with one (allocation) reference', () => {
    const mem = memory('lifo');
    const mfn = allocFrame(mem, 5)!;
    expect(mem.frames[mfn]).toEqual({ mfn, owner: 5, refcount: 1 });
    expect(mem.freeList).not.toContain(mfn);
    expect(isFree(mem, mfn)).toBe(false);
    expect(mem.allocCount).toBe(1);
  });

  it('allocFrame returns null when exhausted and changes nothing', () => {
    const mem = memory('fifo');
    expect(allocAll(mem)).toHaveLength(4);
    const before = cloneHostMemory(mem);
    expect(allocFrame(mem, 2)).toBeNull();
    expect(peekAllocation(mem)).toBeNull();
    expect(mem).toEqual(before);
  });

  it('peekAllocation names the next frame without allocating it', () => {
    for (const policy of ['lifo', 'fifo', 'random'] as const) {
      const mem = memory(policy, 6);
      allocFrame(mem, 1);
      const before = cloneHostMemory(mem);
      const peeked = peekAllocation(mem);
      expect(mem).toEqual(before);
      expect(allocFrame(mem, 1)).toBe(peeked);
    }
  });
});

describe('host memory: allocation policies', () => {
  it('lifo hands out the most recently freed frame first', () => {
    const mem = memory('lifo');
    expect(allocAll(mem)).toEqual([3, 2, 1, 0]);
    putRef(mem, 1);
    putRef(mem, 3);
    expect(allocFrame(mem, 1)).toBe(3);
    expect(allocFrame(mem, 1)).toBe(1);
  });

  it('fifo hands out the oldest freed frame first', () => {
    const mem = memory('fifo');
    expect(allocAll(mem)).toEqual([0, 1, 2, 3]);
    putRef(mem, 2);
    putRef(mem, 0);
    expect(allocFrame(mem, 1)).toBe(2);
    expect(allocFrame(mem, 1)).toBe(0);
  });

  it('random is deterministic for a given seed and hands out each frame once', () => {
    const first = allocAll(memory('random', 8, 'seed-1'));
    const second = allocAll(memory('random', 8, 'seed-1'));
    expect(first).toEqual(second);
    expect([...first].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
  });

  it('random sequences differ between seeds', () => {
    const sequences = ['a', 'b', 'c', 'd', 'e'].map((seed) => allocAll(memory('random', 8, seed)).join(','));
    expect(new Set(sequences).size).toBeGreaterThan(1);
  });

  it('random picks differ from both lifo and fifo order', () => {
    const sequences = ['a', 'b', 'c', 'd', 'e'].map((seed) => allocAll(memory('random', 8, seed)).join(','));
    const ordered = sequences.filter((s) => s === '0,1,2,3,4,5,6,7' || s === '7,6,5,4,3,2,1,0');
    expect(ordered.length).toBeLessThan(sequences.length);
  });
});

describe('host memory: references', () => {
  it('getRef adds a reference to a frame in use', () => {
    const mem = memory('lifo');
    const mfn = allocFrame(mem, 1)!;
    getRef(mem, mfn);
    expect(mem.frames[mfn]!.refcount).toBe(2);
  });

  it('putRef that is not the last keeps the frame owned and off the free list', () => {
    const mem = memory('lifo');
    const mfn = allocFrame(mem, 1)!;
    getRef(mem, mfn);
    expect(putRef(mem, mfn)).toBeUndefined();
    expect(mem.frames[mfn]).toEqual({ mfn, owner: 1, refcount: 1 });
    expect(mem.freeList).not.toContain(mfn);
  });

  it('putRef of the last reference frees the frame and returns its previous owner', () => {
    const mem = memory('lifo');
    const mfn = allocFrame(mem, 7)!;
    expect(putRef(mem, mfn)).toBe(7);
    expect(mem.frames[mfn]).toEqual({ mfn, owner: null, refcount: 0 });
    expect(mem.freeList.at(-1)).toBe(mfn);
    expect(isFree(mem, mfn)).toBe(true);
  });

  it('putRef on a free or nonexistent frame does nothing', () => {
    const mem = memory('lifo');
    const before = cloneHostMemory(mem);
    expect(putRef(mem, 0)).toBeUndefined();
    expect(putRef(mem, 99)).toBeUndefined();
    expect(mem).toEqual(before);
  });

  it('framesOwnedBy lists exactly the frames of that owner', () => {
    const mem = memory('fifo');
    allocFrame(mem, 1);
    allocFrame(mem, 2);
    allocFrame(mem, 1);
    expect(framesOwnedBy(mem, 1)).toEqual([0, 2]);
    expect(framesOwnedBy(mem, 2)).toEqual([1]);
    expect(framesOwnedBy(mem, 3)).toEqual([]);
  });

  it('cloneHostMemory is independent of the original', () => {
    const mem = memory('lifo');
    const copy = cloneHostMemory(mem);
    allocFrame(copy, 1);
    expect(mem.freeList).toEqual([0, 1, 2, 3]);
    expect(mem.frames[3]!.owner).toBeNull();
    expect(mem.allocCount).toBe(0);
  });
});
