// Booting, reaching and stopping the built-in VM. qemu runs daemonized (it outlives `bpf-lsm vm up`), its
// serial console goes to run/console.log, and its human monitor listens on a unix socket in run/. The state
// of a running VM (pid, forwarded ssh port, kernel, LSM list) is kept in run/state.json.
//
// Why TCG and not KVM: on the machines this was measured on, KVM only ran special guests (a stock kernel hung
// or needed ~27 s to early boot) while TCG with `thread=multi` boots to ssh in a few seconds.
import { execa } from 'execa';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { connect } from 'node:net';
import { atomicWrite } from './fsutil';
import { READY_MARKER } from './image';
import { PreparedAssets } from './assets';
import { helperChannelName, privateDir, VM_HOST_ALIAS, VmPaths } from './paths';
import { DEFAULT_VM_KERNEL, VmKernel } from './kernels';
import { pinVcpus } from './pinning';

export interface VmState {
  readonly pid: number;
  /** The host port (on 127.0.0.1) forwarded to the guest's sshd. */
  readonly port: number;
  readonly kernelRelease: string;
  /** The active LSM list, as /sys/kernel/security/lsm reads in the guest. */
  readonly lsm: string[];
  readonly startedAt: string;
  /** From spawning qemu to the first successful ssh command. */
  readonly bootMs: number;
  readonly monitor: string;
  readonly console: string;
  /**
   * How many helper channels this boot has (absent: a VM booted by a version without them, whose helpers
   * then talk over ssh).
   */
  readonly helperChannels?: number;
  /** The kernel this VM boots (absent: a VM booted by a version with only 6.1). */
  readonly kernel?: VmKernel;
  /** The host core each vCPU thread is pinned to (absent: left to the host's scheduler; see pinning.ts). */
  readonly pinnedCores?: number[];
}

/**
 * The kernel command line. bpf is listed explicitly: without it programs load and attach but never fire.
 * cryptomgr.notests skips the crypto self-tests Debian's kernel runs at boot: ~0.8 s of CPU under TCG
 * (measured as qemu CPU time to the ready line, median of 3: 6.7 s -> 5.8 s), which a busy host turns into
 * seconds of wall time. loglevel=5 instead of quiet: every console line is slow to emit under TCG, and at
 * this level a boot prints as little as with quiet (errors and warnings only), but a soft lockup's stack
 * trace reaches the console log; softlockup_all_cpu_backtrace adds the other vCPU's, which is the one a
 * lockup waiting for a cross-CPU call needs.
 * tsc=reliable: under TCG the guest's TSC is the host's (one source for every vCPU), but 6.1's boot-time
 * sync check sees the vCPU threads' scheduling as TSC warps, marks the TSC unstable and falls back to the
 * HPET, whose every read is an emulated MMIO access: ~1 us more per clock read in the guest (clock_gettime
 * against getppid, clocksource switched at run time). The tracer reads the clock once per record
 * (bpf_ktime_get_ns); the traced loop of bench/trace.bench.ts ran ~10% faster on the TSC.
 */
export const KERNEL_CMDLINE = 'console=ttyS0 loglevel=5 softlockup_all_cpu_backtrace=1 panic=-1 rdinit=/init cryptomgr.notests tsc=reliable lsm=landlock,lockdown,yama,integrity,apparmor,bpf';

export interface QemuOptions {
  readonly vmlinux: string;
  readonly initramfs: string;
  readonly console: string;
  readonly monitor: string;
  readonly pidFile: string;
  readonly memoryMb: number;
  readonly cpus: number;
  readonly accel: string;
  /** Unix socket paths for the helper channels, in channel order. */
  readonly helperChannels: readonly string[];
  /** The process name (`ps`), which says the kernel when two VMs run: bpf-lsm-vm, bpf-lsm-vm-6.12. */
  readonly name?: string;
}

/** qemu option values are comma-separated; a comma inside a path is written twice. */
const q = (path: string) => path.replace(/,/g, ',,');

