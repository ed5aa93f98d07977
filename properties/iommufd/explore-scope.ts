/**
 * The small scope of the passthrough stack over iommufd for `dmaprop explore` (exhaustive
 * breadth-first search), in the world of `world.ts`: IOAS 1, device 0 bound and attached (its auto
 * hwpt 3), access 4 attached, device 1 unbound, another VM holding a frame.
 *
 * Covered, from every state, in this order: IOMMU_IOAS_MAP (read-write, FIXED_IOVA) of one page at
 * IOVA page 0 from RAM vaddr page 16 and at page 1 from page 17, of two pages at 511 (across VT-d's
 * leaf-table boundary), of three pages from page 16 at an IOVA iommufd picks (no FIXED_IOVA: three
 * of them pass RLIMIT_MEMLOCK's 6 pages), and of two pages from RAM's last page at IOVA page 2
 * (the second page has no VMA: EFAULT after the first is pinned, so the unwind runs);
 * IOMMU_IOAS_UNMAP of page 0 and of everything; device 0's DMA read at IOVA page 0; the access's
 * driver pinning one page at 0 and two at 0 (a pin over two areas when pages 0 and 1 are mapped
 * apart), unpinning its oldest pin, its engine reading page 0 through its pins, and the access
 * detached and destroyed; device 1 bound, device 0 unbound, device 1 attached to IOAS 1; the VMM
 * munmapping RAM page 16 or 17, and exiting; another VM taking a free frame; in the lazy modes, the
 * flush-queue timer.
 *
 * The universe is the least that reaches every declared break of the stack's designs and of its
 * mutants (`mutants.ts`) at the length `check` shrinks to (`test/explore/meta-cases.ts`): one IOAS
 * (a second reaches nothing a first does not), the existing auto hwpt and the one device 1's
 * attach creates (after device 0's unbind freed the first: `iommufd/domain-not-filled`), the one
 * access, IOVA pages 0-1 (two adjacent areas for a straddling pin: page 1 is mapped, never read,
 * unmapped alone nor pinned alone) and 511-512 (the table boundary), RAM pages 16-17 (a frame
 * freed under a stale translation or a pin needs its vaddr munmapped; 17 is what the map at 511
 * puts at 512). The commands are those of `check`'s shrunk traces, with page 0 and RAM page 16
 * standing for page 1 and RAM page 17 wherever they do; and the unpin, the sound driver's own way
 * out (without it every pin ends by an unmap's callback or the access's end).
 *
 * Left out: read-only maps and pins, DMA writes (where an access lands is what matters),
 * IOMMU_IOAS_COPY, IOMMU_HWPT_ALLOC, a second IOAS, IOMMU_OPTION, the VFIO compatibility ioctls
 * (the differential design's), mmap, another VM giving frames back, malformed arguments (the
 * model's unit tests and the random search cover them).
 *
 * No symmetry reduction: the key is the whole state. iommufd's own model treats frames as
 * identities (it pins page by page and unmaps an area's whole IOVA range with one iommu_unmap,
 * `models/iommufd-pt/step.ts` forwarding with `iova-range`), but its maps reach VT-d through the
 * type1 stack's forwarding (`models/passthrough/forward.ts`, `batch_to_domain`), which coalesces
 * the pages of one map whose frames are physically consecutive into one `iommu_map` call
 * (`extends_`: `mfn === run.mfn + run.pages`), as Linux's pfn batches do. How many calls a map
 * makes is observable: the VT-d model undoes a failed call whole (`mapChunks`), and picks a
 * superpage by frame alignment (`largepageLevel`). Neither outcome is reached in this scope (no
 * table-page exhaustion, no 512-page map), so a renaming would likely be sound here, but it was not
 * proved: as for VFIO over VT-d (`../passthrough/explore-scope.ts`), the key keeps frame numbers.
 */
import {
  IOMMU_IOAS_MAP_FIXED_IOVA,
  IOMMU_IOAS_MAP_READABLE,
  IOMMU_IOAS_MAP_WRITEABLE,
} from '../../models/iommufd/ioas.js';
import type { IommufdPtCommand, IommufdPtState } from '../../models/iommufd-pt/types.js';
import type { ExploreScope } from '../../src/design.js';
import { stableJson } from '../../src/explore.js';
import { U64_MAX } from './generators.js';
import { iommufdPtStateFingerprint } from './state-fingerprint.js';
import { ACCESS_ID, IOAS_ID, RAM_PAGES, RAM_VADDR_PAGE } from './world.js';

