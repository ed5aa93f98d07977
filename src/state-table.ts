/**
 * The explorer's visited set: each distinct state's canonical key, stored as a 128-bit fingerprint
 * (MurmurHash3_x86_128 of the key's UTF-16 code units, in one pass over the string), with the
 * state's record, in an open-addressing table on typed arrays: 20 bytes a slot, between a quarter
 * and a half of the slots full, so 40 to 80 bytes a state whatever the key's length (keys run from
 * 300 bytes on XenGT to 7 KB on Xen passthrough: kept whole, they would take gigabytes at a million
 * states). No string or object per state, so nothing for the garbage collector to trace.
 *
 * Exactness, the argument: MurmurHash3's four lanes are mixed into each other after every 16
 * bytes and avalanche fully at the end (it passes SMHasher's avalanche, differential and
 * collision tests), so on keys that nobody crafted against it (canonical keys are the models' own
 * text) two different keys share all 128 bits with probability about 2⁻¹²⁸, and n states suffer a
 * merge with probability about n²/2¹²⁹: 1.5·10⁻²⁷ for a million states, 1.5·10⁻²³ for a hundred
 * million. (It is not a cryptographic hash: a key built to collide could; none is.) The 64-bit
 * fingerprint this replaced had 3·10⁻⁸ at a million. `node:crypto`'s MD5 would give the same bound
 * with a proof of sorts, but costs twice as much on XenGT's short keys (a native call per key).
 */
/** The 128-bit fingerprint of a key, as four 32-bit words. */
export type Fingerprint = readonly [number, number, number, number];

/** MurmurHash3_x86_128's multipliers (shared with `stable-fingerprint.ts`, which hashes words). */
export const C1 = 0x239b961b;
export const C2 = 0xab0e9789;
export const C3 = 0x38b34ae5;
export const C4 = 0xa1e38b93;

export const rotl = (value: number, bits: number): number => (value << bits) | (value >>> (32 - bits));

