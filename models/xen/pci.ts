/**
 * PCI devices under Xen's IOMMU code (`struct pci_dev`, xen/include/xen/pci.h) and their
 * assignment: XEN_DOMCTL_assign_device / XEN_DOMCTL_deassign_device and the release of a dying
 * domain's devices. Reference: docs/reference/xen-passthrough.md §2 (Xen at the pinned commit
 * c447b7308b).
 *
 * - `iommu_do_domctl` (xen/drivers/passthrough/iommu.c): a target domain without an IOMMU context
 *   (`!is_iommu_enabled(d)`) is refused with -EOPNOTSUPP before anything else.
 * - `iommu_do_pci_domctl` (xen/drivers/passthrough/pci.c), XEN_DOMCTL_assign_device: self-assignment
 *   -EINVAL; a dying target -EINVAL; `device_assigned`: no such device -ENODEV, a device owned by
 *   neither the hardware domain nor dom_io -EBUSY; then `assign_device`: `iommu_quarantine_dev_init`
 *   for a device not in quarantine (its quarantine context built on first use), the context
 *   reassigned (`reassign_device_ownership`, vtd/iommu.c), `pdev->domain = d`.
 * - dom_io is a target too (`xl pci-assignable-add` assigns a device to it, marking it
 *   quarantined; `pci-assignable-remove` deassigns it from there, to the hardware domain).
 * - XEN_DOMCTL_deassign_device → `deassign_device`: self -EINVAL; `pci_get_pdev(d, sbdf)` finds the
 *   device among d's only (-ENODEV otherwise); the target is dom_io when the device is marked
 *   quarantined or `iommu_quarantine` is set (and it is not in dom_io already), else the hardware
 *   domain; `pdev->quarantine` is cleared when it lands on the hardware domain.
 * - `pci_release_devices` (pci.c), the first thing `domain_relinquish_resources` does
 *   (xen/arch/x86/domain.c, before `iommu_free_pgtables` and `relinquish_p2m_mapping`):
 *   `deassign_device` of every device the domain still has.
 *
 * Quarantine (`iommu_quarantine`, iommu.c: `none` / `basic` / `scratch-page`): with `basic` a
 * device in dom_io has no page table (`quarantine_teardown` when there is neither scratch page nor
 * RMRR: its context entry is cleared, its DMA faults); with `scratch-page` it has a page table of
 * its own (`intel_iommu_quarantine_init`, vtd/iommu.c: `pdev->arch.vtd.pgd_maddr`, every dfn →
 * `pdev->arch.leaf_mfn`), under a pseudo domain id of its own (`pdev->arch.pseudo_domid`), kept
 * for the next quarantine (the leaf cleared then). Since XSA-400 each device has its own.
 *
 * Left out: phantom functions, RMRRs, MSI-X and vPCI, broken devices (-EBADF), `XEN_DOMCTL_
 * test_assign_device`, the RDM flag, `arch_iommu_use_permitted` (mem sharing/paging: -EXDEV),
 * XSM, segment/bus/devfn (a device is named by its index).
 */
import { fail, succeed } from '../result.js';
import type { OpResult } from '../result.js';
import type { XenState } from './types.js';

/** DOMID_IO (xen/include/public/xen.h): the owner of quarantined devices. */
export const DOMID_IO = 0x7ff1;

/** `iommu_quarantine` (xen/drivers/passthrough/iommu.c). */
export type QuarantineMode = 'none' | 'basic' | 'scratch-page';
export const quarantineModes: readonly QuarantineMode[] = ['none', 'basic', 'scratch-page'];

/** One PCI device (`struct pci_dev`). */
export interface PciDev {
  /** The device's index in the world (stands for its SBDF). */
  readonly sbdf: number;
  /** `pdev->domain`: the hardware domain, a guest, or DOMID_IO while quarantined. */
  owner: number;
  /** `pdev->quarantine`: it was assigned to dom_io; deassignment sends it back there. */
  quarantine: boolean;
  /**
   * Its quarantine page table (`pdev->arch.vtd.pgd_maddr` with `leaf_mfn`): the scratch page every
   * dfn maps to, by id, once built in scratch-page mode; null: none (basic mode, or never quarantined).
   */
  scratch: number | null;
  /**
   * The DID its quarantine context is tagged with (`pdev->arch.pseudo_domid`, allocated when the
   * device is added); absent: its own (the model uses its index).
   */
  readonly pseudoDomid?: number;
}

/**
 * How the quarantine context gives a device a scratch page (`intel_iommu_quarantine_init`): each
 * device its own (Xen's since XSA-400), or a design's own choice.
 */
