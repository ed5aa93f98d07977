/**
 * Xen grant-table status codes (`GNTST_*`, xen/include/public/grant_table.h), by name.
 * The numeric values are kept so a trace can be compared with a real hypercall log.
 */
export const gntst = {
  okay: 0,
  general_error: -1,
  bad_domain: -2,
  bad_gntref: -3,
  bad_handle: -4,
  bad_virt_addr: -5,
  bad_dev_addr: -6,
  no_device_space: -7,
  permission_denied: -8,
  bad_page: -9,
  bad_copy_arg: -10,
  address_too_big: -11,
  eagain: -12,
  no_space: -13,
} as const;

export type GntstName = keyof typeof gntst;

/** Linux/Xen errno names used by memory ops and the backend (returned as names, not numbers). */
export type Errno =
  'EINVAL' | 'EPERM' | 'ENOENT' | 'ENXIO' | 'ENOMEM' | 'ESRCH' | 'EBUSY' | 'ENODEV' | 'ENOSPC' | 'EEXIST';
