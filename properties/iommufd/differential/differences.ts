/**
 * The documented differences between VFIO type1 and iommufd's VFIO compatibility layer (Linux
 * v6.12), as data: docs/reference/iommufd.md §6.2, from drivers/iommu/iommufd/vfio_compat.c,
 * io_pagetable.c, drivers/vfio/vfio_iommu_type1.c and container.c. Each names the request and what
 * each side answers; everything else must agree. The rows of §6.2 a VMM program over these worlds
 * cannot meet are not declared (FLAG_VADDR and dirty tracking: not generated; dma_entry_limit: the
 * default 65535 is never reached; accounting: both charge mm->locked_vm once per MAP_DMA's pinned
 * page here, as two MAPs of one vaddr make two iopt_pages; no-IOMMU, P2P, sPAPR: not modelled).
 */
import type { DeclaredDifference, Type1IommufdPairState, VmmOp } from '../../../models/iommufd-pt/pair.js';

const VFIO_DMA_UNMAP_FLAG_ALL = 2;
const U64_PAGE_LIMIT = 2n ** 64n;

/** type1 is in v1 mode, or iommufd's compat IOAS has large pages disabled (VFIO_TYPE1_IOMMU set). */
function v1(state: Type1IommufdPairState): boolean {
  const backend = state.type1.vfio.container.backend;
  const type1V1 = backend?.kind === 'type1' && !backend.v2;
  const ioasId = state.iommufd.iommufd.vfioIoasId;
  const ioas = ioasId === null ? undefined : state.iommufd.iommufd.objects[ioasId];
  return type1V1 || (ioas?.type === 'ioas' && ioas.disableLargePages);
}

/** iova + size − 1 is past 2^64 − 1, or a value is U64_MAX itself. */
function overflows(op: VmmOp): boolean {
  if (op.kind !== 'mapDma' && op.kind !== 'unmapDma') return false;
  const iova = BigInt(op.iova);
  const size = BigInt(op.sizeBytes);
  return iova + size > U64_PAGE_LIMIT || iova >= U64_PAGE_LIMIT - 1n || size >= U64_PAGE_LIMIT - 1n;
}

const noGroup = (_op: VmmOp, state: Type1IommufdPairState): boolean => !state.vmm.groupSet;