export interface QuarantineScratch {
  readonly name: string;
  /** The scratch page id for a device's new quarantine page table. */
  readonly scratchFor: (sbdf: number) => number;
  /** The pseudo domain id a device's quarantine context gets (default its own, `sbdf`). */
  readonly pseudoDomid?: (sbdf: number) => number;
}

/** Xen's: a page table and leaf of each device's own. */
export const perDeviceScratch: QuarantineScratch = { name: 'xen', scratchFor: (sbdf) => sbdf };

export interface PciConfig {
  readonly quarantine: QuarantineMode;
  readonly scratch?: QuarantineScratch;
  /** The hardware domain's domid (`hardware_domain`). */
  readonly hardwareDomid: number;
}

/** `iommu_quarantine_dev_init`: the device's quarantine page table, built once (scratch-page mode only). */
export function quarantineDevInit(config: PciConfig, device: PciDev): void {
  if (config.quarantine !== 'scratch-page' || device.scratch !== null) return;
  device.scratch = (config.scratch ?? perDeviceScratch).scratchFor(device.sbdf);
}

/**
 * The checks of XEN_DOMCTL_assign_device, in Xen's order, for `caller` assigning `device` to
 * `domid`; null when the assignment may go ahead.
 */
export function assignDeviceCheck(
  xen: XenState,
  devices: readonly PciDev[],
  config: PciConfig,
  args: { readonly caller: number; readonly domid: number; readonly device: number },
): OpResult | null {
  if (args.domid !== DOMID_IO) {
    // dom_io (xl pci-assignable-add) always exists, with an IOMMU context (iommu_quarantine_init).
    const domain = xen.domains[args.domid];
    if (domain === undefined || domain.life === 'dead') return fail('ESRCH');
    if (domain.iommu === undefined) return fail('EOPNOTSUPP');
    if (args.domid === args.caller) return fail('EINVAL');
    if (domain.life !== 'running') return fail('EINVAL');
  }
  const device = devices[args.device];
  if (device === undefined) return fail('ENODEV');
  if (device.owner !== config.hardwareDomid && device.owner !== DOMID_IO) return fail('EBUSY');
  return null;
}

/** The checks of XEN_DOMCTL_deassign_device; null when it may go ahead. */
export function deassignDeviceCheck(
  xen: XenState,
  devices: readonly PciDev[],
  args: { readonly caller: number; readonly domid: number; readonly device: number },
): OpResult | null {
  if (args.domid !== DOMID_IO) {
    const domain = xen.domains[args.domid];
    if (domain === undefined || domain.life === 'dead') return fail('ESRCH');
    if (domain.iommu === undefined) return fail('EOPNOTSUPP');
    if (args.domid === args.caller) return fail('EINVAL');
  }
  const device = devices[args.device];
  if (device === undefined || device.owner !== args.domid) return fail('ENODEV');
  return null;
}

/**
 * `deassign_device`'s choice of target: dom_io when the device is marked quarantined or quarantine
 * is on (and it is not there already), else the hardware domain.
 */
export function deassignTarget(config: PciConfig, device: PciDev): number {
  if ((device.quarantine || config.quarantine !== 'none') && device.owner !== DOMID_IO) return DOMID_IO;
  return config.hardwareDomid;
}

/** `assign_device` after its checks: quarantine context initialised, ownership moved. */
export function assignDevice(config: PciConfig, device: PciDev, domid: number): OpResult {
  const from = device.owner;
  if (device.owner !== DOMID_IO) quarantineDevInit(config, device);
  device.owner = domid;
  if (domid === DOMID_IO) device.quarantine = true;
  return succeed({ device: device.sbdf, from, to: domid });
}

/** `deassign_device` after its checks: to dom_io (quarantine) or the hardware domain. */
export function deassignDevice(config: PciConfig, device: PciDev): OpResult {
  const from = device.owner;
  const target = deassignTarget(config, device);
  if (target === DOMID_IO) quarantineDevInit(config, device);
  device.owner = target;
  if (target === config.hardwareDomid) device.quarantine = false;
  return succeed({ device: device.sbdf, from, to: target });
}

/** `pci_release_devices`: every device `domid` still has, deassigned in list order. */
export function pciReleaseDevices(config: PciConfig, devices: PciDev[], domid: number): number[] {
  const released: number[] = [];
  for (const device of devices) {
    if (device.owner !== domid) continue;
    deassignDevice(config, device);
    released.push(device.sbdf);
  }
  return released;
}

export function ownerName(owner: number | null): string {
  if (owner === null) return 'free';
  return owner === DOMID_IO ? 'dom_io' : `dom${owner}`;
}
