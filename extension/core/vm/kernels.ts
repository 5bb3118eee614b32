// The kernels the built-in VM can boot: Debian's 6.1 (bookworm's default, the `vm` target) and Debian's 6.12
// (bookworm's backport line, `vm:6.12`). Each has its own cache folder, so both can be prepared, and run, side
// by side. A kernel is named by its series; the Debian meta package picks the newest build of that series.

export interface VmKernelInfo {
  /** The series: `uname -r` of the guest starts with `<series>.`. */
  readonly series: string;
  /** The Debian meta package whose dependency is the versioned image package (apt-cache show ... Depends). */
  readonly metaPackage: string;
}

export const VM_KERNELS = {
  '6.1': { series: '6.1', metaPackage: 'linux-image-amd64' },
  '6.12': { series: '6.12', metaPackage: 'linux-image-6.12-amd64' },
} as const satisfies Record<string, VmKernelInfo>;

export type VmKernel = keyof typeof VM_KERNELS;

/** `vm` without a kernel means this one. */
export const DEFAULT_VM_KERNEL: VmKernel = '6.1';

export const vmKernels = (): VmKernel[] => Object.keys(VM_KERNELS) as VmKernel[];

export function isVmKernel(s: string): s is VmKernel {
  return Object.prototype.hasOwnProperty.call(VM_KERNELS, s);
}

/** Parses a kernel name as the user writes it (`6.12`); the error lists the ones there are. */
export function parseVmKernel(s: string): VmKernel {
  const t = s.trim();
  if (isVmKernel(t)) return t;
  throw new Error(`the built-in VM has no kernel "${s}"; it can boot ${vmKernels().join(', ')}`);
}

/** The target id of the VM running `kernel`: `vm` for the default kernel, else `vm:<kernel>`. */
export const vmTargetId = (kernel: VmKernel): string => (kernel === DEFAULT_VM_KERNEL ? 'vm' : `vm:${kernel}`);

/**
 * The environment variable that hands a downloaded .deb for `kernel` instead of `apt-get download`:
 * BPF_LSM_VM_KERNEL_DEB for the default kernel, BPF_LSM_VM_KERNEL_DEB_6_12 for 6.12.
 */
export const kernelDebVariable = (kernel: VmKernel): string =>
  kernel === DEFAULT_VM_KERNEL ? 'BPF_LSM_VM_KERNEL_DEB' : `BPF_LSM_VM_KERNEL_DEB_${kernel.replace(/\./g, '_')}`;