/** MurmurHash3's finalisation mix: every input bit reaches every output bit. */
export function fmix(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/**
 * MurmurHash3_x86_128 (Austin Appleby, public domain) of a key's UTF-16 code units, two to a
 * 32-bit word, in one pass over the string.
 */
export function fingerprint128(key: string): Fingerprint {
  let h1 = 0x9747b28c;
  let h2 = 0x9747b28c;
  let h3 = 0x9747b28c;
  let h4 = 0x9747b28c;
  const length = key.length;
  const blocks = length - (length % 8);
  let at = 0;
  for (; at < blocks; at += 8) {
    let k1 = key.charCodeAt(at) | (key.charCodeAt(at + 1) << 16);
    let k2 = key.charCodeAt(at + 2) | (key.charCodeAt(at + 3) << 16);
    let k3 = key.charCodeAt(at + 4) | (key.charCodeAt(at + 5) << 16);
    let k4 = key.charCodeAt(at + 6) | (key.charCodeAt(at + 7) << 16);
    k1 = Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    h1 ^= k1;
    h1 = rotl(h1, 19) + h2;
    h1 = (Math.imul(h1, 5) + 0x561ccd1b) | 0;
    k2 = Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    h2 ^= k2;
    h2 = rotl(h2, 17) + h3;
    h2 = (Math.imul(h2, 5) + 0x0bcaa747) | 0;
    k3 = Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    h3 ^= k3;
    h3 = rotl(h3, 15) + h4;
    h3 = (Math.imul(h3, 5) + 0x96cd1c35) | 0;
    k4 = Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    h4 ^= k4;
    h4 = rotl(h4, 13) + h1;
    h4 = (Math.imul(h4, 5) + 0x32ac3b17) | 0;
  }
  // The tail: up to 7 code units, zero-padded (the length, mixed in below, tells the padding apart).
  const unit = (index: number): number => (index < length ? key.charCodeAt(index) : 0);
  if (at < length) {
    const k1 = unit(at) | (unit(at + 1) << 16);
    h1 ^= Math.imul(rotl(Math.imul(k1, C1), 15), C2);
    if (at + 2 < length) {
      const k2 = unit(at + 2) | (unit(at + 3) << 16);
      h2 ^= Math.imul(rotl(Math.imul(k2, C2), 16), C3);
    }
    if (at + 4 < length) {
      const k3 = unit(at + 4) | (unit(at + 5) << 16);
      h3 ^= Math.imul(rotl(Math.imul(k3, C3), 17), C4);
    }
    if (at + 6 < length) {
      const k4 = unit(at + 6);
      h4 ^= Math.imul(rotl(Math.imul(k4, C4), 18), C1);
    }
  }
  return finish(h1, h2, h3, h4, length * 2);
}

/** MurmurHash3_x86_128's finalisation of the four lanes over `bytes` bytes of input. */
export function finish(lane1: number, lane2: number, lane3: number, lane4: number, bytes: number): Fingerprint {
  let h1 = lane1 ^ bytes;
  let h2 = lane2 ^ bytes;
  let h3 = lane3 ^ bytes;
  let h4 = lane4 ^ bytes;
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  h1 = fmix(h1);
  h2 = fmix(h2);
  h3 = fmix(h3);
  h4 = fmix(h4);
  h1 = (h1 + h2 + h3 + h4) | 0;
  h2 = (h2 + h1) | 0;
  h3 = (h3 + h1) | 0;
  h4 = (h4 + h1) | 0;
  return [h1 >>> 0, h2 >>> 0, h3 >>> 0, h4 >>> 0];
}

export function sameFingerprint(left: Fingerprint, right: Fingerprint): boolean {
  return left[0] === right[0] && left[1] === right[1] && left[2] === right[2] && left[3] === right[3];
}

const INITIAL_SLOTS = 1 << 12;

/** A set of fingerprints, each with a record number (a non-negative integer). */
export class StateTable {
  /** Four words of fingerprint per slot. */
  private words = new Uint32Array(INITIAL_SLOTS * 4);
  /** The record of each slot, plus one: 0 marks an empty slot. */
  private records = new Int32Array(INITIAL_SLOTS);
  private mask = INITIAL_SLOTS - 1;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The record stored with this fingerprint, or -1. */
  find(print: Fingerprint): number {
    const slot = this.slotOf(print);
    return (this.records[slot] ?? 0) - 1;
  }

  /** Stores a fingerprint not yet in the table with its record. */
  add(print: Fingerprint, record: number): void {
    if ((this.count + 1) * 2 > this.records.length) this.grow();
    const slot = this.slotOf(print);
    if (this.records[slot] !== 0) throw new Error('StateTable.add: fingerprint already present');
    this.place(slot, print[0], print[1], print[2], print[3], record + 1);
    this.count += 1;
  }

  /** The slot holding `print`, or the empty slot where it would go (linear probing). */
  private slotOf(print: Fingerprint): number {
    const [a, b, c, d] = print;
    const { words, records, mask } = this;
    for (let slot = a & mask; ; slot = (slot + 1) & mask) {
      if (records[slot] === 0) return slot;
      const at = slot * 4;
      if (words[at] === a && words[at + 1] === b && words[at + 2] === c && words[at + 3] === d) return slot;
    }
  }

  private place(slot: number, a: number, b: number, c: number, d: number, stored: number): void {
    const at = slot * 4;
    this.words[at] = a;
    this.words[at + 1] = b;
    this.words[at + 2] = c;
    this.words[at + 3] = d;
    this.records[slot] = stored;
  }

  private grow(): void {
    const { words, records } = this;
    const slots = records.length * 2;
    this.words = new Uint32Array(slots * 4);
    this.records = new Int32Array(slots);
    this.mask = slots - 1;
    for (let slot = 0; slot < records.length; slot++) {
      const stored = records[slot] ?? 0;
      if (stored === 0) continue;
      const at = slot * 4;
      const print: Fingerprint = [words[at] ?? 0, words[at + 1] ?? 0, words[at + 2] ?? 0, words[at + 3] ?? 0];
      this.place(this.slotOf(print), print[0], print[1], print[2], print[3], stored);
    }
  }
}
