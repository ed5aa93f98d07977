/**
 * Copy-on-write for the parts of a state a step rarely writes (issue 23). A copy of the state takes
 * such a part as it is and marks it shared (`share`); a step that writes it takes its own copy
 * first (`unshared`) and stores that copy in its draft. The mark is for good: a state handed out is
 * never edited in place, and a draft that was copied (a snapshot taken before an operation) must
 * not write into what its snapshot holds either.
 *
 * Why: many records of the models are keyed by page numbers or source-ids (iova page 511, source
 * id 256), which V8 stores as array elements up to that index; copying one allocates and scans a
 * backing store of hundreds of slots, most of a step's cost when the copy is whole. Most steps
 * write none of them (a DMA, a flush, a phase that changes no mapping).
 *
 * A part nothing copied (a state being built, a model's own deep copies) is written in place.
 * Each part's type makes it read-only outside the function that unshares it, so that the compiler
 * finds every write.
 */
const shared = new WeakSet<object>();

/** `part` for a copy of the state that holds it: the same object, from now on shared by both. */
export function share<T extends object>(part: T): T {
  shared.add(part);
  return part;
}

/** `part` itself when no other state holds it, else `copy(part)` (which the caller stores in its draft). */
export function unshared<T extends object, W extends object>(part: T, copy: (part: T) => W): W {
  return shared.has(part) ? copy(part) : (part as unknown as W);
}