export function qemuArgs(o: QemuOptions): string[] {
  return [
    '-name', o.name ?? 'bpf-lsm-vm',
    '-accel', o.accel,
    // -cpu max provides RDRAND, so sshd never waits for entropy in a guest that has no other source.
    '-cpu', 'max',
    '-smp', String(o.cpus),
    '-m', String(o.memoryMb),
    '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot',
    '-kernel', o.vmlinux,
    '-initrd', o.initramfs,
    '-append', KERNEL_CMDLINE,
    // The legacy file: syntax takes the rest verbatim; only option lists (unix:...,server=on) need escaping.
    '-serial', `file:${o.console}`,
    // restrict=on: the guest reaches nothing but the forwarded port; port 0 lets the host pick a free one.
    '-netdev', 'user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:0-:22',
    '-device', 'virtio-net-pci,netdev=n0',
    '-device', 'virtio-rng-pci',
    // The helper channels: virtio-serial ports whose host ends are unix sockets that qemu listens on. A
    // helper's protocol stream leaves the guest through one at ~100 MB/s instead of ~6 MB/s through sshd's
    // encryption under TCG.
    '-device', 'virtio-serial-pci,id=hc',
    ...o.helperChannels.flatMap((path, i) => [
      '-chardev', `socket,id=hc${i},path=${q(path)},server=on,wait=off`,
      '-device', `virtserialport,bus=hc.0,chardev=hc${i},name=${helperChannelName(i)}`,
    ]),
    '-monitor', `unix:${q(o.monitor)},server=on,wait=off`,
    '-pidfile', o.pidFile,
    '-daemonize',
  ];
}

/** The host port of the ssh forward, from the monitor's `info usernet`. */
export function parseUsernetPort(info: string): number | undefined {
  const m = /HOST_FORWARD\]\s+\d+\s+127\.0\.0\.1\s+(\d+)\s+\S+\s+22\b/.exec(info);
  return m ? Number(m[1]) : undefined;
}

/**
 * The line the guest prints when sshd is up, or undefined while it has not yet. Only a whole line counts: the
 * console log is read while the guest writes it, and a line caught half-written gave a short LSM list ("bpf
 * is not in the active LSM list", and no tracer loaded after `vm up`).
 */
export function parseReadyLine(consoleLog: string): { release: string; lsm: string[] } | undefined {
  const m = new RegExp(`${READY_MARKER} (\\S+) lsm=(\\S*)\\r?\\n`).exec(consoleLog);
  return m ? { release: m[1], lsm: m[2].split(',').filter(Boolean) } : undefined;
}

