// What the target can do, probed from the helper (as root, on the target itself). Each missing piece comes
// with the remedy a user can act on; the client shows these in "Check Target".
import { existsSync, readFileSync } from 'node:fs';
import { release, arch } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { Capabilities, CapabilityCheck } from '../shared/helperProtocol';

function onPath(tool: string): string | undefined {
  for (const dir of (process.env.PATH ?? '/usr/bin:/bin').split(':').concat(['/usr/sbin', '/sbin', '/usr/local/sbin'])) {
    if (dir && existsSync(join(dir, tool))) return join(dir, tool);
  }
  return undefined;
}

/**
 * The running kernel's config, read once per process: it cannot change while the kernel runs, and the VM's
 * helper daemon answers every session's hello (gunzipping /proc/config.gz costs tens of ms under TCG).
 */
let configOf: { rel: string; text: string | undefined } | undefined;
function kernelConfig(rel: string): string | undefined {
  if (configOf?.rel !== rel) configOf = { rel, text: readKernelConfig(rel) };
  return configOf.text;
}

/** The kernel config: /proc/config.gz (CONFIG_IKCONFIG_PROC) or /boot/config-<release>. */
function readKernelConfig(rel: string): string | undefined {
  try {
    if (existsSync('/proc/config.gz')) return gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    // fall through to /boot
  }
  for (const p of [`/boot/config-${rel}`, `/lib/modules/${rel}/config`]) {
    try {
      return readFileSync(p, 'utf8');
    } catch {
      // try the next location
    }
  }
  return undefined;
}

export function probeCapabilities(native: { ok: true; version: string } | { ok: false; error: string }): Capabilities {
  const rel = release();
  let lsmList = '';
  let lsmReadable = true;
  try {
    lsmList = readFileSync('/sys/kernel/security/lsm', 'utf8').trim();
  } catch {
    lsmReadable = false;
  }
  const bpfActive = lsmList.split(',').includes('bpf');
  const bpfLsmActive: CapabilityCheck = bpfActive
    ? { ok: true, detail: lsmList }
    : {
        ok: false,
        detail: lsmReadable ? lsmList || '(empty)' : '/sys/kernel/security/lsm is not readable (securityfs not mounted?)',
        remedy: lsmReadable
          ? `add bpf to the kernel's LSM list: boot with lsm=${lsmList ? `${lsmList},bpf` : 'lockdown,capability,bpf'} (e.g. GRUB_CMDLINE_LINUX in /etc/default/grub, then update-grub and reboot)`
          : 'mount securityfs (mount -t securityfs securityfs /sys/kernel/security) and check again',
      };
  const config = kernelConfig(rel);
  const configLine = config?.split('\n').find((l) => l.startsWith('CONFIG_BPF_LSM=') || l.startsWith('# CONFIG_BPF_LSM '));
  const configOk = configLine === 'CONFIG_BPF_LSM=y';
  const configBpfLsm = config
    ? {
        ok: configOk,
        known: true,
        detail: configLine ?? 'CONFIG_BPF_LSM not set',
        ...(configOk ? {} : { remedy: 'this kernel is built without CONFIG_BPF_LSM; use a kernel that has it (Debian 11+ and Ubuntu 20.10+ kernels do)' }),
      }
    : {
        // Without a readable config, an active bpf LSM proves the option is on.
        ok: bpfActive,
        known: bpfActive,
        detail: bpfActive ? 'implied by bpf in the active LSM list' : 'kernel config not readable (/proc/config.gz, /boot/config-*)',
        ...(bpfActive ? {} : { remedy: 'install the kernel config (/boot/config-<release>) or check that your kernel has CONFIG_BPF_LSM=y' }),
      };
  const btfPresent = existsSync('/sys/kernel/btf/vmlinux');
  const btf: CapabilityCheck = btfPresent
    ? { ok: true, detail: '/sys/kernel/btf/vmlinux' }
    : { ok: false, detail: 'no /sys/kernel/btf/vmlinux', remedy: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y (needed for CO-RE and LSM attach)' };
  const libbpf: CapabilityCheck = native.ok
    ? { ok: true, detail: native.version }
    : { ok: false, detail: native.error, remedy: 'install libbpf on the target (Debian: apt-get install libbpf1 libelf1 zlib1g) and redeploy the helper' };
  const clangPath = onPath('clang');
  const bpftoolPath = onPath('bpftool');
  const clang: CapabilityCheck = clangPath
    ? { ok: true, detail: clangPath }
    : { ok: false, detail: 'not found', remedy: 'optional on the target (probes are built on your machine); to build there: apt-get install clang llvm' };
  const bpftool: CapabilityCheck = bpftoolPath
    ? { ok: true, detail: bpftoolPath }
    : { ok: false, detail: 'not found', remedy: 'optional; to inspect programs and generate vmlinux.h on the target: apt-get install bpftool' };
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const root: CapabilityCheck = isRoot
    ? { ok: true, detail: 'uid 0' }
    : { ok: false, detail: `uid ${process.getuid?.() ?? '?'}`, remedy: 'start the helper as root (sudo -n node helper.js); allow it with a sudoers rule or use a root ssh login for the target' };
  return {
    kernelRelease: rel,
    arch: arch(),
    bpfLsmActive,
    configBpfLsm,
    btf,
    libbpf,
    clang,
    bpftool,
    root,
    canRunLsm: bpfLsmActive.ok && configBpfLsm.ok && btf.ok && libbpf.ok && root.ok,
  };
}
