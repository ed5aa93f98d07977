/**
 * GVT's page-track layer (`page_track.c`) over the hypervisor's write protection (§4.5): a guest
 * page-table page the mediator shadows is registered with the PPGTT handler and write-protected,
 * so a guest store to it traps. With `writeProtect` off the mediator keeps its registration but
 * never asks the hypervisor to protect the page: guest stores go straight to memory.
 */
import type { GvtConfig } from './config.js';
import type { GvtHost } from './host.js';
import type { GvtVgpu, GvtWorld } from './types.js';

export function isTracked(vgpu: GvtVgpu, gfn: number): boolean {
  return vgpu.tracked.includes(gfn);
}

/** `intel_vgpu_register_page_track` + `intel_vgpu_enable_page_track`; an errno name when refused. */
export function registerPageTrack<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
): string | null {
  const vgpu = world.vgpu;
  if (vgpu === null) return 'ESRCH';
  if (isTracked(vgpu, gfn)) return 'EEXIST';
  if (config.writeProtect) {
    const refused = host.trackAdd(world, gfn);
    if (refused !== null) {
      // GVT registered the track (`ppgtt_alloc_spt_gfn`) before enabling it failed; its unwind,
      // `ppgtt_free_spt`, unregisters it. A flawed unwind leaves the registration behind.
      if (config.unwind?.trackAdd === 'keep-registration') vgpu.tracked.push(gfn);
      return refused;
    }
  }
  vgpu.tracked.push(gfn);
  return null;
}

/** `intel_vgpu_unregister_page_track`: also removes the write protection. */
export function unregisterPageTrack<W extends GvtWorld>(
  world: W,
  host: GvtHost<W>,
  config: GvtConfig,
  gfn: number,
): void {
  const vgpu = world.vgpu;
  if (vgpu === null || !isTracked(vgpu, gfn)) return;
  vgpu.tracked = vgpu.tracked.filter((tracked) => tracked !== gfn);
  if (config.writeProtect) host.trackRemove(world, gfn);
}