/** Sends one command to qemu's human monitor and returns its output. */
export function monitorCommand(socket: string, command: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socket);
    let buf = '';
    let sent = false;
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`qemu monitor did not answer "${command}" within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      buf += chunk;
      // The monitor greets with a banner and a "(qemu) " prompt, and prompts again after each command.
      const prompts = buf.split('(qemu) ').length - 1;
      if (!sent && prompts >= 1) {
        sent = true;
        conn.write(command + '\n');
      } else if (sent && prompts >= 2) {
        clearTimeout(timer);
        conn.end();
        const out = buf.slice(buf.indexOf('(qemu) ') + 7);
        resolve(out.slice(0, out.lastIndexOf('(qemu) ')).replace(/\r/g, ''));
      }
    });
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    conn.on('close', () => {
      clearTimeout(timer);
      if (command === 'quit') resolve('');
    });
  });
}

/**
 * True when `pid` is a live qemu (not a recycled pid that now belongs to something else) and, given our
 * pid file, the qemu of this cache folder rather than another VM on the same machine.
 */
export function isQemu(pid: number, pidFile?: string): boolean {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.includes('qemu-system') && (pidFile === undefined || cmdline.split('\0').includes(pidFile));
  } catch {
    return false;
  }
}

export function readState(paths: VmPaths): VmState | undefined {
  try {
    const state = JSON.parse(readFileSync(paths.state, 'utf8')) as VmState;
    return isQemu(state.pid, paths.pidFile) ? state : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ssh options that reach the VM as root with the product's own key. The caller appends
 * `'--', VM_SSH_DESTINATION` and then the remote command (`--` so a command never parses as an ssh option).
 */
export function vmSshOptions(paths: VmPaths, port: number, opts: { connectTimeout?: number; controlMaster?: 'yes' | 'no' } = {}): string[] {
  return [
    // Never the user's ~/.ssh/config or agent: the VM is reached with its own key and its own known_hosts.
    '-F', '/dev/null',
    '-i', paths.clientKey,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'IdentityAgent=none',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${paths.knownHosts}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', `HostKeyAlias=${VM_HOST_ALIAS}`,
    '-o', 'LogLevel=ERROR',
    // Generous: a TCG guest busy detaching a few hundred LSM programs on a loaded host can take many
    // seconds to answer, and a dropped master connection would make every later command pay a handshake.
    '-o', `ConnectTimeout=${opts.connectTimeout ?? 30}`,
    '-o', 'ServerAliveInterval=10',
    '-o', 'ServerAliveCountMax=18',
    // A TCG guest needs most of a second per ssh handshake; commands share one master connection instead.
    '-o', `ControlPath=${paths.sshControl}`,
    // "no": use the master when it is there, else connect directly. Never "auto": a command that became the
    // master would keep running (and keep its caller's pipes open) for as long as anything else uses it.
    '-o', `ControlMaster=${opts.controlMaster ?? 'no'}`,
    '-p', String(port),
  ];
}

export const VM_SSH_DESTINATION = 'root@127.0.0.1';

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A console line that says the guest kernel is in trouble (crashed, locked up, stalled). */
const KERNEL_TROUBLE = /Oops:|Kernel panic|BUG:|soft lockup|hard LOCKUP|rcu_\w+ detected stall|blocked for more than/;

function consoleTail(paths: VmPaths, lines = 15): string {
  try {
    const all = readFileSync(paths.console, 'utf8').trim().split('\n');
    // The line that says why a kernel died is further up than the register dump that ends the console.
    const why = all.find((l) => KERNEL_TROUBLE.test(l));
    const tail = all.slice(-lines);
    return (why && !tail.includes(why) ? [why, '...', ...tail] : tail).join('\n');
  } catch {
    return '(no console output)';
  }
}

/**
 * Why a running VM may not answer over ssh, from its console: whether qemu still runs, and the guest
 * kernel's own report when it crashed or locked up (an answerless sshd otherwise only says "timed out").
 */
export function unreachableVmReason(paths: VmPaths): string {
  const state = readState(paths);
  if (!state) return 'the VM is no longer running (its qemu process exited); start it again with `bpf-lsm vm up`';
  let consoleText = '';
  try {
    consoleText = readFileSync(paths.console, 'utf8');
  } catch {
    // No console: say what is known.
  }
  const trouble = KERNEL_TROUBLE.test(consoleText);
  return (
    (trouble ? 'the guest kernel reported a problem' : 'qemu runs but the guest does not answer') +
    `; restart the VM with \`bpf-lsm vm down\` and \`bpf-lsm vm up\`. Last lines of the VM console (${paths.console}):\n${consoleTail(paths)}`
  );
}

export interface BootOptions {
  readonly memoryMb?: number;
  readonly cpus?: number;
  readonly accel?: string;
  readonly timeoutMs?: number;
  readonly progress?: (message: string) => void;
}

/**
 * Starts the VM (or returns the one already running) and waits until a command runs in it over ssh. A guest
 * kernel that crashes while booting is booted once more: under TCG with thread=multi, Debian's 6.12 kernel
 * now and then takes an int3 Oops in early boot (seen in sched_clock_cpu while static keys are patched with
 * text_poke_bp, about 1 boot in 10 on a loaded host), which a second boot does not repeat.
 */
