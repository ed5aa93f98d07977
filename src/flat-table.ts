/**
 * The flat explorer's visited set (`explore-flat.ts`): every distinct state's vector kept whole,
 * with its parent record and command position, in typed arrays.
 *
 * - The vectors lie in one growable `Int32Array` arena, record r at `r * width`: the frontier's
 *   states are read where they lie (no replay, unlike the object search, which keeps none).
 * - An open-addressing table (linear probing, a power of two of slots, at most half full) holds
 *   record + 1 per slot, keyed by a 32-bit MurmurHash3-style hash of the vector; a probe compares
 *   the stored hash first and then the vector itself, word by word. Exact: two different vectors
 *   are never merged (no fingerprint, no hash compaction), which the object search's 128-bit
 *   fingerprints give only with probability (`state-table.ts`).
 * - Memory per state: the vector (4 bytes a word), its hash, parent and position (10 bytes), and
 *   two to four table slots (8 to 16 bytes).
 *
 * `find` remembers the hash and slot of the vector it looked for, so that `add` right after it
 * (the vector was new) does not hash or probe again.
 */
import { fmix, rotl } from './state-table.js';

const INITIAL_RECORDS = 1 << 10;
const INITIAL_SLOTS = 1 << 11;

/** MurmurHash3_x86_32's mix of the words `vector[from .. from + width)`. */
export function hashVector(vector: Int32Array, from: number, width: number): number {
  let h = 0x9747b28c;
  for (let index = 0; index < width; index++) {
    const k = Math.imul(rotl(Math.imul(vector[from + index] ?? 0, 0xcc9e2d51), 15), 0x1b873593);
    h = (Math.imul(rotl(h ^ k, 13), 5) + 0xe6546b64) | 0;
  }
  return fmix(h ^ (width * 4));
}

export class FlatStateTable {
  readonly width: number;
  /** The vectors, record r at `r * width`. Replaced when it grows: read it again after `add`. */
  states: Int32Array;
  /** Each record's parent record (-1 for the initial state) and command position from it. */
  parents: Int32Array;
  positions: Uint16Array;
  private hashes: Int32Array;
  /** Record + 1 per slot; 0 marks an empty slot. */
  private slots = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;
  private pendingHash = 0;
  private pendingSlot = -1;

  constructor(width: number) {
    this.width = width;
    this.states = new Int32Array(INITIAL_RECORDS * width);
    this.parents = new Int32Array(INITIAL_RECORDS);
    this.positions = new Uint16Array(INITIAL_RECORDS);
    this.hashes = new Int32Array(INITIAL_RECORDS);
  }

  get size(): number {
    return this.count;
  }

  /**
   * The record whose vector equals `vector[from .. from + width)`, or -1 (then `add` may store
   * it). `hash`: the vector's `hashVector`, when the caller has it already.
   */
  find(vector: Int32Array, from = 0, hash = hashVector(vector, from, this.width)): number {
    const { width, states, hashes, slots, mask } = this;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = slots[slot] ?? 0;
      if (stored === 0) {
        this.pendingHash = hash;
        this.pendingSlot = slot;
        return -1;
      }
      const record = stored - 1;
      if (hashes[record] !== hash) continue;
      let at = record * width;
      let index = 0;
      while (index < width && states[at] === vector[from + index]) {
        at += 1;
        index += 1;
      }
      if (index === width) return record;
    }
  }

  /**
   * Stores `vector[from .. from + width)`, which the `find` just before did not find, as the next
   * record, reached from `parent` by the command at `position`; returns the record.
   */
  add(vector: Int32Array, parent: number, position: number, from = 0): number {
    if (this.pendingSlot < 0) throw new Error('FlatStateTable.add: not after a find that missed');
    const record = this.count;
    if (record === this.parents.length) this.growRecords();
    const { width, states } = this;
    const at = record * width;
    for (let index = 0; index < width; index++) states[at + index] = vector[from + index] ?? 0;
    this.parents[record] = parent;
    this.positions[record] = position;
    this.hashes[record] = this.pendingHash;
    this.slots[this.pendingSlot] = record + 1;
    this.pendingSlot = -1;
    this.count = record + 1;
    if (this.count * 2 > this.slots.length) this.growSlots();
    return record;
  }

  private growRecords(): void {
    const records = this.parents.length * 2;
    const states = new Int32Array(records * this.width);
    states.set(this.states);
    this.states = states;
    const parents = new Int32Array(records);
    parents.set(this.parents);
    this.parents = parents;
    const positions = new Uint16Array(records);
    positions.set(this.positions);
    this.positions = positions;
    const hashes = new Int32Array(records);
    hashes.set(this.hashes);
    this.hashes = hashes;
  }

  /** Doubles the slots and places every record again by its stored hash (no vector is hashed). */
  private growSlots(): void {
    const size = this.slots.length * 2;
    const slots = new Int32Array(size);
    const mask = size - 1;
    const hashes = this.hashes;
    for (let record = 0; record < this.count; record++) {
      let slot = (hashes[record] ?? 0) & mask;
      while (slots[slot] !== 0) slot = (slot + 1) & mask;
      slots[slot] = record + 1;
    }
    this.slots = slots;
    this.mask = mask;
  }
}
