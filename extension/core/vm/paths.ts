// Where the VM lives on disk: `$BPF_LSM_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/bpf-lsm-studio`, with the
// default (6.1) kernel's VM under `vm/` and every other kernel's under `vm-<kernel>/` (e.g. `vm-6.12/`), so each
// kernel has its own assets, keys and run state. Assets (kernel, keys, image) are prepared once; `run/` holds
// the state of a running VM.
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { chmodSync, lstatSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_VM_KERNEL, VmKernel } from './kernels';

import { cacheRoot } from '../../shared/cacheRoot';

export { cacheRoot };

export interface VmPaths {
  /** The kernel this VM boots (its cache folder is that kernel's). */
  readonly kernelName: VmKernel;
  readonly root: string;
  readonly downloads: string;
  readonly kernel: string;
  readonly keys: string;
  /** The key the product logs into the VM with (root, key only). */
  readonly clientKey: string;
  readonly hostKey: string;
  /** known_hosts with the VM's own host key under the alias `bpf-lsm-vm`, so the changing port never matters. */
  readonly knownHosts: string;
  readonly image: string;
  readonly imageMeta: string;
  readonly run: string;
  readonly state: string;
  readonly console: string;
  readonly pidFile: string;
  readonly monitor: string;
  readonly sshControl: string;
  /** qemu's ends of the helper channels (virtio-serial ports), one unix socket each; see ../targets/vmChannel.ts. */
  readonly helperChannels: readonly string[];
  readonly lock: string;
}

/** How many helper channels the VM has: one per concurrently connected helper (trace, probe, policy, CLI runs). */
export const HELPER_CHANNELS = 8;

/** The name of helper channel `i` inside the guest (/sys/class/virtio-ports/<port>/name). */
export const helperChannelName = (i: number) => `org.bpf-lsm-studio.helper.${i}`;

/**
 * The folder long socket paths move to: `$XDG_RUNTIME_DIR/bpf-lsm-studio` (per user, on tmpfs, 0700 by
 * systemd), else `<tmp>/bpf-lsm-<uid>`. Fixed per user so another process (the CLI, a second window) finds
 * the same sockets; private so nobody else can plant or reach them (the qemu monitor runs host commands).
 */
export function socketDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_RUNTIME_DIR && env.XDG_RUNTIME_DIR.startsWith('/')) return join(env.XDG_RUNTIME_DIR, 'bpf-lsm-studio');
  return join(tmpdir(), `bpf-lsm-${typeof process.getuid === 'function' ? process.getuid() : 'user'}`);
}

/**
 * Unix socket paths are limited to 108 bytes; a deep cache folder would silently break qemu's monitor and
 * ssh's control socket, so long ones move to socketDir() under a name derived from the real one. Callers
 * make the socket's folder with privateDir() before anything listens there.
 */
export function socketPath(preferred: string, env: NodeJS.ProcessEnv = process.env): string {
  if (Buffer.byteLength(preferred) <= 100) return preferred;
  const tag = createHash('sha256').update(preferred).digest('hex').slice(0, 16);
  return join(socketDir(env), `${tag}.sock`);
}

/**
 * Creates `dir` (mode 0700) when it is missing and checks that it is a real folder owned by this user that
 * nobody else can enter. A folder someone else made first (or a symlink planted in its place) is refused,
 * never used.
 */
export function privateDir(dir: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let st = lstatSync(dir);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (!st.isDirectory() || st.uid !== uid) {
    throw new Error(`${dir} is not a private folder of this user (${st.isSymbolicLink() ? 'a symlink' : `owner uid ${st.uid}`}); sockets that reach the VM or an ssh host cannot go there. Remove it, or set XDG_RUNTIME_DIR to a folder of yours`);
  }
  if (st.mode & 0o077) {
    chmodSync(dir, 0o700);
    st = lstatSync(dir);
  }
  return dir;
}

export function vmPaths(env: NodeJS.ProcessEnv = process.env, kernelName: VmKernel = DEFAULT_VM_KERNEL): VmPaths {
  const root = join(cacheRoot(env), kernelName === DEFAULT_VM_KERNEL ? 'vm' : `vm-${kernelName}`);
  const keys = join(root, 'keys');
  const run = join(root, 'run');
  return {
    kernelName,
    root,
    downloads: join(root, 'downloads'),
    kernel: join(root, 'kernel'),
    keys,
    clientKey: join(keys, 'id_ed25519'),
    hostKey: join(keys, 'ssh_host_ed25519_key'),
    knownHosts: join(keys, 'known_hosts'),
    image: join(root, 'initramfs.cpio'),
    imageMeta: join(root, 'initramfs.json'),
    run,
    state: join(run, 'state.json'),
    console: join(run, 'console.log'),
    pidFile: join(run, 'qemu.pid'),
    monitor: socketPath(join(run, 'monitor.sock'), env),
    sshControl: socketPath(join(run, 'ssh.sock'), env),
    helperChannels: Array.from({ length: HELPER_CHANNELS }, (_, i) => socketPath(join(run, `helper-${i}.sock`), env)),
    lock: join(root, 'lock'),
  };
}

export const VM_HOST_ALIAS = 'bpf-lsm-vm';
