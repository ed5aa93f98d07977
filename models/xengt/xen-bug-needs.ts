/**
 * What each of the Xen model's deliberate bugs (`models/xen/config.ts`) needs of a XenGT world to
 * take effect, for the design factory's refusals: the grant-table bugs need grants that can be
 * mapped (grant entries and maptrack handles, and a second domain to map them); the memory and
 * teardown bugs run in every world (every domain balloons and can be destroyed, and the backend
 * can always map another domain's page).
 */
import type { XenBug } from '../xen/config.js';

/** `grant-mapping`: grant entries, maptrack handles, and two domains, so that one maps the other's grant. */
export type XenWorldFeature = 'grant-mapping';

export const xenFeatureMissing: Readonly<Record<XenWorldFeature, string>> = {
  'grant-mapping': 'has no grant a domain could map (no grant entries or no maptrack handles)',
};

const grants = (otherwise: string): { readonly needs: readonly XenWorldFeature[]; readonly otherwise: string } => ({
  needs: ['grant-mapping'],
  otherwise,
});
const always = { needs: [], otherwise: '' } as const;

export const xenBugNeeds: Readonly<
  Record<XenBug, { readonly needs: readonly XenWorldFeature[]; readonly otherwise: string }>
> = {
  'unmap-skips-page-put': grants('no grant is ever unmapped'),
  'unmap-skips-pin-drop': grants('no grant is ever unmapped'),
  'unmap-keeps-status-bits': grants('no grant is ever unmapped'),
  'end-access-ignores-pin': grants('no granted entry is ever pinned'),
  'destroy-skips-release-mappings': grants('no destroyed domain holds a grant mapping'),
  'failed-map-keeps-pin': grants('no grant map ever pins'),
  'destroy-skips-p2m-teardown': always,
  'destroy-ignores-zombie-frames': always,
  'zombie-never-dies': always,
  'free-keeps-tot-pages': always,
  'balloon-ignores-owner': always,
  'balloon-frees-referenced-page': always,
  'grant-unmap-puts-before-flush': grants('no grant is ever unmapped'),
  'balloon-puts-before-p2m-remove': always,
};

/** The features of a world with these grant tables (`XenWorldFeature`). */
export function xenWorldFeatures(world: {
  readonly grantEntries: number;
  readonly maptrackHandles: number;
}): Set<XenWorldFeature> {
  return new Set(world.grantEntries > 0 && world.maptrackHandles > 0 ? ['grant-mapping'] : []);
}
