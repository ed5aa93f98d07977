/**
 * Plain-data state of the XenGT stack: the Xen world plus one vGPU serving a guest domain.
 */
import type { XenState } from '../xen/types.js';

/** What the GPU sees for one GTT entry. */
export type ShadowEntry =
  /** Not present, or the translation failed: the vGPU's scratch page (owned by the host, harmless). */
  | { readonly kind: 'scratch' }
  /** Lookup backend: a raw machine frame number; the GPU bypasses the IOMMU. */
  | { readonly kind: 'mfn'; readonly mfn: number }
  /** Map backend: a device frame number in the backend's (dom0's) IOMMU space, i.e. a dom0 gfn. */
  | { readonly kind: 'dfn'; readonly dfn: number };

/** The guest's own view of a GTT entry. */
export interface GuestGttEntry {
  readonly present: boolean;
  readonly gfn: number;
}

export interface Vgpu {
  /** The guest domain this vGPU serves. */
  readonly domid: number;
  gtt: GuestGttEntry[];
  shadow: ShadowEntry[];
}

export interface XenGtState {
  xen: XenState;
  vgpu: Vgpu | null;
}
