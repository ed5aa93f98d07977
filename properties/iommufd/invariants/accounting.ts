/**
 * Accounting invariants of the passthrough stack over iommufd (docs/reference/iommufd.md §7):
 * frame references, pinned_vm / locked_vm, iopt_pages users and pins (area/pages accounting),
 * access pins (released on unmap), object users, and the VT-d page tables against the IOAS areas.
 */
import type { IommufdConfig } from '../../../models/iommufd/index.js';
import { frameHolders } from '../../../models/iommufd/index.js';
import type { IoasObject, IommufdState } from '../../../models/iommufd/types.js';
import { passthroughView } from '../../../models/iommufd-pt/host-view.js';
import { iommuDisagreements } from '../../../models/passthrough/views.js';
import type { Violation } from '../../../src/design.js';
import type { IommufdPtInvariant } from './effect.js';

export const frameRefcountMatchesHolders: IommufdPtInvariant = {
  name: 'frame-refcount-matches-holders',
  reads: (state) => [state.iommufd, state.held, state.otherFrames],
  class: 'accounting',
  description:
    "every frame's reference count equals its holders: the process's page tables, iopt_pages pins, the other VM's allocations, flush holds",
  check({ after }) {
    const holders = frameHolders(after.iommufd);
    for (const mfn of after.otherFrames) holders.set(mfn, (holders.get(mfn) ?? 0) + 1);
    for (const hold of after.held) holders.set(hold.mfn, (holders.get(hold.mfn) ?? 0) + 1);
    for (const frame of after.iommufd.memory.frames) {
      const expected = holders.get(frame.mfn) ?? 0;
      if (frame.refcount === expected) continue;
      return {
        message: `mfn ${frame.mfn} has refcount ${frame.refcount} but ${expected} holders`,
        actual: `refcount ${frame.refcount}`,
        expected: `refcount ${expected}`,
      };
    }
    return null;
  },
};

function pinnedCount(state: IommufdState): number {
  return Object.values(state.pages).reduce((sum, pages) => sum + Object.keys(pages.pinned).length, 0);
}

/**
 * pinned_vm counts every pinned page; without CAP_IPC_LOCK each is charged once to the context's
 * account (user->locked_vm on /dev/iommu, mm->locked_vm in MM mode), iopt_pages_update_pinned.
 */
export const lockedVmMatchesPins: IommufdPtInvariant = {
  name: 'locked-vm-matches-pins',
  reads: (state) => [state.iommufd],
  class: 'accounting',
  description:
    'pinned_vm equals the pinned pages, and (without CAP_IPC_LOCK) so does the locked_vm of the context’s account mode',
  check({ after }) {
    const state = after.iommufd;
    const pinned = pinnedCount(state);
    const charged = state.process.capIpcLock ? 0 : pinned;
    const rows: [string, number, number][] = [
      ['pinned_vm', state.pinnedVmPages, pinned],
      ['user->locked_vm', state.userLockedVmPages, state.accountMode === 'user' ? charged : 0],
      ['mm->locked_vm', state.process.lockedVmPages, state.accountMode === 'mm' ? charged : 0],
    ];
    for (const [name, actual, expected] of rows) {
      if (actual === expected) continue;
      return {
        message: `${name} is ${actual} pages with ${pinned} pages pinned`,
        actual: `${name} ${actual}`,
        expected: `${name} ${expected}`,
      };
    }
    return null;
  },
};

export const lockedVmWithinLimit: IommufdPtInvariant = {
  name: 'locked-vm-within-limit',
  reads: (state) => [state.iommufd],
  class: 'accounting',
  description: 'without CAP_IPC_LOCK, locked_vm never exceeds RLIMIT_MEMLOCK',
  check({ after }) {
    const { process, userLockedVmPages } = after.iommufd;
    if (process.capIpcLock) return null;
    const locked = Math.max(userLockedVmPages, process.lockedVmPages);
    if (locked <= process.memlockLimitPages) return null;
    return {
      message: `locked_vm is ${locked} pages, over RLIMIT_MEMLOCK ${process.memlockLimitPages}`,
      actual: `${locked} pages`,
      expected: `at most ${process.memlockLimitPages} pages`,
    };
  },
};

function ioasList(state: IommufdState): IoasObject[] {
  return Object.values(state.objects).filter((object): object is IoasObject => object.type === 'ioas');
}

