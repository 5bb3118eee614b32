// The built-in VM targets: `vm` (Debian's 6.1 kernel) and `vm:<kernel>` (e.g. `vm:6.12`), each the built-in
// BPF-LSM VM of that kernel (see ../vm/vm.ts), reached over ssh on 127.0.0.1 as root with the product's own key
// and the VM's own known_hosts. The helper runs as root directly (no sudo), and its protocol travels on one of
// the VM's helper channels (./vmChannel.ts) rather than the ssh session. Programs it starts for tracing run as
// the VM's unprivileged user (uid 1000) unless asked for root. The target brings its VM up (ensureUp) and
// knows its kernel's BTF without booting it (the kernel image).
//
// The target id carries the VM's kernel: this module alone maps an id to its VM (vmForTarget), so another
// kernel is a change here and in ../vm/kernels.ts, nowhere else.
//
// For tests (test/vm) and benchmarks, after the VM is up (test/vm/runner.mjs boots it once per run):
//   import { vmTarget } from '../../extension/core/targets/vm';
//   const vm = vmTarget();
//   const { stdout, exitCode } = await vm.exec('uname', ['-r']);   // arguments arrive exactly as given
//   await vm.copyTo([{ local: 'x.bpf.o', remote: '/tmp/x.bpf.o' }]);
//   const helper = await vm.startHelper();                         // deploys dist/helper.js + addon once
// The cache folder is $BPF_LSM_CACHE (the runner sets it), else ~/.cache/bpf-lsm-studio.
import { GUEST_HELPER_ROOT, GUEST_USER } from '../vm/image';
import { kernelAssetsAt } from '../vm/kernel';
import { VM_SSH_DESTINATION, readState, unreachableVmReason, vmSshOptions } from '../vm/machine';
import { helperChannelName, VmPaths, vmPaths } from '../vm/paths';
import { DEFAULT_VM_KERNEL, parseVmKernel, VmKernel, vmKernels, vmTargetId } from '../vm/kernels';
import { keepNearHelper } from '../vm/pinning';
import { BuiltinVm } from '../vm/vm';
import { RemoteTarget } from './remote';

/** The id of the default built-in VM target (Debian's 6.1 kernel). */
export const VM_TARGET = 'vm';

/** Whether `id` names a built-in VM target (`vm` or `vm:<kernel>`, the kernel not yet checked). */
export function isVmTarget(id: string): boolean {
  return id === VM_TARGET || id.startsWith(`${VM_TARGET}:`);
}

/** The kernel a VM target id names (`vm` -> 6.1, `vm:6.12` -> 6.12); throws, listing the ids, for any other. */
export function vmKernelOfTarget(id: string): VmKernel {
  if (id === VM_TARGET) return DEFAULT_VM_KERNEL;
  if (id.startsWith(`${VM_TARGET}:`)) {
    try {
      return parseVmKernel(id.slice(VM_TARGET.length + 1));
    } catch {
      // The list below says what there is.
    }
  }
  throw new Error(`"${id}" names no kernel of the built-in VM; use ${[VM_TARGET, ...vmKernels().map((k) => `${VM_TARGET}:${k}`)].join(', ')}`);
}

function pathsFor(id: string): VmPaths {
  return vmPaths(process.env, vmKernelOfTarget(id));
}

/** The built-in VM that runs target `id`; for an id that is no VM target, the default VM. */
export function vmForTarget(id: string = VM_TARGET): BuiltinVm {
  return new BuiltinVm(pathsFor(isVmTarget(id) ? id : VM_TARGET));
}

/** The VM targets for a target picker (one per kernel), with whether each runs and its kernel. */
export function vmTargetChoices(): Array<{ id: string; label: string; description: string; detail: string }> {
  return vmKernels().map((kernel) => {
    const running = readState(vmPaths(process.env, kernel));
    return {
      id: vmTargetId(kernel),
      label: kernel === DEFAULT_VM_KERNEL ? 'Built-in VM' : `Built-in VM (${kernel})`,
      description: running ? `running, kernel ${running.kernelRelease}` : 'stopped',
      detail: `A QEMU VM with Debian's ${kernel} BPF-LSM kernel, prepared and started by BPF-LSM Studio`,
    };
  });
}

/** The built-in VM of `paths.kernelName` as a target: id `vm` for the default kernel, `vm:<kernel>` otherwise. */
export function vmTarget(paths: VmPaths = vmPaths()): RemoteTarget {
  const id = vmTargetId(paths.kernelName);
  const isDefault = paths.kernelName === DEFAULT_VM_KERNEL;
  const up = isDefault ? 'bpf-lsm vm up' : `bpf-lsm vm up --kernel ${paths.kernelName}`;
  return new RemoteTarget({
    id,
    kind: 'vm',
    label: isDefault ? 'VM' : `VM ${paths.kernelName}`,
    description: isDefault ? 'the built-in VM' : `the built-in VM (kernel ${paths.kernelName})`,
    kernelName: paths.kernelName,
    btfAdvice: `run \`${up}\` once`,
    connect: () => {
      const state = readState(paths);
      if (!state) throw new Error(`the built-in VM (kernel ${paths.kernelName}) is not running; start it with \`${up}\` or the command "BPF-LSM: Start VM"`);
      return { options: vmSshOptions(paths, state.port), destination: VM_SSH_DESTINATION };
    },
    loginIsRoot: true,
    // Traced programs run as the VM's unprivileged user unless a client asks for root (--as-root).
    invokingUser: { uid: GUEST_USER.uid, gid: GUEST_USER.gid },
    node: '/usr/bin/node',
    helperRoot: async () => GUEST_HELPER_ROOT,
    // BPF_LSM_VM_CHANNELS=0 keeps the helper on ssh (to compare the two, or to rule the channels out).
    unreachable: () => unreachableVmReason(paths),
    helperChannels: () => {
      const count = readState(paths)?.helperChannels ?? 0;
      if (!count || process.env.BPF_LSM_VM_CHANNELS === '0') return undefined;
      return { sockets: paths.helperChannels.slice(0, count), name: helperChannelName };
    },
    // BPF_LSM_VM_DAEMON=0: a helper process per session instead of the VM's helper daemon (to compare).
    helperDaemon: () => process.env.BPF_LSM_VM_DAEMON !== '0',
    machine: {
      running: () => readState(paths) !== undefined,
      up: async (progress) => {
        const vm = new BuiltinVm(paths);
        if (!vm.running()) progress(`starting the built-in BPF-LSM VM (kernel ${paths.kernelName})`);
        await vm.up((m) => progress(`vm: ${m}`));
      },
    },
    // On a host whose cores the vCPUs take, the tracing client keeps to the helper vCPU's (pinning.ts).
    placeTracingClient: () => keepNearHelper(readState(paths)?.pinnedCores),
    // The kernel image the VM boots carries its BTF: no need to boot the VM to build or complete for it.
    localBtf: () => {
      const assets = kernelAssetsAt(paths.kernel, paths.kernelName);
      return assets && { path: assets.vmlinux, what: `the built-in VM's kernel ${assets.release}`, fromCache: true };
    },
  });
}

/** The target for a VM target id (`vm`, `vm:6.12`). */
export function vmTargetFor(id: string): RemoteTarget {
  return vmTarget(pathsFor(id));
}
