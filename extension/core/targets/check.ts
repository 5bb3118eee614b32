// "Check Target" / `bpf-lsm check`: can this target run BPF-LSM programs, and if not, exactly what to do.
// One shell probe runs on the target (a single ssh round trip), its sections are parsed here, and each
// check is judged by pure functions so every remedy is unit-tested without a kernel.
import { catalogFromBuffer } from '../../shared/hooks/catalog';
import { Target } from '../target';
import { runProgram } from './process';
import { localPrivilegeSetup, type LocalPrivilegeSetup } from './local';
import { countAttachableHooks } from '../attachCount';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'unknown';

export interface CheckResult {
  readonly id: string;
  readonly title: string;
  readonly status: CheckStatus;
  /** What was found. */
  readonly detail: string;
  /** For anything but ok: the exact thing to do. */
  readonly remedy?: string;
}

export interface HookCounts {
  /** LSM hooks in the target's BTF (bpf_lsm_* functions that are hooks). */
  readonly total: number;
  /** Hooks the kernel's version rules refuse BPF programs on. */
  readonly refusedByRules: number;
  /** Hooks that really attached when tried through the helper; null when not measured. */
  readonly attached: number | null;
  /** Why `attached` is null. */
  readonly attachNote?: string;
  /** Hooks that did not attach when tried, with the kernel's reason. */
  readonly refused?: ReadonlyArray<{ hook: string; reason: string }>;
  readonly attachMs?: number;
}

export interface CheckReport {
  readonly target: string;
  readonly kernelRelease?: string;
  readonly lsm?: string[];
  readonly btf: boolean;
  readonly hooks?: HookCounts;
  readonly checks: CheckResult[];
  /** No check failed: LSM programs can be loaded and attached and will fire. */
  readonly ok: boolean;
}

/** The probe: one `@@name` section per fact. It only reads, never changes the target. */
export const PROBE_SCRIPT = `PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
sec() { printf '\\n@@%s\\n' "$1"; }
sec release; uname -r
sec version; cat /proc/version
sec uid; id -u
sec lsm
if [ -r /sys/kernel/security/lsm ]; then cat /sys/kernel/security/lsm
elif ! grep -q ' /sys/kernel/security securityfs ' /proc/mounts 2>/dev/null; then echo '!unmounted'
else echo '!unreadable'; fi
sec config
c=/boot/config-$(uname -r)
if [ -r "$c" ]; then grep -E '^CONFIG_(BPF_LSM|DEBUG_INFO_BTF|BPF_SYSCALL|BPF_JIT)=' "$c"
elif [ -r /proc/config.gz ]; then zcat /proc/config.gz | grep -E '^CONFIG_(BPF_LSM|DEBUG_INFO_BTF|BPF_SYSCALL|BPF_JIT)='
else echo '!none'; fi
sec btf
if [ -r /sys/kernel/btf/vmlinux ]; then wc -c < /sys/kernel/btf/vmlinux; else echo '!missing'; fi
sec cmdline; cat /proc/cmdline
sec lockdown; cat /sys/kernel/security/lockdown 2>/dev/null
sec sudo
if [ "$(id -u)" = 0 ]; then echo root
elif command -v sudo >/dev/null 2>&1; then if sudo -n true 2>/dev/null; then echo ok; else echo '!password'; fi
else echo '!nosudo'; fi
sec bpftool; bpftool version 2>/dev/null | head -n 2
sec libbpf
for f in /usr/lib/*/libbpf.so.1 /lib/*/libbpf.so.1 /usr/lib64/libbpf.so.1 /usr/lib/libbpf.so.1; do [ -e "$f" ] && readlink -f "$f"; done | head -n 1
sec node; node --version 2>/dev/null
sec end
`;

/** Splits probe output into its sections (trimmed text by name). */
export function parseProbe(output: string): Map<string, string> {
  const sections = new Map<string, string>();
  let name: string | undefined;
  let lines: string[] = [];
  for (const line of output.split('\n')) {
    const m = /^@@([a-z]+)$/.exec(line);
    if (m) {
      if (name) sections.set(name, lines.join('\n').trim());
      name = m[1];
      lines = [];
    } else if (name) lines.push(line);
  }
  if (name) sections.set(name, lines.join('\n').trim());
  return sections;
}