/**
 * Area/pages accounting (§3.3): an iopt_pages' users are the areas over it; its access users per
 * page index are the access pins over that index; a page index is pinned exactly while a domain
 * stores it (an area over it in an IOAS with a domain) or an access pins it.
 */
export const pagesMatchAreasAndAccesses: IommufdPtInvariant = {
  name: 'pages-match-areas-and-accesses',
  reads: (state) => [state.iommufd],
  class: 'accounting',
  description:
    "each iopt_pages' users are the areas over it, its access users the access pins over each page, and a page is pinned exactly while a domain or an access needs it",
  check({ after }) {
    const state = after.iommufd;
    const users = new Map<number, number>();
    const needed = new Map<number, Set<number>>();
    const accessUsers = new Map<number, Map<number, number>>();
    const need = (pagesId: number, index: number): void => {
      const set = needed.get(pagesId) ?? new Set<number>();
      set.add(index);
      needed.set(pagesId, set);
    };
    for (const ioas of ioasList(state)) {
      for (const area of ioas.areas) {
        users.set(area.pagesId, (users.get(area.pagesId) ?? 0) + 1);
        if (ioas.domainHwptIds.length > 0) for (let i = 0; i < area.npages; i++) need(area.pagesId, area.pageIndex + i);
      }
    }
    for (const object of Object.values(state.objects)) {
      if (object.type !== 'access' || object.ioasId === null) continue;
      const ioas = state.objects[object.ioasId];
      if (ioas?.type !== 'ioas') continue;
      for (const pin of object.pins) {
        for (let page = pin.iovaPage; page < pin.iovaPage + pin.npages; page++) {
          const area = ioas.areas.find((a) => a.iovaPage <= page && page < a.iovaPage + a.npages);
          if (area === undefined) continue; // access-pins-within-areas reports it
          const index = area.pageIndex + (page - area.iovaPage);
          const counts = accessUsers.get(area.pagesId) ?? new Map<number, number>();
          counts.set(index, (counts.get(index) ?? 0) + 1);
          accessUsers.set(area.pagesId, counts);
          need(area.pagesId, index);
        }
      }
    }
    for (const pages of Object.values(state.pages)) {
      const problem = ((): Violation | null => {
        const expectedUsers = users.get(pages.id) ?? 0;
        if (pages.users !== expectedUsers)
          return {
            message: `iopt_pages ${pages.id} has ${pages.users} users but ${expectedUsers} areas over it`,
            actual: `users ${pages.users}`,
            expected: `users ${expectedUsers}`,
          };
        const counts = accessUsers.get(pages.id) ?? new Map<number, number>();
        const indexes = new Set([...Object.keys(pages.accessUsers).map(Number), ...counts.keys()]);
        for (const index of indexes) {
          const actual = pages.accessUsers[index] ?? 0;
          const expected = counts.get(index) ?? 0;
          if (actual !== expected)
            return {
              message: `iopt_pages ${pages.id} page ${index} has ${actual} access users but ${expected} access pins over it`,
              actual: `${actual} access users`,
              expected: `${expected} access users`,
            };
        }
        const want = needed.get(pages.id) ?? new Set<number>();
        const pinned = new Set(Object.keys(pages.pinned).map(Number));
        for (const index of new Set([...want, ...pinned])) {
          if (want.has(index) === pinned.has(index)) continue;
          return {
            message: `iopt_pages ${pages.id} page ${index} is ${pinned.has(index) ? 'pinned with no domain or access needing it' : 'needed by a domain or an access but not pinned'}`,
            actual: pinned.has(index) ? 'pinned' : 'not pinned',
            expected: want.has(index) ? 'pinned' : 'not pinned',
          };
        }
        return null;
      })();
      if (problem !== null) return problem;
    }
    return null;
  },
};

/**
 * Access pins are released on unmap: every pin an access's driver holds lies in areas of the
 * access's IOAS, each frame it returned is still the pinned frame of its page, and each area's
 * num_accesses counts the pins over it. An access that is detached holds no pin.
 */
