/**
 * The model's own bookkeeping over random command sequences (fixed seeds): after every step the
 * frame references, the accounting, the domains' content, the `users` counts, the pages' krefs
 * and the access pins agree with what the state says holds them (docs/reference/iommufd.md §7);
 * a refusal leaves the state unchanged unless it is a documented partial one; nothing throws.
 */
import seedrandom from 'seedrandom';
import { describe, expect, it } from 'vitest';
import type { IommufdCommand, IommufdState } from '../../models/iommufd/index.js';
import { iommufdStep, mockDevice, vtdDevice } from '../../models/iommufd/index.js';
import {
  BUFFER_PAGES,
  BUFFER_VADDR_PAGE,
  Fixture,
  MOCK_APERTURE_START,
  PAGE_SIZE,
  expectDomainsMatchAreas,
  expectFrameRefcountsMatchHolders,
  expectPinnedVmMatches,
  s,
} from './fixture.js';

function expectBookkeeping(state: IommufdState): void {
  expectFrameRefcountsMatchHolders(state);
  expectPinnedVmMatches(state);
  expectDomainsMatchAreas(state);
  const objects = Object.values(state.objects);
  const pinnedOf = (mode: string) =>
    Object.values(state.pages)
      .filter((pages) => pages.accountMode === mode)
      .reduce((sum, pages) => sum + Object.keys(pages.pinned).length, 0);
  expect(state.userLockedVmPages).toBe(pinnedOf('user'));
  expect(state.process.lockedVmPages).toBe(pinnedOf('mm'));
  const attachedTo = (hwptId: number) =>
    Object.values(state.groups).reduce((sum, group) => sum + (group.hwptId === hwptId ? group.deviceIds.length : 0), 0);
  const wrongUsers: string[] = [];
  for (const object of objects) {
    let expected = 1;
    if (object.type === 'ioas') {
      expected += objects.filter(
        (o) => (o.type === 'hwpt_paging' || o.type === 'access') && o.ioasId === object.id,
      ).length;
    } else if (object.type === 'hwpt_paging') {
      expected +=
        attachedTo(object.id) + objects.filter((o) => o.type === 'hwpt_nested' && o.parentId === object.id).length;
    } else if (object.type === 'hwpt_nested') expected += attachedTo(object.id);
    else if (object.type === 'device') {
      const attached = Object.values(state.groups).some((group) => group.deviceIds.includes(object.id));
      expected += 1 + (attached ? 1 : 0);
    } else expected += 1;
    if (object.users !== expected)
      wrongUsers.push(`${object.type} ${object.id}: users ${object.users}, holders ${expected}`);
  }
  expect(wrongUsers).toEqual([]);
  const areas = objects.flatMap((o) => (o.type === 'ioas' ? o.areas : []));
  const wrongPages = Object.values(state.pages).filter(
    (pages) => pages.users !== areas.filter((area) => area.pagesId === pages.id).length,
  );
  expect(wrongPages.map((pages) => pages.id)).toEqual([]);
  const freedUnderAccess = objects.flatMap((object) =>
    object.type === 'access'
      ? object.pins.flatMap((pin) => pin.mfns).filter((mfn) => (state.memory.frames[mfn]?.refcount ?? 0) === 0)
      : [],
  );
  expect(freedUnderAccess).toEqual([]);
}

