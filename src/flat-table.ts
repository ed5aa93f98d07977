/**
 * The flat explorer's visited set (`explore-flat.ts`): every distinct state's vector kept whole,
 * with its parent record and command position, in typed arrays.
 *
 * - The vectors lie in one growable `Int32Array` arena, record r at `r * words`: the frontier's
 *   states are unpacked from there (`vector`), with no replay (the object search keeps none).
 *   An encoder whose words all fit 16 bits says so (`FlatScope.wordBits`) and its vectors are
 *   stored two words to an integer: half the memory, and half the words to hash and compare, in
 *   a search whose time is mostly the lookup's cache misses (the anchor's one-thread search
 *   took 1.10–1.28 times less CPU in three A/B runs). A word that does not fit is refused
 *   (`RangeError`), never cut.
 * - An open-addressing table (linear probing, a power of two of slots, at most half full) holds
 *   record + 1 per slot, keyed by a 32-bit MurmurHash3-style hash of the vector; a probe compares
 *   the stored hash first and then the vector itself, word by word. Exact: two different vectors
 *   are never merged (no fingerprint, no hash compaction), which the object search's 128-bit
 *   fingerprints give only with probability (`state-table.ts`).
 * - Memory per state: the vector (4 bytes a word, or 2 packed), its hash, parent and position
 *   (10 bytes), and two to four table slots (8 to 16 bytes).
 *
 * `find` remembers the vector it looked for (packed), its hash and its slot, so that `add` right
 * after it (the vector was new) stores it with no second pass.
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
  /** Bits a word is stored in: 32, or 16 (two words to an integer). */
  readonly wordBits: 16 | 32;
  /** Integers per stored vector. */
  private readonly words: number;
  /** The stored vectors, record r at `r * words`. */
  private arena: Int32Array;
  /** Each record's parent record (-1 for the initial state) and command position from it. */
  parents: Int32Array;
  positions: Uint16Array;
  private hashes: Int32Array;
  /** Record + 1 per slot; 0 marks an empty slot. */
  private slots = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;
  /** The vector `find` looked for, as stored. */
  private readonly packed: Int32Array;
  private pendingHash = 0;
  private pendingSlot = -1;

  /** `wordBits`: the encoder's `FlatScope.wordBits` (absent: 32). */
  constructor(width: number, wordBits: 16 | 32 = 32) {
    this.width = width;
    this.wordBits = wordBits;
    this.words = wordBits === 16 ? (width + 1) >> 1 : width;
    this.arena = new Int32Array(INITIAL_RECORDS * this.words);
    this.parents = new Int32Array(INITIAL_RECORDS);
    this.positions = new Uint16Array(INITIAL_RECORDS);
    this.hashes = new Int32Array(INITIAL_RECORDS);
    this.packed = new Int32Array(this.words);
  }

  get size(): number {
    return this.count;
  }

  /** `vector[from .. from + width)` as stored, into `packed`. */
  private pack(vector: Int32Array, from: number): void {
    const { width, packed } = this;
    if (this.wordBits === 32) {
      for (let index = 0; index < width; index++) packed[index] = vector[from + index] ?? 0;
      return;
    }
    // Word 2i in the low half of integer i, word 2i + 1 in its high half; any bit past 16 is kept
    // aside (`over`), so that one test after the loop finds a word that does not fit.
    let over = 0;
    const pairs = width >> 1;
    for (let index = 0; index < pairs; index++) {
      const low = vector[from + 2 * index] ?? 0;
      const high = vector[from + 2 * index + 1] ?? 0;
      over |= (low ^ ((low << 16) >> 16)) | (high ^ ((high << 16) >> 16));
      packed[index] = (low & 0xffff) | (high << 16);
    }
    if ((width & 1) === 1) {
      const low = vector[from + width - 1] ?? 0;
      over |= low ^ ((low << 16) >> 16);
      packed[pairs] = low & 0xffff;
    }
    if (over !== 0) this.refuse(vector, from);
  }

  /** Throws for the first word of the vector that does not fit 16 bits. */
  private refuse(vector: Int32Array, from: number): never {
    for (let index = 0; index < this.width; index++) {
      const word = vector[from + index] ?? 0;
      if ((word << 16) >> 16 !== word) {
        throw new RangeError(`flat vector word ${index} is ${word}: not within the 16 bits the encoder declares`);
      }
    }
    throw new RangeError('flat vector: a word not within 16 bits');
  }

  /** Record `record`'s vector, written into `into` at 0; returns `into`. */
  vector(record: number, into: Int32Array): Int32Array {
    const { width, words, arena } = this;
    const at = record * words;
    if (this.wordBits === 32) {
      for (let index = 0; index < width; index++) into[index] = arena[at + index] ?? 0;
      return into;
    }
    for (let index = 0; index < words; index++) {
      const pair = arena[at + index] ?? 0;
      into[2 * index] = (pair << 16) >> 16;
      if (2 * index + 1 < width) into[2 * index + 1] = pair >> 16;
    }
    return into;
  }

  /**
   * The record whose vector equals `vector[from .. from + width)`, or -1 (then `add` may store
   * it).
   */
  find(vector: Int32Array, from = 0): number {
    return this.findPrepared(this.prepare(vector, from));
  }

  /** Integers a vector is stored in (`prepared`'s length). */
  get storedWords(): number {
    return this.words;
  }

  /**
   * Makes `vector[from .. from + width)` the vector to look for (`findPrepared`), as stored
   * (`prepared`); returns its hash. A parallel search sends it so to another thread.
   */
  prepare(vector: Int32Array, from = 0): number {
    this.pack(vector, from);
    return hashVector(this.packed, 0, this.words);
  }

  /** The vector to look for, as stored: `storedWords` integers, from `prepare` or `prepareStored`. */
  get prepared(): Int32Array {
    return this.packed;
  }

  /** Makes the stored form at `words[from .. from + storedWords)` the vector to look for. */
  prepareStored(words: Int32Array, from: number): void {
    const packed = this.packed;
    for (let index = 0; index < packed.length; index++) packed[index] = words[from + index] ?? 0;
  }

  /** `find` of the prepared vector, whose hash is `hash`. */
  findPrepared(hash: number): number {
    const { words, arena, hashes, slots, mask, packed } = this;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const stored = slots[slot] ?? 0;
      if (stored === 0) {
        this.pendingHash = hash;
        this.pendingSlot = slot;
        return -1;
      }
      const record = stored - 1;
      if (hashes[record] !== hash) continue;
      let at = record * words;
      let index = 0;
      while (index < words && arena[at] === packed[index]) {
        at += 1;
        index += 1;
      }
      if (index === words) return record;
    }
  }

  /**
   * Stores the vector the `find` just before did not find, as the next record, reached from
   * `parent` by the command at `position`; returns the record.
   */
  add(parent: number, position: number): number {
    if (this.pendingSlot < 0) throw new Error('FlatStateTable.add: not after a find that missed');
    // The vector `find` packed (`packed`): the one it just did not find.
    const record = this.count;
    if (record === this.parents.length) this.growRecords();
    this.arena.set(this.packed, record * this.words);
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
    const arena = new Int32Array(records * this.words);
    arena.set(this.arena);
    this.arena = arena;
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
