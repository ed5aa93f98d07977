/**
 * The flawed variants at Xen's decision points (`GrantVersionSwitch`, `GrantCopyChecks`): for
 * each, a short command sequence under the flawed hook violates the named generic invariant, and
 * the same sequence under Xen's hook (`soundGrantVersionSwitch`, `soundGrantCopy`) violates none.
 */
import { describe, expect, it } from 'vitest';
import type { XenConfig } from '../../models/xen/config.js';
import { soundGrantCopy } from '../../models/xen/grant-copy.js';
import type { GrantV2Command } from '../../models/xen/grant-v2-commands.js';
import { soundGrantVersionSwitch } from '../../models/xen/grant-v2.js';
import { grantV2Flaws } from '../../properties/xen/grant-v2-flaws.js';
import { HVM, HVM2, REF, run, sound, v2World } from './world.js';

const grantTo = (ref: number, readonly = false): GrantV2Command => ({
  kind: 'grantAccess',
  domid: HVM,
  ref,
  granteeDomid: HVM2,
  gfn: 0,
  readonly,
});
const copyInto = (
  ref: number,
  offset = 0,
  len = 64,
  kind: 'grantCopy' | 'startGrantCopy' = 'grantCopy',
): GrantV2Command => ({
  kind,
  callerDomid: HVM2,
  source: { domid: 'self', gref: false, frame: 0, offset: 0 },
  dest: { domid: HVM, gref: true, frame: ref, offset },
  len,
});

/** The sequence that shows each flaw, by the flaw's name. */
const sequences: Record<string, readonly GrantV2Command[]> = {
  'set-version-ignores-pins': [
    grantTo(REF),
    {
      kind: 'mapGrantRef',
      mapperDomid: HVM2,
      granterDomid: HVM,
      ref: REF,
      host: true,
      device: false,
      readonly: false,
      hostAddr: 5,
    },
    { kind: 'setGrantVersion', domid: HVM, version: 2 },
  ],
  'unpopulate-leaves-status-mapped': [
    { kind: 'setGrantVersion', domid: HVM, version: 2 },
    { kind: 'mapGrantFrame', domid: HVM, idx: 0, status: true, gfn: 7 },
    { kind: 'setGrantVersion', domid: HVM, version: 1 },
  ],
  'status-frame-at-two-gfns': [
    { kind: 'setGrantVersion', domid: HVM, version: 2 },
    { kind: 'mapGrantFrame', domid: HVM, idx: 0, status: true, gfn: 6 },
    { kind: 'mapGrantFrame', domid: HVM, idx: 0, status: true, gfn: 7 },
    { kind: 'setGrantVersion', domid: HVM, version: 1 },
  ],
  'copy-skips-bounds': [grantTo(REF), copyInto(REF, 4000, 200)],
  'copy-writes-readonly-grant': [grantTo(REF, true), copyInto(REF)],
  'copy-releases-before-copy': [
    grantTo(REF),
    copyInto(REF, 0, 64, 'startGrantCopy'),
    { kind: 'endAccess', domid: HVM, ref: REF },
    { kind: 'decreaseReservation', domid: HVM, gfn: 0 },
    { kind: 'populatePhysmap', domid: HVM2, gfn: 5 },
    { kind: 'finishGrantCopy', callerDomid: HVM2, index: 0 },
  ],
};

describe('grant v2 / copy flaws', () => {
  it('the sound hooks are Xen’s, and every flaw has a sequence', () => {
    expect(soundGrantVersionSwitch.name).toBe('xen');
    expect(soundGrantCopy.name).toBe('xen');
    expect(Object.keys(sequences).sort()).toEqual(grantV2Flaws.map((flaw) => flaw.name).sort());
  });

  for (const flaw of grantV2Flaws) {
    it(`${flaw.name} violates ${flaw.breaks.join(', ')}; Xen's hooks hold on the same sequence`, () => {
      const commands = sequences[flaw.name] ?? [];
      const flawed = run(v2World(), flaw.config, commands);
      expect(flawed.violation?.name).toBeDefined();
      expect(flaw.breaks).toContain(flawed.violation?.name);
      const config: XenConfig = sound;
      const held = run(v2World(), config, commands);
      expect(held.violation).toBeNull();
    });
  }

  it('a copy released at its claim lets the write land in a frame another domain got since', () => {
    const flaw = grantV2Flaws.find((candidate) => candidate.name === 'copy-releases-before-copy')!;
    const commands = sequences['copy-releases-before-copy']!;
    // Past the first violation (the pins), the write itself: the frame is dom3's by then.
    let state = v2World();
    const step = run(state, flaw.config, commands.slice(0, 2));
    expect(step.violation?.name).toBe('grant-pins-match-mappings-and-copies');
    state = step.state;
    for (const command of commands.slice(2)) state = run(state, flaw.config, [command]).state;
    expect(state.lastGrantCopy?.accesses.find((access) => access.write)).toEqual({ mfn: 14, write: true, owner: HVM2 });
  });
});
