// The VM's root filesystem: one uncompressed initramfs (the kernel copies it into RAM faster than it could
// decompress anything under TCG). It holds busybox, OpenSSH's sshd, node, bpftool, libbpf and their shared
// libraries, copied from this host, plus the virtio modules of the VM kernel. Nothing of the host is shared
// with the guest at run time: no host shell, nsswitch or PAM configuration leaks in.
import { execa } from 'execa';
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { basename } from 'node:path';
import { DAEMON_DIR, daemonStartLine } from '../../shared/helperDaemon';
import { CpioEntry } from './cpio';
import { KernelAssets } from './kernel';

/** Written to the serial console once sshd is listening; the boot waits for this line, not for a timer. */
export const READY_MARKER = 'bpf-lsm-vm: ready';
export const GUEST_IP = '10.0.2.15';
export const GUEST_GATEWAY = '10.0.2.2';
/**
 * The VM's unprivileged user (no password, no ssh key: root switches to it with `su user -c CMD`). Tests run
 * steps "as user" with it, and traced programs run as this user unless the client asks for root (the VM
 * target starts the helper with SUDO_UID/SUDO_GID naming it), so a traced program cannot signal the
 * helper or write into its streams.
 */
export const GUEST_USER = { name: 'user', uid: 1000, gid: 1000 } as const;
/** Where the helper is deployed inside the VM (root-owned, in RAM, so a fresh boot starts clean). */
export const GUEST_HELPER_ROOT = '/var/lib/bpf-lsm-studio/helper';

export interface HostTools {
  readonly busybox: string;
  readonly sshd: string;
  readonly node: string;
  readonly bpftool: string;
  readonly libbpf: string;
  /**
   * Ordinary dynamically linked programs shipped at their host paths (coreutils ls, cat, id; strace when
   * installed), so a trace in the VM shows what it shows on a real system: the loader and libc being
   * opened and mapped, not one static busybox. They shadow busybox's applets of the same name on PATH.
   */
  readonly programs?: readonly string[];
}

/**
 * Guest programs: the required ones by the Debian package that has them, the others shipped when the host
 * has them. util-linux's setpriv (busybox's has no --pdeathsig) lets the helper have the kernel kill what it
 * spawned if the helper itself is killed (processes.ts).
 */
export const GUEST_PROGRAMS = {
  required: { '/usr/bin/ls': 'coreutils', '/usr/bin/cat': 'coreutils', '/usr/bin/id': 'coreutils', '/usr/bin/setpriv': 'util-linux' },
  optional: ['/usr/bin/strace'],
} as const;

/** Parses `ldd` output into the absolute library paths a binary loads (the vDSO has no file and is skipped). */
export function parseLdd(output: string, binary: string): string[] {
  const libs: string[] = [];
  for (const line of output.split('\n')) {
    const t = line.trim();
    if (!t || /not a dynamic executable|statically linked/.test(t)) continue;
    const missing = /^(\S+) => not found/.exec(t);
    if (missing) throw new Error(`${binary} needs ${missing[1]}, which is not installed on this machine`);
    const arrow = /=>\s*(\/\S+)/.exec(t);
    if (arrow) libs.push(arrow[1]);
    else if (t.startsWith('/')) libs.push(t.split(/\s/)[0]);
  }
  return libs;
}

export async function sharedLibraries(binary: string): Promise<string[]> {
  const r = await execa('ldd', [binary], { reject: false });
  // ldd exits 1 for static binaries ("not a dynamic executable"); that is an empty list, not an error.
  if (r.exitCode !== 0 && !/not a dynamic executable/.test(String(r.stdout) + String(r.stderr))) {
    throw new Error(`ldd ${binary} failed: ${String(r.stderr).trim()}`);
  }
  return parseLdd(String(r.stdout), binary);
}

