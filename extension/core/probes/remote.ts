// Build Probe on the target, for machines without clang (e.g. a laptop editing for a lab box): the probe
// and the headers next to it are copied to the target, vmlinux.h is generated there from its own BTF,
// clang runs there, and the object comes back base64 over the exec channel (targets have no copy-back).
// Diagnostics are mapped back to the local files.
//
// The object is loaded by the root helper, so nothing another user of the target controls may reach it:
// each build gets its own folder from `mktemp -d` (mode 0700, checked to be ours and not a symlink before
// anything is copied in), the probe's folder is searched for "quoted" includes only (`-iquote`, so a
// planted bpf/bpf_helpers.h cannot shadow the system's), and the folder is removed when the build ends.
import { readdirSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Target } from '../target';
import { parseClangDiagnostics, type ProbeBuild } from './result';
import { writeFileAtomic } from '../../shared/atomicWrite';

const MARK = 'BPF-LSM-OBJECT:';

export async function buildOnTarget(target: Target, source: string, objectPath: string): Promise<ProbeBuild> {
  const dir = dirname(source);
  const name = basename(source);
  const headers = readdirSync(dir).filter((f) => f.endsWith('.h') && f !== 'vmlinux.h');
  const remote = await privateBuildDir(target);
  try {
    await target.copyTo([name, ...headers].map((f) => ({ local: join(dir, f), remote: `${remote}/${f}` })));
  } catch (err) {
    await removeBuildDir(target, remote);
    throw err;
  }
  const args = ['-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-fno-color-diagnostics', '-iquote', '.', '-c', name, '-o', 'probe.o'];
  // vmlinux.h is regenerated per build: the target's kernel may have changed since the last one.
  const script = `trap 'cd / && rm -rf -- "$0"' EXIT; cd "$0" && bpftool btf dump file /sys/kernel/btf/vmlinux format c > vmlinux.h && clang "$@" && echo "${MARK}$(base64 -w0 probe.o)"`;
  const r = await target.exec('sh', ['-c', script, remote, ...args], { timeoutMs: 300_000 });
  const output = r.stderr;
  // clang names files relative to the remote folder ("probe.bpf.c:3:1: ..."), or by the remote path.
  const local = (f: string) => (f.startsWith(`${remote}/`) ? join(dir, f.slice(remote.length + 1)) : f.startsWith('/') ? f : join(dir, f));
  const diagnostics = parseClangDiagnostics(output).map((d) => ({ ...d, file: local(d.file) }));
  const command = ['clang', ...args];
  const line = r.stdout.split('\n').find((l) => l.startsWith(MARK));
  if (r.exitCode !== 0 || !line) {
    if (/not found|No such file/.test(output) && !diagnostics.length) {
      throw new Error(`neither this machine nor ${target.id} can build probes: install clang (and bpftool, libbpf-dev) on one of them. The target said: ${output.trim().split('\n').slice(-2).join(' ')}`);
    }
    if (!diagnostics.some((d) => d.severity === 'error')) diagnostics.push({ file: source, line: 1, column: 1, severity: 'error', message: `clang on ${target.id} failed: ${output.trim().split('\n').slice(-3).join(' ') || `exit code ${r.exitCode}`}` });
    return { ok: false, objectPath, diagnostics, output, command, vmlinuxDir: remote };
  }
  writeFileAtomic(objectPath, Buffer.from(line.slice(MARK.length), 'base64'));
  return { ok: true, objectPath, diagnostics, output, command, vmlinuxDir: remote };
}

/** Prints the new folder only when it is a real folder, owned by the login user, with mode 700. */
const MKDIR_SCRIPT = 'umask 077; d=$(mktemp -d -t bpf-lsm-build.XXXXXXXXXX) || exit 1; ' +
  'if [ -d "$d" ] && [ ! -L "$d" ] && [ -O "$d" ] && [ "$(stat -c %a "$d")" = 700 ]; then printf %s "$d"; else echo "$d is not a private folder" >&2; exit 1; fi';

/** A fresh folder only the login user can enter, for one build. */
export async function privateBuildDir(target: Target): Promise<string> {
  const r = await target.exec('sh', ['-c', MKDIR_SCRIPT]);
  const dir = r.stdout.trim();
  if (r.exitCode !== 0 || !/^\/[^\0\n]*\/bpf-lsm-build\.[A-Za-z0-9]{10}$/.test(dir)) {
    throw new Error(`could not create a private build folder on ${target.id} (mktemp -d, mode 0700): ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  }
  return dir;
}

async function removeBuildDir(target: Target, dir: string): Promise<void> {
  await target.exec('rm', ['-rf', '--', dir]).catch(() => undefined);
}
