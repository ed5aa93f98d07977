/**
 * The translation effects a step reports (models/iommufd/effects.ts): replayed onto a copy of the
 * domains they must rebuild every paging hwpt's content, and an unmap's pages are synced before
 * the step unpins them.
 */
import { describe, expect, it } from 'vitest';
import type { IommufdCommand, Translation } from '../../models/iommufd/index.js';
import { iommufdStep, soundIommufdHooks, vtdDevice } from '../../models/iommufd/index.js';
import { BUFFER_SIZE, Fixture, MOCK_APERTURE_START, PAGE_SIZE, buffer, expectDomainsMatchAreas, s } from './fixture.js';

/** Replays effects onto per-domain maps, as a stack forwards them to an IOMMU model. */
class Replayed {
  readonly domains = new Map<number, Map<number, Translation>>();
  readonly attached = new Map<number, number>();

  apply(effects: ReturnType<typeof iommufdStep>['effects']): void {
    for (const effect of effects) {
      const domain = this.domains.get(effect.domainId) ?? new Map<number, Translation>();
      this.domains.set(effect.domainId, domain);
      if (effect.kind === 'map')
        domain.set(effect.iovaPage, { mfn: effect.mfn, read: effect.read, write: effect.write });
      else if (effect.kind === 'unmap') domain.delete(effect.iovaPage);
      else if (effect.kind === 'attach') this.attached.set(effect.groupId, effect.domainId);
      else if (effect.kind === 'detach') this.attached.delete(effect.groupId);
      else if (effect.kind === 'domain-free') {
        expect(domain.size, `domain ${effect.domainId} freed with translations`).toBe(0);
        this.domains.delete(effect.domainId);
      }
    }
  }
}

describe('translation effects', () => {
  it('replayed, they rebuild every domain over a sequence of maps, copies, attaches, replaces and unmaps', () => {
    const f = new Fixture();
    const replayed = new Replayed();
    const run = (command: IommufdCommand, ok = true) => {
      const step = iommufdStep(f.state, f.config, command);
      expect(step.result.ok, `${command.kind} ${step.result.error ?? ''}`).toBe(ok);
      f.state = step.state;
      replayed.apply(step.effects);
      for (const object of Object.values(f.state.objects)) {
        if (object.type !== 'hwpt_paging') continue;
        expect(Object.fromEntries(replayed.domains.get(object.id) ?? new Map())).toEqual(object.translations);
      }
      expectDomainsMatchAreas(f.state);
    };
    run({ kind: 'ioasAlloc', flags: 0 });
    run({ kind: 'ioasAlloc', flags: 0 });
    const map = (ioasId: number, iova: number, npages: number, flags = 7): IommufdCommand => ({
      kind: 'ioasMap',
      ioasId,
      flags,
      userVa: s(buffer),
      iova: s(iova),
      length: s(npages * PAGE_SIZE),
    });
    run(map(1, MOCK_APERTURE_START, 4));
    run({ kind: 'deviceBind', deviceIndex: 0, flags: 0 });
    run({ kind: 'deviceAttach', deviceIndex: 0, ptId: 1, flags: 0 });
    run(map(1, MOCK_APERTURE_START + 8 * PAGE_SIZE, 2, 1 | 4));
    run({
      kind: 'ioasCopy',
      dstIoasId: 2,
      srcIoasId: 1,
      flags: 1 | 4,
      dstIova: s(MOCK_APERTURE_START),
      srcIova: s(MOCK_APERTURE_START),
      length: s(4 * PAGE_SIZE),
    });
    run({ kind: 'deviceBind', deviceIndex: 1, flags: 0 });
    run({ kind: 'deviceAttach', deviceIndex: 1, ptId: 2, flags: 0 });
    run({ kind: 'deviceAttach', deviceIndex: 0, ptId: 2, flags: 0 });
    run({ kind: 'ioasUnmap', ioasId: 2, iova: '0', length: '18446744073709551615' });
    run({ kind: 'deviceDetach', deviceIndex: 1, flags: 0 });
    run({ kind: 'deviceUnbind', deviceIndex: 0 });
    expect(replayed.domains.size).toBe(0);
    expect(replayed.attached.size).toBe(0);
  });

  it('an unmap reports, per domain, its pages then one iotlb-sync, before the frames are unpinned', () => {
    const f = new Fixture({ devices: [vtdDevice(0), vtdDevice(1)] });
    const ioasId = f.ioasAlloc();
    f.mapFixed(ioasId, buffer, 2 * PAGE_SIZE, 0x100000);
    const a = f.mockDomain(0, ioasId);
    // A second domain of the same IOAS (manual hwpt for device 1).
    const devB = Number(f.ok({ kind: 'deviceBind', deviceIndex: 1, flags: 0 })['devId']);
    const b = Number(
      f.ok({ kind: 'hwptAlloc', devId: devB, ptId: ioasId, flags: 0, dataType: 0, dataLen: 0 })['hwptId'],
    );
    const step = iommufdStep(f.state, f.config, {
      kind: 'ioasUnmap',
      ioasId,
      iova: s(0x100000),
      length: s(2 * PAGE_SIZE),
    });
    expect(step.effects.map((effect) => `${effect.kind}:${effect.domainId}`)).toEqual([
      `unmap:${a.hwptId}`,
      `unmap:${a.hwptId}`,
      `iotlb-sync:${a.hwptId}`,
      `unmap:${b}`,
      `unmap:${b}`,
      `iotlb-sync:${b}`,
    ]);
    expect(step.state.pinnedVmPages).toBe(0);
  });

  it('a partial unmap refused EDEADLOCK reports the areas it did unmap', () => {
    const f = new Fixture({ config: { hooks: { ...soundIommufdHooks, accessUnmap: () => [] } } });
    const ioasId = f.ioasAlloc();
    const { hwptId } = f.mockDomain(0, ioasId);
    f.mapFixed(ioasId, buffer, PAGE_SIZE, MOCK_APERTURE_START);
    f.mapFixed(ioasId, buffer + PAGE_SIZE, PAGE_SIZE, MOCK_APERTURE_START + PAGE_SIZE);
    const accessId = Number(f.ok({ kind: 'accessCreate', needsPinPages: true })['accessId']);
    f.ok({ kind: 'accessAttach', accessId, ioasId });
    f.ok({
      kind: 'accessPinPages',
      accessId,
      iova: s(MOCK_APERTURE_START + PAGE_SIZE),
      length: s(PAGE_SIZE),
      write: false,
    });
    const step = iommufdStep(f.state, f.config, {
      kind: 'ioasUnmap',
      ioasId,
      iova: s(MOCK_APERTURE_START),
      length: s(BUFFER_SIZE),
    });
    expect(step.result).toMatchObject({ ok: false, error: 'EDEADLOCK', detail: { partial: true } });
    expect(step.effects.map((effect) => effect.kind)).toEqual(['unmap', 'iotlb-sync']);
    expect(step.effects[0]).toMatchObject({ domainId: hwptId, iovaPage: MOCK_APERTURE_START / PAGE_SIZE });
  });
});
