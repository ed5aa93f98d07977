/**
 * Configuration of the GVT-g mediator: the vGPU's graphics-memory partition, the size of the
 * model's page tables, the two design choices the seeds debate, and deliberate bugs for the
 * meta-tests. Reference: docs/reference/gvt-kvmgt.md §4.2 (partitioning), §4.4–§4.5 (write protection), §4.8
 * (command scanning and shadow copies).
 */

/** Half-open range of GGTT indices `[start, end)`. */
export interface GgttRange {
  readonly start: number;
  readonly end: number;
}

export interface GvtLayout {
  /** Entries of the whole GGTT (host reservation, the vGPU's ranges, and nothing else). */
  readonly ggttEntries: number;
  /** The vGPU's aperture (low, CPU-mappable) range. */
  readonly aperture: GgttRange;
  /** The vGPU's hidden (high) range. */
  readonly hidden: GgttRange;
  /** Entries per page-table page (512 on hardware; a handful here so tables fill up). */
  readonly entriesPerTable: number;
}

export const gvtBugs = [
  /** Replacing a GGTT entry never releases the old entry's DMA reference (ggtt_invalidate_pte skipped). */
  'ggtt-replace-keeps-ref',
  /** Freeing a shadow page table leaves its page track registered and the page write-protected. */
  'spt-free-keeps-track',
  /** A DMA cache hit returns the cached address without taking a reference. */
  'cache-hit-skips-kref',
  /** vGPU destroy skips destroying the DMA cache: entries left over keep their pins. */
  'destroy-keeps-cache',
  /** The scanner audits only the first command of a batch buffer. */
  'scan-audits-first-only',
  /** A trapped 8-byte guest write replaces a shadow entry without releasing what the old one held. */
  'ppgtt-write-keeps-old-ref',
] as const;

export type GvtBug = (typeof gvtBugs)[number];

export interface GvtConfig {
  readonly layout: GvtLayout;
  /**
   * `true`: every guest page the mediator shadows as a page table is write-protected, so a guest
   * store to it traps and the shadow follows (`gvt/write-protect`). `false`: the tables are
   * shadowed when the PPGTT is created and never again (`gvt/no-write-protect`).
   */
  readonly writeProtect: boolean;
  /**
   * `shadow-copy`: the scanner copies a batch buffer into a host object, scans the copy and the GPU
   * executes the copy. `scan-in-place`: the scanner scans the guest's buffer and the GPU executes
   * the guest's buffer, which the guest may rewrite in between.
   */
  readonly cmdbuf: 'shadow-copy' | 'scan-in-place';
  readonly bugs: readonly GvtBug[];
}

export function hasGvtBug(config: GvtConfig, bug: GvtBug): boolean {
  return config.bugs.includes(bug);
}

export function inRange(range: GgttRange, index: number): boolean {
  return index >= range.start && index < range.end;
}

/** `vgpu_gmadr_is_valid`: the index lies in the vGPU's aperture or hidden range. */
export function ownsGgttIndex(layout: GvtLayout, index: number): boolean {
  return inRange(layout.aperture, index) || inRange(layout.hidden, index);
}

/** Every GGTT index of the vGPU's ranges, in order. */
export function ownGgttIndices(layout: GvtLayout): number[] {
  const indices: number[] = [];
  for (const range of [layout.aperture, layout.hidden]) {
    for (let index = range.start; index < range.end; index++) indices.push(index);
  }
  return indices;
}