export async function bootVm(paths: VmPaths, assets: PreparedAssets, opts: BootOptions = {}): Promise<VmState & { reused: boolean }> {
  try {
    return await bootVmOnce(paths, assets, opts);
  } catch (err) {
    const crash = /^.*(?:Oops:|Kernel panic).*$/m.exec((err as Error).message);
    if (!crash) throw err;
    opts.progress?.(`the guest kernel crashed while booting (${crash[0].replace(/^\[[^\]]*\]\s*/, '').trim()}); booting it again`);
    return bootVmOnce(paths, assets, opts);
  }
}

async function bootVmOnce(paths: VmPaths, assets: PreparedAssets, opts: BootOptions): Promise<VmState & { reused: boolean }> {
  const running = readState(paths);
  if (running) return { ...running, reused: true };
  const progress = opts.progress ?? (() => {});
  // 0700 and ours: the helper channel sockets reach a root helper in the VM, the monitor runs host commands.
  for (const dir of new Set([paths.run, ...[paths.monitor, paths.sshControl, ...paths.helperChannels].map((p) => dirname(p))])) privateDir(dir);
  // A qemu from a boot that was interrupted before it wrote its state would otherwise run forever.
  await stopVm(paths);
  for (const f of [paths.console, paths.pidFile, paths.monitor, paths.state, paths.sshControl, ...paths.helperChannels]) rmSync(f, { force: true });

  const started = Date.now();
  const timeoutMs = opts.timeoutMs ?? Number(process.env.BPF_LSM_VM_BOOT_TIMEOUT_MS || 180_000);
  progress(`booting the ${assets.kernel.release} kernel under qemu`);
  const cpus = opts.cpus ?? Number(process.env.BPF_LSM_VM_CPUS || 2);
  const args = qemuArgs({
    vmlinux: assets.kernel.vmlinux,
    initramfs: assets.image,
    console: paths.console,
    monitor: paths.monitor,
    pidFile: paths.pidFile,
    memoryMb: opts.memoryMb ?? Number(process.env.BPF_LSM_VM_MEMORY_MB || 2048),
    cpus,
    accel: opts.accel ?? process.env.BPF_LSM_VM_ACCEL ?? 'tcg,thread=multi',
    helperChannels: paths.helperChannels,
    name: paths.kernelName === DEFAULT_VM_KERNEL ? 'bpf-lsm-vm' : `bpf-lsm-vm-${paths.kernelName}`,
  });
  let launched;
  try {
    // With -daemonize the launcher exits once the VM process is set up; the VM itself detaches from us.
    launched = await execa('qemu-system-x86_64', args, { stdin: 'ignore', reject: false, timeout: 60_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('the VM needs qemu-system-x86_64 (Debian package qemu-system-x86)');
    throw err;
  }
  if (launched.exitCode !== 0) throw new Error(`qemu failed to start (exit ${launched.exitCode}): ${String(launched.stderr).trim()}`);
  const pid = Number(readFileSync(paths.pidFile, 'utf8').trim());
  const fail = async (message: string): Promise<never> => {
    await stopVm(paths).catch(() => undefined);
    throw new Error(`${message}\nlast lines of the VM console (${paths.console}):\n${consoleTail(paths)}`);
  };

  let port: number | undefined;
  for (let i = 0; i < 50 && port === undefined; i++) {
    port = parseUsernetPort(await monitorCommand(paths.monitor, 'info usernet').catch(() => ''));
    if (port === undefined) await sleep(100);
  }
  if (port === undefined) return fail('could not learn the forwarded ssh port from the qemu monitor');
  // Before the guest boots, so that its boot too runs on the cores it keeps (see pinning.ts).
  let pinned: number[] | undefined;
  try {
    pinned = (await pinVcpus(pid, cpus, () => monitorCommand(paths.monitor, 'info cpus')))?.cores;
  } catch (err) {
    progress(`the VM's vCPUs stay where the host schedules them: ${(err as Error).message}`);
  }

  // The port forward accepts connections before sshd listens, so wait for the guest's own "ready" line.
  let ready: ReturnType<typeof parseReadyLine>;
  while (!(ready = parseReadyLine(existsSync(paths.console) ? readFileSync(paths.console, 'utf8') : ''))) {
    if (!isQemu(pid, paths.pidFile)) return fail('the VM exited during boot');
    if (Date.now() - started > timeoutMs) return fail(`the VM did not finish booting within ${Math.round(timeoutMs / 1000)} s`);
    await sleep(50);
  }
  // The init script reports every step that went wrong on the console; a VM without its tools is no VM.
  const problems = (readFileSync(paths.console, 'utf8').match(/^bpf-lsm-vm: (?!ready ).*$/gm) ?? []).map((l) => l.slice('bpf-lsm-vm: '.length).trim());
  if (problems.length) return fail(`the VM booted with errors: ${problems.join('; ')}`);
  progress(`guest ${ready.release} is up; connecting over ssh on 127.0.0.1:${port}`);
  // One persistent master connection (detached, no pipes held open) that every later ssh command reuses.
  let lastError = '';
  for (;;) {
    // Its stderr goes to a file: a pipe would be inherited by the backgrounded master and never close.
    const log = `${paths.run}/ssh-master.log`;
    const master = await execa('ssh', [...vmSshOptions(paths, port, { connectTimeout: 10, controlMaster: 'yes' }), '-o', 'ControlPersist=yes', '-f', '-N', '--', VM_SSH_DESTINATION], {
      stdin: 'ignore',
      stdout: 'ignore',
      stderr: { file: log },
      reject: false,
      timeout: 30_000,
    });
    if (master.exitCode === 0) break;
    lastError = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').pop() ?? '' : `exit ${master.exitCode}`;
    if (!isQemu(pid, paths.pidFile)) return fail('the VM exited during boot');
    if (Date.now() - started > timeoutMs) return fail(`ssh into the VM kept failing: ${lastError}`);
    await sleep(200);
  }
  const state: VmState = {
    pid,
    port,
    kernelRelease: ready.release,
    lsm: ready.lsm,
    startedAt: new Date(started).toISOString(),
    bootMs: Date.now() - started,
    monitor: paths.monitor,
    console: paths.console,
    helperChannels: paths.helperChannels.length,
    kernel: paths.kernelName,
    ...(pinned ? { pinnedCores: pinned } : {}),
  };
  atomicWrite(paths.state, JSON.stringify(state, null, 2) + '\n');
  return { ...state, reused: false };
}

/**
 * Stops the VM: qemu quits at once (the guest's disk is RAM, nothing to flush, and a guest shutdown would
 * first spend ~30 s detaching every attached LSM program). Waits until the process is gone.
 */
export async function stopVm(paths: VmPaths): Promise<{ wasRunning: boolean; pid?: number }> {
  let pid: number | undefined;
  try {
    pid = Number(readFileSync(paths.pidFile, 'utf8').trim()) || undefined;
  } catch {
    pid = readState(paths)?.pid;
  }
  const ours = () => pid !== undefined && isQemu(pid, paths.pidFile);
  const alive = ours();
  if (alive) {
    await monitorCommand(paths.monitor, 'quit', 3000).catch(() => undefined);
    for (let i = 0; i < 40 && ours(); i++) await sleep(50);
    if (ours()) process.kill(pid!, 'SIGTERM');
    for (let i = 0; i < 40 && ours(); i++) await sleep(50);
    if (ours()) process.kill(pid!, 'SIGKILL');
    for (let i = 0; i < 100 && ours(); i++) await sleep(20);
    if (ours()) throw new Error(`qemu (pid ${pid}) did not exit, even after SIGKILL`);
  }
  // The ssh master notices the closed forward by itself; ask it to exit now so nothing lingers.
  if (existsSync(paths.sshControl)) {
    await execa('ssh', ['-o', `ControlPath=${paths.sshControl}`, '-O', 'exit', 'bpf-lsm-vm'], { reject: false, stdin: 'ignore', timeout: 5000 }).catch(() => undefined);
  }
  for (const f of [paths.state, paths.pidFile, paths.monitor, paths.sshControl]) rmSync(f, { force: true });
  return { wasRunning: alive, pid };
}

/** Size in bytes of a file, or 0 when it is missing (for status output). */
export function fileSize(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}