function firstExisting(candidates: readonly string[]): string | undefined {
  return candidates.find((c) => c && existsSync(c));
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin'])) {
    if (dir && existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return undefined;
}

/**
 * The node binary to ship (and to run a local helper with): `$BPF_LSM_VM_NODE`, else `node` on PATH, else
 * this process's node unless it is Electron (the VS Code extension host). PATH first, so the CLI and the
 * editor (whose own node may be a private copy) build the same image instead of rebuilding it in turns.
 */
export function hostNode(): string | undefined {
  if (process.env.BPF_LSM_VM_NODE) return process.env.BPF_LSM_VM_NODE;
  const path = onPath('node');
  if (path) return realpathSync(path);
  if (!process.versions.electron && basename(process.execPath).startsWith('node')) return process.execPath;
  return undefined;
}

/** Finds the host programs the image is made of; a missing one fails with the Debian package to install. */
export function findHostTools(): HostTools {
  const missing: string[] = [];
  const need = (what: string, pkg: string, path: string | undefined) => {
    if (!path) missing.push(`${what} (Debian package ${pkg})`);
    return path ?? '';
  };
  const tools = {
    busybox: need('busybox', 'busybox-static', firstExisting(['/bin/busybox', '/usr/bin/busybox', onPath('busybox') ?? ''])),
    sshd: need('sshd', 'openssh-server', firstExisting(['/usr/sbin/sshd', onPath('sshd') ?? ''])),
    node: need('node', 'nodejs', hostNode()),
    bpftool: need('bpftool', 'bpftool', firstExisting(['/usr/sbin/bpftool', onPath('bpftool') ?? ''])),
    libbpf: need('libbpf.so.1', 'libbpf1', firstExisting(['/usr/lib/x86_64-linux-gnu/libbpf.so.1', '/lib/x86_64-linux-gnu/libbpf.so.1', '/usr/lib64/libbpf.so.1', '/usr/lib/libbpf.so.1'])),
  };
  const programs = [
    ...Object.entries(GUEST_PROGRAMS.required).map(([p, pkg]) => need(p, pkg, firstExisting([p]))),
    ...GUEST_PROGRAMS.optional.filter((p) => existsSync(p)),
  ];
  if (missing.length) throw new Error(`the VM image is built from programs on this machine, and these are missing: ${missing.join(', ')}. Install them and retry.`);
  // Ubuntu's /usr/sbin/bpftool is a shell wrapper around a per-kernel binary; ship the real one.
  const head = readFileSync(tools.bpftool).subarray(0, 2).toString('latin1');
  if (head === '#!') throw new Error(`${tools.bpftool} is a wrapper script, not bpftool itself; install Debian's bpftool package or put a bpftool binary on PATH first`);
  return { ...tools, programs };
}

/** The helper of this build (dist/helper.js and its addon), shipped in the image and started as it boots. */
export interface ImageHelper {
  /** The deployment folder's name (deploy.ts): a client finds the daemon of its own version running. */
  readonly version: string;
  readonly helperJs: string;
  readonly addon: string;
}

export interface ImageInputs {
  readonly kernel: KernelAssets;
  /** Absent when no helper is built: a client then deploys and starts it, as for an image of another build. */
  readonly helper?: ImageHelper;
  readonly tools: HostTools;
  /** Every shared library the tools load, as ldd reported them. */
  readonly libraries: readonly string[];
  readonly busyboxApplets: readonly string[];
  readonly hostKey: Buffer;
  readonly hostKeyPub: Buffer;
  readonly authorizedKey: Buffer;
}

/** Where the image puts the helper of `helper`'s version: the folder a client's deployment would use. */
export function imageHelperDir(helper: Pick<ImageHelper, 'version'>): string {
  return `${GUEST_HELPER_ROOT}/${helper.version}`;
}

export function initScript(kernel: KernelAssets, helper?: Pick<ImageHelper, 'version'>): string {
  const modules = kernel.modules.map((m) => basename(m));
  // As vmDaemon.ts's START_SCRIPT starts it; traced programs run as the VM's user.
  const daemon = helper
    ? `# The helper daemon of this build starts once the VM is ready (node takes about a second to start under TCG,
# which would delay sshd); a client finds it running instead of deploying and starting it.
mkdir -p -m 700 ${DAEMON_DIR}
${daemonStartLine(`${imageHelperDir(helper)}/helper.js`, String(GUEST_USER.uid), String(GUEST_USER.gid))}
`
    : '';
  return `#!/bin/sh
# Generated by BPF-LSM Studio: brings up the private BPF-LSM test VM. Runs once from busybox init.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
say() { echo "bpf-lsm-vm: $*" > /dev/console; }
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t securityfs securityfs /sys/kernel/security
mount -t bpf bpf /sys/fs/bpf
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mkdir -p /run/sshd /tmp ${GUEST_HELPER_ROOT} /home/${GUEST_USER.name}
chmod 1777 /tmp
# Every file of the initramfs belongs to root; the unprivileged user's home is its own.
chown ${GUEST_USER.uid}:${GUEST_USER.uid} /home/${GUEST_USER.name} && chmod 0755 /home/${GUEST_USER.name}
hostname bpf-lsm-vm
# No modules.dep in the image: the order below was computed from each module's .modinfo when it was built.
for m in ${modules.join(' ')}; do
  insmod /lib/modules/${kernel.release}/$m || say "insmod $m failed"
done
ip link set lo up
ip addr add ${GUEST_IP}/24 dev eth0 && ip link set eth0 up && ip route add default via ${GUEST_GATEWAY} || say "network setup failed"
/usr/sbin/sshd -E /run/sshd.log || say "sshd failed to start: $(cat /run/sshd.log)"
say "ready $(uname -r) lsm=$(cat /sys/kernel/security/lsm)"
${daemon}`;
}

const SSHD_CONFIG = `# Generated by BPF-LSM Studio. The VM is a private test box reachable only on 127.0.0.1: root logs in by key.
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
# No PAM stack in the image, and no resolver to wait for.
UsePAM no
UseDNS no
# Files in an initramfs belong to root but the check would still trip over /root's mode on some hosts.
StrictModes no
PrintMotd no
AcceptEnv LANG LC_*
Subsystem sftp internal-sftp
`;

const text = (s: string) => Buffer.from(s, 'utf8');

/** Every entry of the image, in archive order. Pure: the caller supplies host file paths and contents. */
export function imagePlan(inputs: ImageInputs): CpioEntry[] {
  const { kernel, tools } = inputs;
  const entries: CpioEntry[] = [];
  for (const dir of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc/ssh', 'proc', 'sys', 'dev', 'run', 'var/empty', 'var/lib', 'mnt', 'home']) {
    entries.push({ kind: 'dir', path: dir });
  }
  entries.push({ kind: 'dir', path: 'tmp', mode: 0o1777 });
  entries.push({ kind: 'dir', path: 'root', mode: 0o700 });
  entries.push({ kind: 'chardev', path: 'dev/console', mode: 0o600, major: 5, minor: 1 });
  entries.push({ kind: 'chardev', path: 'dev/null', mode: 0o666, major: 1, minor: 3 });
  entries.push({ kind: 'hostFile', path: 'bin/busybox', mode: 0o755, source: tools.busybox });
  entries.push({ kind: 'hostFile', path: 'usr/sbin/sshd', mode: 0o755, source: tools.sshd });
  entries.push({ kind: 'hostFile', path: 'usr/bin/node', mode: 0o755, source: tools.node });
  entries.push({ kind: 'hostFile', path: 'usr/sbin/bpftool', mode: 0o755, source: tools.bpftool });
  for (const p of tools.programs ?? []) entries.push({ kind: 'hostFile', path: p.replace(/^\//, ''), mode: 0o755, source: realpathSync(p) });
  // Libraries go where ldd found them so the guest's loader finds them on its default search path.
  // A versioned library keeps its symlink (libbpf.so.1 -> libbpf.so.1.1.2) so its version stays visible.
  for (const lib of [tools.libbpf, ...inputs.libraries]) {
    const real = realpathSync(lib);
    const sameDir = real.slice(0, real.lastIndexOf('/')) === realpathSync(lib.slice(0, lib.lastIndexOf('/')) || '/');
    if (sameDir && basename(real) !== basename(lib)) {
      const dir = lib.slice(0, lib.lastIndexOf('/'));
      entries.push({ kind: 'hostFile', path: `${dir}/${basename(real)}`, mode: 0o755, source: real });
      entries.push({ kind: 'symlink', path: lib, target: basename(real) });
    } else {
      entries.push({ kind: 'hostFile', path: lib, mode: 0o755, source: real });
    }
  }
  for (const m of kernel.modules) entries.push({ kind: 'hostFile', path: `lib/modules/${kernel.release}/${basename(m)}`, mode: 0o644, source: m });
  entries.push({ kind: 'hostFile', path: `boot/config-${kernel.release}`, mode: 0o644, source: kernel.config });

  entries.push({ kind: 'symlink', path: 'init', target: '/bin/busybox' });
  entries.push({ kind: 'file', path: 'etc/inittab', mode: 0o644, data: text('::sysinit:/etc/rc.vm\n::ctrlaltdel:/bin/poweroff -f\n::shutdown:/bin/umount -a -r\n') });
  if (inputs.helper) {
    // In its deployment folder: what init starts, and what a client's deployment check then finds in place.
    const dir = imageHelperDir(inputs.helper).slice(1);
    entries.push({ kind: 'hostFile', path: `${dir}/helper.js`, mode: 0o644, source: inputs.helper.helperJs });
    entries.push({ kind: 'hostFile', path: `${dir}/native/bpflsm.node`, mode: 0o755, source: inputs.helper.addon });
  }
  entries.push({ kind: 'file', path: 'etc/rc.vm', mode: 0o755, data: text(initScript(kernel, inputs.helper)) });
  entries.push({ kind: 'file', path: 'etc/passwd', mode: 0o644, data: text(`root:x:0:0:root:/root:/bin/sh\nsshd:x:100:65534:sshd privilege separation:/run/sshd:/bin/false\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n${GUEST_USER.name}:x:${GUEST_USER.uid}:${GUEST_USER.uid}:unprivileged test user:/home/${GUEST_USER.name}:/bin/sh\n`) });
  entries.push({ kind: 'file', path: 'etc/group', mode: 0o644, data: text(`root:x:0:\nnogroup:x:65534:\n${GUEST_USER.name}:x:${GUEST_USER.uid}:\n`) });
  // "*" is no password (key login still works); "!" would make sshd treat root as locked.
  entries.push({ kind: 'file', path: 'etc/shadow', mode: 0o600, data: text(`root:*:19000:0:99999:7:::\nsshd:*:19000:0:99999:7:::\nnobody:*:19000:0:99999:7:::\n${GUEST_USER.name}:*:19000:0:99999:7:::\n`) });
  entries.push({ kind: 'file', path: 'etc/nsswitch.conf', mode: 0o644, data: text('passwd: files\ngroup: files\nshadow: files\nhosts: files\n') });
  entries.push({ kind: 'file', path: 'etc/hosts', mode: 0o644, data: text('127.0.0.1 localhost bpf-lsm-vm\n') });
  entries.push({ kind: 'file', path: 'etc/hostname', mode: 0o644, data: text('bpf-lsm-vm\n') });
  entries.push({ kind: 'file', path: 'etc/ssh/sshd_config', mode: 0o644, data: text(SSHD_CONFIG) });
  entries.push({ kind: 'file', path: 'etc/ssh/ssh_host_ed25519_key', mode: 0o600, data: inputs.hostKey });
  entries.push({ kind: 'file', path: 'etc/ssh/ssh_host_ed25519_key.pub', mode: 0o644, data: inputs.hostKeyPub });
  entries.push({ kind: 'dir', path: 'root/.ssh', mode: 0o700 });
  entries.push({ kind: 'file', path: 'root/.ssh/authorized_keys', mode: 0o600, data: inputs.authorizedKey });
  // Applets last: the archive keeps the first entry of a path, so a real program shipped at the same path
  // (busybox also offers usr/bin/id, bin/ls, ...) wins over the busybox link.
  for (const applet of inputs.busyboxApplets) {
    if (applet === 'bin/busybox' || applet === '/bin/busybox') continue;
    entries.push({ kind: 'symlink', path: applet, target: '/bin/busybox' });
  }
  return entries;
}

/** What the image was built from; a change in any of these (a node upgrade, a new key) rebuilds it. */
export function imageFingerprint(inputs: ImageInputs, formatVersion: number): string {
  const files = [inputs.tools.busybox, inputs.tools.sshd, inputs.tools.node, inputs.tools.bpftool, inputs.tools.libbpf, ...(inputs.tools.programs ?? []), ...inputs.libraries].map((f) => {
    const st = statSync(realpathSync(f));
    return `${f}:${st.size}:${Math.round(st.mtimeMs)}`;
  });
  return JSON.stringify({
    formatVersion,
    kernel: `${inputs.kernel.package}=${inputs.kernel.version}`,
    modules: inputs.kernel.modules.map((m) => basename(m)),
    files,
    helper: inputs.helper?.version ?? null,
    hostKey: inputs.hostKeyPub.toString().trim(),
    authorizedKey: inputs.authorizedKey.toString().trim(),
  });
}