const PAGE = 4096n;
const bytes = (page: number): string => (BigInt(page) * PAGE).toString();
const READ_WRITE = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE;
const FIXED = IOMMU_IOAS_MAP_FIXED_IOVA | READ_WRITE;

/** IOVA page `iovaPage` ← RAM vaddr page `vaddrPage`, `npages` pages (`fixed`: at that IOVA). */
function map(vaddrPage: number, iovaPage: number, npages: number, fixed = true): IommufdPtCommand {
  return {
    kind: 'ioasMap',
    ioasId: IOAS_ID,
    flags: fixed ? FIXED : READ_WRITE,
    userVa: bytes(vaddrPage),
    iova: bytes(iovaPage),
    length: bytes(npages),
  };
}

function pin(iovaPage: number, npages: number): IommufdPtCommand {
  return { kind: 'accessPinPages', accessId: ACCESS_ID, iova: bytes(iovaPage), length: bytes(npages), write: false };
}

const pages = [0, 1];

function templatesFor(withFlushQueue: boolean): IommufdPtCommand[] {
  return [
    ...pages.map((iovaPage) => map(RAM_VADDR_PAGE + iovaPage, iovaPage, 1)),
    map(RAM_VADDR_PAGE, 511, 2),
    map(RAM_VADDR_PAGE, 0, 3, false),
    map(RAM_VADDR_PAGE + RAM_PAGES - 1, 2, 2),
    { kind: 'ioasUnmap', ioasId: IOAS_ID, iova: '0', length: bytes(1) },
    { kind: 'ioasUnmap', ioasId: IOAS_ID, iova: '0', length: U64_MAX },
    { kind: 'deviceDma', deviceIndex: 0, iovaPage: 0, write: false },
    pin(0, 1),
    pin(0, 2),
    { kind: 'accessUnpinHeld', accessId: ACCESS_ID, pin: 0 },
    { kind: 'accessDma', accessId: ACCESS_ID, iovaPage: 0, write: false },
    { kind: 'accessDetach', accessId: ACCESS_ID },
    { kind: 'accessDestroy', accessId: ACCESS_ID },
    { kind: 'deviceBind', deviceIndex: 1, flags: 0 },
    { kind: 'deviceUnbind', deviceIndex: 0 },
    { kind: 'deviceAttach', deviceIndex: 1, ptId: IOAS_ID, flags: 0 },
    // RAM page 17 is what the two-page map at 511 puts at 512, in the next leaf table.
    ...pages.map((offset): IommufdPtCommand => ({ kind: 'munmap', vaddrPage: RAM_VADDR_PAGE + offset, npages: 1 })),
    { kind: 'vmmExit' },
    { kind: 'allocateToOther' },
    ...(withFlushQueue ? [{ kind: 'drainFlushQueue' } as const] : []),
  ];
}

export function iommufdPtExploreScope(withFlushQueue: boolean): ExploreScope<IommufdPtState, IommufdPtCommand> {
  const templates = templatesFor(withFlushQueue);
  return {
    description: `iommufd over VT-d: one IOAS, device 0's auto domain, one access; maps of one page at IOVA pages 0-1, two across the leaf-table boundary (511-512), three at an IOVA iommufd picks, two off the end of RAM; unmaps of page 0 and all; device 0's read, the access's pins (one page, two), unpin and read at page 0; the access detached and destroyed; device 1 bound and attached after device 0's unbind; munmaps of RAM pages 16-17, the VMM's exit, another VM's allocation${withFlushQueue ? ', the flush-queue timer' : ''} (${templates.length} commands per state; no symmetry reduction: VT-d maps physically contiguous runs)`,
    templates: () => templates,
    key: (state) => stableJson(state),
    // `stableFingerprint(state)`'s partition, written by hand (`state-fingerprint.ts`, issue 23).
    fingerprint: (state) => iommufdPtStateFingerprint(state),
  };
}