export const accessPinsWithinAreas: IommufdPtInvariant = {
  name: 'access-pins-within-areas',
  reads: (state) => [state.iommufd],
  class: 'accounting',
  description:
    "every access pin lies in its IOAS's areas with its frames still pinned there, and each area's num_accesses counts the pins over it",
  check({ after }) {
    const state = after.iommufd;
    const pinsOver = new Map<object, number>();
    for (const object of Object.values(state.objects)) {
      if (object.type !== 'access') continue;
      const ioas = object.ioasId === null ? undefined : state.objects[object.ioasId];
      for (const pin of object.pins) {
        const where = `access ${object.id}'s pin of iova pages ${pin.iovaPage}..${pin.iovaPage + pin.npages - 1}`;
        if (ioas?.type !== 'ioas')
          return { message: `${where} outlives its IOAS attachment`, actual: 'pin held', expected: 'no pin' };
        const seen = new Set<object>();
        for (let page = pin.iovaPage; page < pin.iovaPage + pin.npages; page++) {
          const area = ioas.areas.find((a) => a.iovaPage <= page && page < a.iovaPage + a.npages);
          if (area === undefined)
            return {
              message: `${where} outlives the area of iova page ${page}`,
              actual: `iova page ${page} unmapped`,
              expected: 'the pin released by the unmap callback',
            };
          seen.add(area);
          const mfn = state.pages[area.pagesId]?.pinned[area.pageIndex + (page - area.iovaPage)];
          const returned = pin.mfns[page - pin.iovaPage];
          if (mfn !== returned)
            return {
              message: `${where}: iova page ${page} gave mfn ${String(returned)}, now pinned as ${String(mfn)}`,
              actual: `mfn ${String(mfn)}`,
              expected: `mfn ${String(returned)}`,
            };
        }
        for (const area of seen) pinsOver.set(area, (pinsOver.get(area) ?? 0) + 1);
      }
    }
    for (const ioas of ioasList(state)) {
      for (const area of ioas.areas) {
        const expected = pinsOver.get(area) ?? 0;
        if (area.numAccesses !== expected)
          return {
            message: `IOAS ${ioas.id} area at iova page ${area.iovaPage} has num_accesses ${area.numAccesses} with ${expected} pins over it`,
            actual: `num_accesses ${area.numAccesses}`,
            expected: `num_accesses ${expected}`,
          };
      }
    }
    return null;
  },
};

/** §2: an object's users are the xarray's, plus one per holder. */
function expectedUsers(state: IommufdState): Map<number, number> {
  const users = new Map<number, number>();
  const add = (id: number | null, count = 1): void => {
    if (id !== null) users.set(id, (users.get(id) ?? 0) + count);
  };
  const attached = new Set<number>();
  for (const group of Object.values(state.groups)) {
    for (const deviceId of group.deviceIds) {
      attached.add(deviceId);
      add(group.hwptId);
    }
  }
  for (const object of Object.values(state.objects)) {
    add(object.id);
    switch (object.type) {
      case 'hwpt_paging':
        add(object.ioasId);
        break;
      case 'hwpt_nested':
        add(object.parentId);
        break;
      case 'device':
        add(object.id, attached.has(object.id) ? 2 : 1);
        break;
      case 'access':
        add(object.id);
        add(object.ioasId);
        break;
      case 'ioas':
        break;
    }
  }
  return users;
}

export const objectUsersMatchReferences: IommufdPtInvariant = {
  name: 'object-users-match-references',
  reads: (state) => [state.iommufd],
  class: 'accounting',
  description:
    "every object's users equal the references to it: the xarray's, its driver's, and each hwpt, access and attached device holding it",
  check({ after }) {
    const expected = expectedUsers(after.iommufd);
    for (const object of Object.values(after.iommufd.objects)) {
      const want = expected.get(object.id) ?? 0;
      if (object.users === want) continue;
      return {
        message: `${object.type} ${object.id} has ${object.users} users but ${want} references`,
        actual: `users ${object.users}`,
        expected: `users ${want}`,
      };
    }
    return null;
  },
};

/** The VT-d page tables against the IOAS areas, through the type1 stack's `iommuDisagreements`. */
export function iommuMatchesIoas(config: IommufdConfig): IommufdPtInvariant {
  return {
    name: 'iommu-matches-ioas',
    reads: (state) => [state.iommu.domains, state.iommu.tables, state.iommufd, state.dids],
    class: 'accounting',
    description:
      "each paging hwpt's VT-d domain translates exactly its IOAS's areas, each page to its pinned frame with the area's permissions",
    check({ after }) {
      const [problem] = iommuDisagreements(passthroughView(after, config));
      if (problem === undefined) return null;
      return {
        message: `hwpt ${problem.domainId} iova page ${problem.iovaPage}: the IOAS has ${problem.vfio}, the VT-d page table ${problem.iommu}`,
        actual: problem.iommu,
        expected: problem.vfio,
      };
    },
  };
}