/** The lsm= value to put on the kernel command line: the active list plus bpf (capability is implicit). */
export function lsmWithBpf(active: readonly string[]): string {
  const list = active.filter((l) => l && l !== 'capability' && l !== 'bpf');
  const base = list.length ? list : ['landlock', 'lockdown', 'yama', 'integrity', 'apparmor'];
  return [...base, 'bpf'].join(',');
}

export interface EvaluateContext {
  readonly targetId: string;
  readonly kind: Target['kind'];
  /** For the local target: the root-owned helper install and the sudoers line that names it. */
  readonly localSetup?: LocalPrivilegeSetup;
  /** clang on the machine that builds probes (always this one). */
  readonly hostClang?: string;
  readonly hooks?: HookCounts;
  readonly hooksError?: string;
}

const VM_HINT = 'Or use the built-in VM, which has a BPF-LSM kernel: bpf-lsm vm up, then --target vm.';

export function evaluateProbe(probe: ReadonlyMap<string, string>, ctx: EvaluateContext): CheckReport {
  const checks: CheckResult[] = [];
  const add = (c: CheckResult) => checks.push(c);
  const release = probe.get('release') || undefined;
  add(release ? { id: 'kernel', title: 'Kernel release', status: 'ok', detail: release } : { id: 'kernel', title: 'Kernel release', status: 'fail', detail: 'uname -r printed nothing', remedy: 'Check that the target is a Linux machine.' });

  const config = probe.get('config') ?? '!none';
  const bpfLsmConfig = /^CONFIG_BPF_LSM=(\S+)/m.exec(config)?.[1];
  if (config === '!none') {
    add({ id: 'config', title: 'CONFIG_BPF_LSM', status: 'unknown', detail: `no /boot/config-${release ?? '<release>'} and no /proc/config.gz to read the kernel configuration from`, remedy: 'The bpf entry in the LSM list below shows whether BPF-LSM is active anyway.' });
  } else if (bpfLsmConfig === 'y') {
    add({ id: 'config', title: 'CONFIG_BPF_LSM', status: 'ok', detail: 'CONFIG_BPF_LSM=y' });
  } else {
    add({ id: 'config', title: 'CONFIG_BPF_LSM', status: 'fail', detail: 'this kernel was built without CONFIG_BPF_LSM', remedy: `Use a kernel built with CONFIG_BPF_LSM=y and CONFIG_DEBUG_INFO_BTF=y (Debian, Ubuntu 20.10+ and Fedora kernels are). ${VM_HINT}` });
  }

  const lsmRaw = probe.get('lsm') ?? '!unreadable';
  let lsm: string[] | undefined;
  if (lsmRaw === '!unmounted') {
    add({ id: 'lsm', title: 'bpf in the active LSM list', status: 'unknown', detail: 'securityfs is not mounted, so /sys/kernel/security/lsm cannot be read', remedy: 'Mount it: sudo mount -t securityfs securityfs /sys/kernel/security' });
  } else if (lsmRaw.startsWith('!')) {
    add({ id: 'lsm', title: 'bpf in the active LSM list', status: 'unknown', detail: '/sys/kernel/security/lsm is not readable', remedy: 'Run the check with a user that can read /sys/kernel/security/lsm.' });
  } else {
    lsm = lsmRaw.split(',').filter(Boolean);
    if (lsm.includes('bpf')) add({ id: 'lsm', title: 'bpf in the active LSM list', status: 'ok', detail: lsmRaw });
    else {
      const cmdline = probe.get('cmdline') ?? '';
      const has = /(^|\s)lsm=(\S*)/.exec(cmdline);
      const value = lsmWithBpf(lsm);
      add({
        id: 'lsm',
        title: 'bpf in the active LSM list',
        status: 'fail',
        detail: `active LSMs: ${lsmRaw}; without bpf, LSM programs load and attach but never run`,
        remedy:
          `${has ? `Replace lsm=${has[2]} with` : 'Add'} lsm=${value} on the kernel command line and reboot ` +
          `(GRUB: append it to GRUB_CMDLINE_LINUX in /etc/default/grub, then sudo update-grub). ${VM_HINT}`,
      });
    }
  }

  const btfRaw = probe.get('btf') ?? '!missing';
  const btf = !btfRaw.startsWith('!');
  add(btf
    ? { id: 'btf', title: 'Kernel BTF', status: 'ok', detail: `/sys/kernel/btf/vmlinux (${Math.round(Number(btfRaw) / 1024)} KiB)` }
    : { id: 'btf', title: 'Kernel BTF', status: 'fail', detail: '/sys/kernel/btf/vmlinux is missing', remedy: `Use a kernel built with CONFIG_DEBUG_INFO_BTF=y: hooks, CO-RE and the tracer all need it. ${VM_HINT}` });

  const uid = probe.get('uid') ?? '';
  // Completion, hover and diagnostics only read BTF; they must work without any privilege.
  add({
    id: 'unprivileged',
    title: 'Unprivileged access',
    status: btf ? 'ok' : 'warn',
    detail: `${uid === '0' ? 'logged in as root' : `uid ${uid || '?'}`}; kernel BTF ${btf ? 'readable without privileges (hooks, completion)' : 'not readable'}`,
    ...(btf ? {} : { remedy: 'Hook completion falls back to the BTF in the bpfLsm.btfPath setting.' }),
  });
  const sudo = probe.get('sudo') ?? '!nosudo';
  const setup = ctx.localSetup;
  const install = setup?.installProblem ? `Install the helper once into a folder only root can change: \`${setup.installCommand}\`. Then a` : 'A';
  if (sudo === 'root' || sudo === 'ok') {
    add({ id: 'privileged', title: 'Privileged access (helper as root)', status: 'ok', detail: sudo === 'root' ? 'runs as root' : 'sudo -n works without a password' });
  } else {
    const line = setup?.sudoersLine ?? 'USER ALL=(root) NOPASSWD: ALL';
    add({
      id: 'privileged',
      title: 'Privileged access (helper as root)',
      status: 'fail',
      detail: sudo === '!nosudo' ? 'not root and sudo is not installed' : 'sudo -n needs a password',
      remedy: sudo === '!nosudo' ? 'Install sudo (apt-get install sudo) and allow the helper: see the sudoers line in the documentation.' : `${install}dd this line with \`sudo visudo -f /etc/sudoers.d/bpf-lsm-studio\`: ${line}`,
    });
  }
  if (setup && sudo !== 'root') {
    // The narrow rule is only narrow when it names files the user cannot change.
    add({
      id: 'helperInstall',
      title: 'Root-owned helper install (for a narrow sudo rule)',
      status: setup.installProblem ? 'warn' : 'ok',
      detail: setup.installProblem ?? `installed; the rule to allow it: ${setup.sudoersLine}`,
      ...(setup.installProblem ? { remedy: `${install}llow it without a password: ${setup.sudoersLine}` } : {}),
    });
  }

  const lockdown = /\[(\w+)\]/.exec(probe.get('lockdown') ?? '')?.[1];
  if (lockdown === 'confidentiality') {
    add({ id: 'lockdown', title: 'Kernel lockdown', status: 'warn', detail: 'lockdown=confidentiality: BPF may not read kernel memory, so tracing loses most arguments', remedy: 'Boot with lockdown=integrity (or none), or disable Secure Boot lockdown for this test machine.' });
  }

  add(ctx.hostClang
    ? { id: 'clang', title: 'clang (builds probes, on this machine)', status: 'ok', detail: ctx.hostClang }
    : { id: 'clang', title: 'clang (builds probes, on this machine)', status: 'fail', detail: 'clang was not found on PATH', remedy: 'Install clang 14 or newer: sudo apt-get install clang llvm' });
  const bpftool = probe.get('bpftool') ?? '';
  add(bpftool
    ? { id: 'bpftool', title: 'bpftool', status: 'ok', detail: bpftool.split('\n').join('; ') }
    : { id: 'bpftool', title: 'bpftool', status: 'warn', detail: 'not found on the target (only used for diagnostics and the hook count)', remedy: 'Install it: sudo apt-get install bpftool (Debian), or linux-tools-common and linux-tools-$(uname -r) (Ubuntu).' });
  const libbpf = probe.get('libbpf') ?? '';
  add(libbpf
    ? { id: 'libbpf', title: 'libbpf', status: 'ok', detail: /libbpf\.so\.([\d.]+)$/.exec(libbpf)?.[1] ?? libbpf }
    : { id: 'libbpf', title: 'libbpf', status: 'fail', detail: 'libbpf.so.1 was not found on the target; the helper needs it', remedy: 'Install it: sudo apt-get install libbpf1 (Debian 12, Ubuntu 22.04+).' });
  if (ctx.kind !== 'local') {
    const node = probe.get('node') ?? '';
    add(node
      ? { id: 'node', title: 'node on the target (runs the helper)', status: 'ok', detail: node }
      : { id: 'node', title: 'node on the target (runs the helper)', status: 'fail', detail: 'node was not found on the target', remedy: 'Install Node.js 18 or newer on the target (sudo apt-get install nodejs).' });
  }

  if (ctx.hooks) {
    const h = ctx.hooks;
    add({
      id: 'hooks',
      title: 'LSM hooks',
      status: h.total > 0 ? 'ok' : 'fail',
      detail: `${h.total} hooks in BTF; ${h.total - h.refusedByRules} attachable by the kernel's rules (${h.refusedByRules} refused)`,
      ...(h.total > 0 ? {} : { remedy: 'The BTF has no bpf_lsm_* hooks: the kernel lacks CONFIG_BPF_LSM.' }),
    });
    add(h.attached === null
      ? { id: 'attach', title: 'Hooks that attach', status: 'unknown', detail: `not measured: ${h.attachNote ?? 'no helper'}` }
      : {
          id: 'attach',
          title: 'Hooks that attach',
          status: h.attached > 0 ? 'ok' : 'fail',
          detail: `${h.attached} of ${h.total} attached${h.attachMs !== undefined ? ` in ${(h.attachMs / 1000).toFixed(1)} s` : ''}${h.refused?.length ? `; refused: ${h.refused.map((r) => r.hook).join(', ')}` : ''}`,
          ...(h.attached > 0 ? {} : { remedy: 'No program attached: check bpf in the LSM list and the helper log (BPF-LSM: Show Output).' }),
        });
  } else if (btf) {
    add({ id: 'hooks', title: 'LSM hooks', status: 'unknown', detail: `not counted: ${ctx.hooksError ?? 'unknown reason'}` });
  }

  return {
    target: ctx.targetId,
    kernelRelease: release,
    lsm,
    btf,
    hooks: ctx.hooks,
    checks,
    // Ready means proven ready: an LSM list we could not read is not taken as containing bpf.
    ok: checks.every((c) => c.status !== 'fail') && checks.some((c) => c.id === 'lsm' && c.status === 'ok'),
  };
}

