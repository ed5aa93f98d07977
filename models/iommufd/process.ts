/**
 * The VMM process's memory as the iommufd model sees it: mmap and munmap of anonymous memory, the
 * same `VmmProcess` as the type1 model (models/vfio/process-memory.ts), so a stack can compose the
 * two over one host memory. A present page holds one frame reference; a pin holds another, so a
 * pinned frame outlives munmap.
 * Reference: docs/reference/vfio-type1.md (the process), docs/reference/iommufd.md §1.
 *
 * Left out (as in the type1 model): madvise, file-backed and shared memory, fork, process exit.
 */
import { createHostMemory, putRef } from '../memory/frames.js';
import type { HostMemoryConfig } from '../memory/frames.js';
import { refuse } from './refusal.js';
import type { IommufdState } from './types.js';
import { PAGE_LIMIT, isPageNumber } from '../vfio/u64.js';
import { writablePages } from '../vfio/process-pages.js';

export interface IommufdWorldSpec {
  readonly memory: HostMemoryConfig;
  /** Frame owner id of the process's memory (the VM). */
  readonly owner: number;
  readonly memlockLimitPages: number;
  readonly capIpcLock: boolean;
  /** The context is /dev/vfio/vfio (the compatibility container): account mode MM. */
  readonly openedAsVfio: boolean;
  /** Regions mapped at start (anonymous, not yet faulted in). */
  readonly regions: readonly { readonly vaddrPage: number; readonly npages: number; readonly writable: boolean }[];
  /** RLIMIT_AS in pages: mmap refuses to grow the address space past it (ENOMEM); default: no limit. */
  readonly addressSpaceLimitPages?: number;
}

/** iommufd_fops_open: an empty context over a fresh process and host memory. */
export function createIommufdState(spec: IommufdWorldSpec): IommufdState {
  const state: IommufdState = {
    memory: createHostMemory(spec.memory),
    process: {
      owner: spec.owner,
      pages: {},
      lockedVmPages: 0,
      memlockLimitPages: spec.memlockLimitPages,
      capIpcLock: spec.capIpcLock,
      addressSpaceLimitPages: spec.addressSpaceLimitPages ?? PAGE_LIMIT,
    },
    accountMode: spec.openedAsVfio ? 'mm' : 'user',
    openedAsVfio: spec.openedAsVfio,
    userLockedVmPages: 0,
    pinnedVmPages: 0,
    objects: {},
    pages: {},
    nextPagesId: 1,
    vfioIoasId: null,
    groups: {},
    boundDevices: {},
  };
  for (const region of spec.regions) mmap(state, region.vaddrPage, region.npages, region.writable);
  return state;
}

function checkRange(vaddrPage: unknown, npages: unknown): asserts vaddrPage is number {
  if (!isPageNumber(vaddrPage) || !isPageNumber(npages) || npages === 0 || vaddrPage + npages > PAGE_LIMIT)
    refuse('EINVAL');
}

/** The process's mapped pages in `[vaddrPage, vaddrPage + npages)`: the range's holes cost nothing. */
function mappedPagesIn(state: IommufdState, vaddrPage: number, npages: number): number[] {
  return Object.keys(state.process.pages)
    .map(Number)
    .filter((page) => page >= vaddrPage && page < vaddrPage + npages);
}

/** mmap(MAP_FIXED_NOREPLACE): -EEXIST over a mapped page; -ENOMEM past RLIMIT_AS (as type1's model). */
export function mmap(state: IommufdState, vaddrPage: unknown, npages: unknown, writable: unknown): void {
  checkRange(vaddrPage, npages);
  if (typeof writable !== 'boolean') refuse('EINVAL');
  const count = npages as number;
  if (mappedPagesIn(state, vaddrPage, count).length > 0) refuse('EEXIST');
  if (Object.keys(state.process.pages).length + count > state.process.addressSpaceLimitPages) refuse('ENOMEM');
  for (let page = vaddrPage; page < vaddrPage + count; page++)
    writablePages(state.process)[page] = { writable, mfn: null };
}

/** munmap: the pages' own references go; pinned frames stay alive. */
export function munmap(state: IommufdState, vaddrPage: unknown, npages: unknown): void {
  checkRange(vaddrPage, npages);
  for (const page of mappedPagesIn(state, vaddrPage, npages as number)) {
    const present = state.process.pages[page];
    if (present === undefined) continue;
    delete writablePages(state.process)[page];
    if (present.mfn !== null) putRef(state.memory, present.mfn);
  }
}