export const type1IommufdDifferences: readonly DeclaredDifference[] = [
  {
    id: 'unmap-of-nothing',
    request: 'UNMAP_DMA of a range with no mapping',
    source: 'iopt_unmap_iova_range (-ENOENT when no area was unmapped); type1 unmaps 0 bytes',
    kind: 'unmapDma',
    type1: 'ok size 0',
    iommufd: 'refused ENOENT',
  },
  {
    id: 'v2-unmap-bisects',
    request: 'v2 UNMAP_DMA whose range bisects a mapping',
    source: 'vfio_dma_do_unmap (-EINVAL); iopt_unmap_iova_range (-ENOENT, earlier areas of the range already gone)',
    kind: 'unmapDma',
    when: (_op, state) => !v1(state),
    type1: 'refused EINVAL',
    iommufd: 'refused ENOENT',
  },
  {
    id: 'v1-unmap-cuts',
    request: 'v1 (VFIO_TYPE1_IOMMU) UNMAP_DMA inside or across mappings',
    source:
      'vfio_dma_do_unmap v1 (whole mappings or nothing); iommufd_vfio_unmap_dma → iopt_cut_iova (exactly the range)',
    kind: 'unmapDma',
    when: (op, state) => v1(state) && op.kind === 'unmapDma' && (op.flags & VFIO_DMA_UNMAP_FLAG_ALL) === 0,
    type1: '*',
    iommufd: '*',
  },
  {
    id: 'map-without-prot',
    request: 'MAP_DMA with neither READ nor WRITE',
    source:
      'vfio_dma_do_map (-EINVAL first); iommufd_vfio_map_dma has no check: a later one refuses (pinning -EFAULT, VT-d at fill -EINVAL)',
    kind: 'mapDma',
    when: (op) => op.kind === 'mapDma' && (op.flags & 3) === 0,
    type1: 'refused EINVAL',
    iommufd: 'refused *',
  },
  {
    id: 'map-overflow',
    request: 'MAP_DMA whose iova or size reaches 2^64',
    source: 'vfio_dma_do_map (-EINVAL); iopt_alloc_pages / iopt_check_iova (-EOVERFLOW)',
    kind: 'mapDma',
    when: overflows,
    type1: 'refused EINVAL',
    iommufd: 'refused EOVERFLOW',
  },
  {
    id: 'unmap-overflow',
    request: 'UNMAP_DMA whose iova or size reaches 2^64',
    source: 'vfio_dma_do_unmap (-EINVAL); iommufd_vfio_unmap_dma / iopt_unmap_iova (-EOVERFLOW)',
    kind: 'unmapDma',
    when: overflows,
    type1: 'refused EINVAL',
    iommufd: 'refused EOVERFLOW',
  },
  ...(['mapDma', 'unmapDma', 'getInfo', 'setIommu'] as const).map((kind): DeclaredDifference => ({
    id: `${kind === 'mapDma' ? 'map' : kind === 'unmapDma' ? 'unmap' : kind === 'getInfo' ? 'get-info' : 'set-iommu'}-without-group`,
    request: `${kind} before the group joins the container`,
    source: 'vfio_fops_unl_ioctl / vfio_ioctl_set_iommu (-EINVAL: no driver); get_compat_ioas (-ENODEV)',
    kind,
    when: noGroup,
    type1: 'refused EINVAL',
    iommufd: 'refused ENODEV',
  })),
  {
    id: 'get-info-before-set-iommu',
    request: 'GET_INFO with the group in the container, before SET_IOMMU (not in §6.2: found by this design)',
    source:
      'vfio_fops_unl_ioctl (-EINVAL: no driver yet); iommufd_vfio_iommu_get_info on the compat IOAS SET_CONTAINER made',
    kind: 'getInfo',
    when: (_op, state) => state.vmm.groupSet && !state.vmm.iommuSet,
    type1: 'refused EINVAL',
    iommufd: 'ok*',
  },
  {
    id: 'get-info-ranges-before-device',
    request: 'GET_INFO after SET_IOMMU, before the device is opened (not in §6.2: found by this design)',
    source:
      'type1 builds iova_list when SET_IOMMU attaches the group (aperture, reserved regions); iommufd reserves them when the device attaches to the compat IOAS (iopt_table_enforce_dev_resv_regions, iopt_table_add_domain)',
    kind: 'getInfo',
    when: (_op, state) => state.vmm.iommuSet && !state.vmm.deviceOpen,
    type1: 'ok ranges *',
    iommufd: 'ok ranges 0-18446744073709551615',
  },
  {
    id: 'dma-cc-without-group',
    request: 'CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) before the group joins',
    source:
      'vfio_iommu_type1_check_extension with no iommu_data (0); iommufd_vfio_cc_iommu → get_compat_ioas (-ENODEV)',
    kind: 'checkExtension',
    when: noGroup,
    type1: 'value 0',
    iommufd: 'refused ENODEV',
  },
  {
    id: 'dma-cc-before-set-iommu',
    request: 'CHECK_EXTENSION(VFIO_DMA_CC_IOMMU) with the group in, before SET_IOMMU',
    source: 'vfio_iommu_type1_check_extension with no iommu_data (0); iommufd_vfio_cc_iommu: no hwpt disagrees (1)',
    kind: 'checkExtension',
    when: (_op, state) => state.vmm.groupSet && !state.vmm.iommuSet,
    type1: 'value 0',
    iommufd: 'value 1',
  },
  {
    id: 'nesting-extension',
    request: 'CHECK_EXTENSION(VFIO_TYPE1_NESTING_IOMMU)',
    source: 'vfio_iommu_type1_check_extension (1); iommufd_vfio_check_extension (0)',
    kind: 'checkExtension',
    when: (op) => op.kind === 'checkExtension' && op.extension === 6,
    type1: 'value 1',
    iommufd: 'value 0',
  },
  {
    id: 'update-vaddr-extension',
    request: 'CHECK_EXTENSION(VFIO_UPDATE_VADDR) once a driver is set',
    source: 'vfio_iommu_type1_check_extension (1 without mdevs); iommufd_vfio_check_extension (0)',
    kind: 'checkExtension',
    when: (op) => op.kind === 'checkExtension' && op.extension === 10,
    type1: 'value 1',
    iommufd: 'value 0',
  },
  {
    id: 'set-iommu-nesting',
    request: 'SET_IOMMU(VFIO_TYPE1_NESTING_IOMMU)',
    source: 'vfio_iommu_type1_open (accepted); iommufd_vfio_set_iommu (-EINVAL)',
    kind: 'setIommu',
    type1: 'ok',
    iommufd: 'refused EINVAL',
  },
  {
    id: 'set-iommu-twice',
    request: 'SET_IOMMU once a driver is set',
    source: 'vfio_ioctl_set_iommu (-EINVAL: container->iommu_driver set); iommufd_vfio_set_iommu (accepted again)',
    kind: 'setIommu',
    when: (_op, state) => state.vmm.iommuSet,
    type1: 'refused EINVAL',
    iommufd: 'ok',
  },
  {
    id: 'set-iommu-unknown-type',
    request: 'SET_IOMMU of a type neither supports',
    source: 'vfio_ioctl_set_iommu (-ENODEV: no driver claims it); iommufd_vfio_set_iommu (-EINVAL)',
    kind: 'setIommu',
    type1: 'refused ENODEV',
    iommufd: 'refused EINVAL',
  },
];
