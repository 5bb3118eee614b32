// The `vm` target: the built-in BPF-LSM VM (see ../vm/vm.ts), reached over ssh on 127.0.0.1 as root with
// the product's own key and the VM's own known_hosts. The helper runs as root directly (no sudo), and its
// protocol travels on one of the VM's helper channels (./vmChannel.ts) rather than the ssh session.
// Programs it starts for tracing run as the VM's unprivileged user (uid 1000) unless asked for root.
//
// For tests (test/vm) and benchmarks, after the VM is up (test/vm/runner.mjs boots it once per run):
//   import { vmTarget } from '../../extension/core/targets/vm';
//   const vm = vmTarget();
//   const { stdout, exitCode } = await vm.exec('uname', ['-r']);   // arguments arrive exactly as given
//   await vm.copyTo([{ local: 'x.bpf.o', remote: '/tmp/x.bpf.o' }]);
//   const helper = await vm.startHelper();                         // deploys dist/helper.js + addon once
// The cache folder is $BPF_LSM_CACHE (the runner sets it), else ~/.cache/bpf-lsm-studio.
import { GUEST_HELPER_ROOT, GUEST_USER } from '../vm/image';
import { VM_SSH_DESTINATION, readState, unreachableVmReason, vmSshOptions } from '../vm/machine';
import { helperChannelName, VmPaths, vmPaths } from '../vm/paths';
import { DEFAULT_VM_KERNEL, vmTargetId } from '../vm/kernels';
import { RemoteTarget } from './remote';

/** The built-in VM of `paths.kernelName` as a target: id `vm` for the default kernel, `vm:<kernel>` otherwise. */
export function vmTarget(paths: VmPaths = vmPaths()): RemoteTarget {
  const id = vmTargetId(paths.kernelName);
  const up = paths.kernelName === DEFAULT_VM_KERNEL ? 'bpf-lsm vm up' : `bpf-lsm vm up --kernel ${paths.kernelName}`;
  return new RemoteTarget({
    id,
    kind: 'vm',
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
  });
}