async function hostClangVersion(): Promise<string | undefined> {
  try {
    const r = await runProgram('clang', ['--version']);
    return r.exitCode === 0 ? r.stdout.split('\n')[0].trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Counts the hooks in the target's own BTF with the shared hook catalog (the same one completion uses). */
async function countHooks(target: Target, kernelBanner: string | undefined, attach: boolean): Promise<HookCounts> {
  // base64 because ExecResult carries text; ~7 MiB for a distribution kernel, one round trip.
  const r = await target.exec('base64', ['/sys/kernel/btf/vmlinux'], { timeoutMs: 120_000 });
  if (r.exitCode !== 0) throw new Error(`reading /sys/kernel/btf/vmlinux failed: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  const catalog = catalogFromBuffer(Buffer.from(r.stdout, 'base64'), { kernel: kernelBanner }, `${target.id}:/sys/kernel/btf/vmlinux`);
  const disabled = new Set(catalog.hooks.filter((h) => h.disabled).map((h) => h.name));
  const counts = { total: catalog.hooks.length, refusedByRules: disabled.size };
  if (!attach) return { ...counts, attached: null, attachNote: 'skipped (--no-attach)' };
  try {
    const m = await countAttachableHooks(target, catalog.hooks.map((h) => h.name), disabled);
    return { ...counts, attached: m.attached, refused: m.refused, attachMs: m.attachMs };
  } catch (err) {
    return { ...counts, attached: null, attachNote: (err as Error).message };
  }
}

export interface CheckOptions {
  /** Load and attach a program on every hook through the helper to count what attaches (default true). */
  readonly attach?: boolean;
}

export async function checkTarget(target: Target, opts: CheckOptions = {}): Promise<CheckReport> {
  const probeRun = await target.exec('sh', ['-s'], { input: PROBE_SCRIPT, timeoutMs: 60_000 });
  const probe = parseProbe(probeRun.stdout);
  if (!probe.has('end')) throw new Error(`the check script did not run to its end on ${target.id}: ${probeRun.stderr.trim() || `exit ${probeRun.exitCode}`}`);
  let hooks: HookCounts | undefined;
  let hooksError: string | undefined;
  if (!(probe.get('btf') ?? '!').startsWith('!')) {
    try {
      // Attaching needs root, and only means something when bpf is an active LSM; otherwise the count
      // stays unmeasured and the failing check above says why.
      const privileged = ['root', 'ok'].includes(probe.get('sudo') ?? '');
      const bpfActive = (probe.get('lsm') ?? '').split(',').includes('bpf');
      const attach = opts.attach ?? true;
      hooks = await countHooks(target, probe.get('version'), attach && privileged && bpfActive);
      if (attach && !privileged) hooks = { ...hooks, attachNote: 'needs root on the target (see privileged access)' };
      else if (attach && !bpfActive) hooks = { ...hooks, attachNote: 'bpf is not an active LSM here, so nothing was loaded' };
    } catch (err) {
      hooksError = (err as Error).message;
    }
  }
  let localSetup: LocalPrivilegeSetup | undefined;
  try {
    localSetup = target.kind === 'local' ? localPrivilegeSetup() : undefined;
  } catch {
    // No helper bundle (a CLI without dist/): the privileged check gives the general advice.
  }
  return evaluateProbe(probe, { targetId: target.id, kind: target.kind, localSetup, hostClang: await hostClangVersion(), hooks, hooksError });
}

/** Human-readable report for the CLI and the output channel. */
export function formatReport(r: CheckReport): string {
  const mark: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'warn', fail: 'FAIL', unknown: '??  ' };
  const lines = [`Target ${r.target}${r.kernelRelease ? ` (kernel ${r.kernelRelease})` : ''}: ${r.ok ? 'ready for BPF-LSM programs' : 'NOT ready for BPF-LSM programs'}`];
  for (const c of r.checks) {
    lines.push(`  [${mark[c.status]}] ${c.title}: ${c.detail}`);
    if (c.remedy && c.status !== 'ok') lines.push(`         -> ${c.remedy}`);
  }
  return lines.join('\n');
}

/** The cheap part of the check (one round trip, no hook count) for status displays. */
export async function quickStatus(target: Target): Promise<{ kernelRelease?: string; ready: boolean; summary: string }> {
  const run = await target.exec('sh', ['-s'], { input: PROBE_SCRIPT, timeoutMs: 30_000 });
  const probe = parseProbe(run.stdout);
  if (!probe.has('end')) throw new Error(`the check script did not run on ${target.id}: ${run.stderr.trim() || `exit ${run.exitCode}`}`);
  // clang is a build-host matter and does not decide whether the target kernel is ready.
  const report = evaluateProbe(probe, { targetId: target.id, kind: target.kind, hostClang: 'not checked' });
  const failed = report.checks.filter((c) => c.status === 'fail' || (c.id === 'lsm' && c.status !== 'ok'));
  return {
    kernelRelease: report.kernelRelease,
    ready: report.ok,
    summary: report.ok ? 'BPF-LSM ready' : failed.map((c) => `${c.title}: ${c.detail}`).join('; '),
  };
}