function randomCommand(random: () => number, state: IommufdState): IommufdCommand {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const ids = Object.keys(state.objects).map(Number);
  const id = () => (ids.length > 0 && random() < 0.9 ? pick(ids) : 1 + Math.floor(random() * 8));
  /** Mostly an id of one of `types` (the interesting requests), sometimes any id. */
  const idOf = (...types: string[]) => {
    const typed = Object.values(state.objects).filter((o) => types.includes(o.type));
    return typed.length > 0 && random() < 0.85 ? pick(typed).id : id();
  };
  const ioasId = () => idOf('ioas');
  const accessId = () => idOf('access');
  const page = () => MOCK_APERTURE_START + Math.floor(random() * 8) * PAGE_SIZE;
  const npages = () => 1 + Math.floor(random() * 4);
  const vaddr = () => (BUFFER_VADDR_PAGE + Math.floor(random() * (BUFFER_PAGES - 4))) * PAGE_SIZE;
  const deviceIndex = Math.floor(random() * 4);
  switch (Math.floor(random() * 18)) {
    case 0:
      return random() < 0.5
        ? { kind: 'ioasAlloc', flags: 0 }
        : { kind: 'accessAttach', accessId: accessId(), ioasId: ioasId() };
    case 1:
    case 2:
      return {
        kind: 'ioasMap',
        ioasId: id(),
        flags: pick([7, 6, 5, 3]),
        userVa: s(vaddr()),
        iova: s(page()),
        length: s(npages() * PAGE_SIZE),
      };
    case 3:
    case 4:
      return random() < 0.2
        ? { kind: 'ioasUnmap', ioasId: ioasId(), iova: '0', length: '18446744073709551615' }
        : { kind: 'ioasUnmap', ioasId: ioasId(), iova: s(page()), length: s(npages() * PAGE_SIZE) };
    case 5: {
      // Mostly from an area that exists, so that copies succeed as well as fail.
      const withAreas = Object.values(state.objects).filter((o) => o.type === 'ioas' && o.areas.length > 0);
      const source = withAreas.length > 0 && random() < 0.8 ? pick(withAreas) : undefined;
      const area = source?.type === 'ioas' ? pick(source.areas) : undefined;
      return {
        kind: 'ioasCopy',
        dstIoasId: ioasId(),
        srcIoasId: source?.id ?? ioasId(),
        flags: pick([5, 4, 6, 3]),
        dstIova: s(page()),
        srcIova: s(area === undefined ? page() : area.iovaPage * PAGE_SIZE),
        length: s((area === undefined ? npages() : area.npages) * PAGE_SIZE),
      };
    }
    case 6:
      return { kind: 'deviceBind', deviceIndex, flags: 0 };
    case 7:
    case 8:
      return { kind: 'deviceAttach', deviceIndex, ptId: idOf('ioas', 'hwpt_paging', 'hwpt_nested'), flags: 0 };
    case 9:
      return random() < 0.5 ? { kind: 'deviceDetach', deviceIndex, flags: 0 } : { kind: 'deviceUnbind', deviceIndex };
    case 10:
      return {
        kind: 'hwptAlloc',
        devId: id(),
        ptId: id(),
        flags: pick([0, 1]),
        dataType: pick([0, 0xdead]),
        dataLen: pick([0, 4]),
      };
    case 11:
      return { kind: 'destroy', id: id() };
    case 12:
      return random() < 0.5
        ? { kind: 'accessCreate', needsPinPages: true }
        : { kind: 'accessAttach', accessId: accessId(), ioasId: ioasId() };
    case 13:
    case 14:
      return {
        kind: 'accessPinPages',
        accessId: id(),
        iova: s(page()),
        length: s(npages() * PAGE_SIZE),
        write: random() < 0.5,
      };
    case 15: {
      const access = Object.values(state.objects).find((o) => o.type === 'access' && o.pins.length > 0);
      const pin = access?.type === 'access' ? access.pins[0] : undefined;
      if (access !== undefined && pin !== undefined && random() < 0.7) {
        return {
          kind: 'accessUnpinPages',
          accessId: access.id,
          iova: s(pin.iovaPage * PAGE_SIZE),
          length: s(pin.npages * PAGE_SIZE),
        };
      }
      return pick<IommufdCommand>([
        { kind: 'accessDestroy', accessId: accessId() },
        { kind: 'accessReplace', accessId: accessId(), ioasId: ioasId() },
        { kind: 'accessDetach', accessId: accessId() },
      ]);
    }
    case 16:
      return random() < 0.5
        ? { kind: 'munmap', vaddrPage: BUFFER_VADDR_PAGE + Math.floor(random() * BUFFER_PAGES), npages: 1 }
        : {
            kind: 'mmap',
            vaddrPage: BUFFER_VADDR_PAGE + Math.floor(random() * BUFFER_PAGES),
            npages: 1,
            writable: random() < 0.8,
          };
    default:
      return pick<IommufdCommand>([
        { kind: 'vfioIoas', op: 'set', ioasId: ioasId() },
        { kind: 'vfioSetIommu', type: pick([1, 3]) },
        {
          kind: 'vfioMapDma',
          argsz: 32,
          flags: 3,
          vaddr: s(vaddr()),
          iova: s(page()),
          sizeBytes: s(npages() * PAGE_SIZE),
        },
        { kind: 'vfioUnmapDma', argsz: 24, flags: 0, iova: s(page()), sizeBytes: s(npages() * PAGE_SIZE) },
        { kind: 'ioasAllowIovas', ioasId: ioasId(), ranges: [] },
      ]);
  }
}

describe('random command sequences keep the model consistent', () => {
  const reached = new Set<string>();
  it.each([1, 2, 3, 4, 5, 6])('seed %i: 150 steps', (seed) => {
    const random = seedrandom(`iommufd/${seed}`);
    const f = new Fixture({ devices: [mockDevice(0), mockDevice(0), mockDevice(1), vtdDevice(2)] });
    // Two IOASes and an access attached to the first, so that short sequences reach deep states.
    const first = f.ioasAlloc();
    f.ioasAlloc();
    const accessId = Number(f.ok({ kind: 'accessCreate', needsPinPages: true })['accessId']);
    f.ok({ kind: 'accessAttach', accessId, ioasId: first });
    const kinds = new Set<string>();
    for (let step = 0; step < 150; step++) {
      const command = randomCommand(random, f.state);
      const before = JSON.stringify(f.state);
      const { state, result } = iommufdStep(f.state, f.config, command);
      if (!result.ok && result.detail?.['partial'] !== true)
        expect(JSON.stringify(state), `${command.kind} ${result.error}`).toBe(before);
      if (result.ok) kinds.add(command.kind);
      f.state = state;
      expectBookkeeping(f.state);
    }
    for (const kind of kinds) reached.add(kind);
  });

  it('the sequences reach the interesting commands, not only refusals', () => {
    for (const kind of [
      'ioasMap',
      'ioasUnmap',
      'ioasCopy',
      'deviceAttach',
      'accessPinPages',
      'accessUnpinPages',
      'hwptAlloc',
    ]) {
      expect(reached).toContain(kind);
    }
  });
});
