// Trace Executable end to end on the built-in VM, in one VM run, through the same core as `bpf-lsm trace`
// (TracerSession + traceProgram):
//   (a) time from command to first event: cold (new connection, no tracer resident: helper start, BTF,
//       compile uncached and cached, load, attach, spawn) and warm (another trace on the same connection);
//   (b) back-to-back CLI runs of `bpf-lsm trace --target vm --json -- /usr/bin/ls /home` with the tracer
//       resident: whole-command wall time, first event after resume, file_open events of ls, where the
//       last run's time went (BPF_LSM_TIMINGS=1), and for comparison in the same run, runs with a helper
//       process per session instead of the VM's helper daemon (BPF_LSM_VM_DAEMON=0);
//   (c) events/s on a syscall-heavy loop (bench/trace_loop.c: open/read/close N times), with drops per hop
//       and the reconciliation produced = delivered + drops;
//   (d) the loop's slowdown when traced (also through the CLI, its text output into a file), vs untraced and vs `strace -f -o /dev/null`, all in this run, and the
//       untraced loop on one vCPU while a CPU-only spin keeps the other busy (what the helper's ring consumer,
//       busy on the other vCPU during a trace, costs the loop by itself when the VM's vCPUs share 2 host cores);
//   (f) last, the first CLI trace after a reboot with `bpf-lsm vm up`, which loads the tracer in the background
//       after the boot (./cliTrace.ts): issued as vm up returns, and once the tracer is resident.
// Every slowdown is the loop's own CLOCK_MONOTONIC time (exec and tracer set-up excluded). Untraced runs
// happen before any tracer is in the kernel (a tracer left resident by an earlier run is released first:
// without that, BENCH_TRACE_COLD=0 runs compared attached with attached and printed 1.03-1.05x), while the
// tracer is attached with this session connected but the process not in its filter, while the session traces
// a shell that waits (what every other process on the target pays while a trace runs: the syscall programs are
// attached), right after a trace of /usr/bin/true with the session still connected (the keeper detaches the
// syscall programs half a second after the last traced process, the hot hooks' ones 10 s after the last
// trace), and again with no session connected once the keeper has detached both (what the other hooks cost
// while the tracer idles). Each untraced
// run follows a CPU-only
// spin (`trace_loop --spin`) and is reported over it: on a shared host TCG's vCPUs run as fast as the host
// lets them, and raw times of one benchmark drifted 0.27 -> 0.85 s at load 4-5 while loop/spin stays
// within 1.30-1.50 before any tracer. The same runs print the guest's CPU use outside the loop.
//   BENCH_TRACE_ITERATIONS  loop iterations (default 20000)     BENCH_TRACE_ROUNDS  rounds (default 3)
//   BENCH_TRACE_UNTRACED_ROUNDS  untraced runs per state (default 5)
//   BENCH_TRACE_STRACE=0    skip the strace runs (minutes each under TCG), for quick A/B runs of the tracer
//   BENCH_TRACE_CLI_RUNS    back-to-back CLI runs (default 4)     BENCH_TRACE_NO_DAEMON_RUNS  (default 2; 0: none)
//   BENCH_TRACE_COLD=0      skip the cold starts and CLI runs (one connection, loop figures only), for quick
//                           A/B runs of the traced loop
//   BENCH_TRACE_BOOT=0      skip (f): the first trace after `bpf-lsm vm up` (reboots the VM twice)
// Boots the VM when it is not running (and stops it again). Prints figures; never fails on speed.
//
// What was measured and kept or not kept, with the figures: bench/trace-notes.md.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { vmTarget } from '../extension/core/targets/vm';
import { TracerSession, TracerState } from '../extension/core/trace/tracerSession';
import { HelperClient } from '../extension/core/helperClient';
import { traceProgram, TraceSummary } from '../extension/core/trace/traceProgram';
import type { Target } from '../extension/core/target';
import { IDLE_DETACHED_PROGRAMS } from '../extension/shared/tracer/control';
import { tracerInKernel } from '../test/fixtures/tracer/inKernel';
import { cpuLine, hostSteal, withBenchVm } from './benchVm';
import { afterBoot, cliLoop, CliLoopRun, CliRun, cliTrace } from './cliTrace';

const ITERATIONS = Number(process.env.BENCH_TRACE_ITERATIONS ?? 20000);
const ROUNDS = Number(process.env.BENCH_TRACE_ROUNDS ?? 3);
const CLI_RUNS = Number(process.env.BENCH_TRACE_CLI_RUNS ?? 4);
const NO_DAEMON_RUNS = Number(process.env.BENCH_TRACE_NO_DAEMON_RUNS ?? 2);
const UNTRACED_ROUNDS = Number(process.env.BENCH_TRACE_UNTRACED_ROUNDS ?? 5);
/** The hooksIdleMs of the tracer this bench loads (its sessions pass it on): short, to measure it detached. */
const HOOKS_IDLE_MS = Number(process.env.BENCH_TRACE_HOOKS_IDLE_MS ?? 90_000);
process.env.BPF_LSM_TRACER_HOOKS_IDLE_MS = String(HOOKS_IDLE_MS);
const SPIN = 100_000_000;
const REMOTE_DIR = '/tmp/bpf-lsm-bench';
const LOOP = `${REMOTE_DIR}/trace_loop`;
const LOOP_FILE = '/etc/hostname';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

interface LoopResult {
  iterations: number;
  ns: number;
}

function parseLoop(text: string): LoopResult {
  const line = text.split('\n').find((l) => l.startsWith('{"iterations"'));
  if (!line) throw new Error(`the loop printed no result: ${text.slice(0, 400)}`);
  return JSON.parse(line) as LoopResult;
}

async function runLoop(target: Target, wrapper: string[] = []): Promise<LoopResult> {
  const argv = [...wrapper, LOOP, String(ITERATIONS), LOOP_FILE];
  const r = await target.exec(argv[0], argv.slice(1), { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} failed (${r.exitCode}): ${r.stderr}`);
  return parseLoop(r.stdout);
}

interface UntracedRun {
  /** The loop's time divided by a CPU-only spin's just before it: the host's share of CPU cancels out. */
  normalized: number;
  loopNs: number;
  spinNs: number;
  /** Guest CPU time outside the loop during it, as a share of one CPU (the helper daemon, the session). */
  otherCpu: number;
}

/**
 * One untraced loop run preceded by a CPU-only spin (`trace_loop --spin`), with the guest's CPU use around
 * the loop. On a TCG guest the vCPUs run as fast as the shared host lets them; the loop's time over the
 * spin's moments before compares runs minutes apart far better than raw times (which drifted 0.3-0.85 s
 * between runs of one benchmark at load 4-5).
 */
async function untracedRun(target: Target): Promise<UntracedRun> {
  const script = `${LOOP} --spin ${SPIN}; head -1 /proc/stat; ${LOOP} ${ITERATIONS} ${LOOP_FILE}; head -1 /proc/stat`;
  const r = await target.exec('sh', ['-c', script], { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`the untraced loop failed (${r.exitCode}): ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const results = lines.filter((l) => l.startsWith('{"iterations"')).map((l) => JSON.parse(l) as LoopResult & { cpu_ns: number });
  const stats = lines.filter((l) => l.startsWith('cpu ')).map(cpuLine);
  if (results.length !== 2 || stats.length !== 2) throw new Error(`unexpected untraced run output: ${r.stdout.slice(0, 400)}`);
  const [spin, loop] = results;
  const hz = 100; // USER_HZ of /proc/stat
  const busyNs = ((stats[1].busy - stats[0].busy) / hz) * 1e9;
  return { normalized: loop.ns / spin.ns, loopNs: loop.ns, spinNs: spin.ns, otherCpu: Math.max(0, busyNs - loop.cpu_ns) / loop.ns };
}

/**
 * The untraced loop on guest CPU 0 while a CPU-only spin keeps CPU 1 busy: what any busy second vCPU (the
 * helper's ring consumer during a trace, or anything else) costs a program when the VM's two vCPUs share
 * the host's two cores. Undefined when the image has no taskset.
 */
async function neighbourRun(target: Target): Promise<number | undefined> {
  const script =
    `command -v taskset >/dev/null || exit 3; taskset -c 1 ${LOOP} --spin ${SPIN * 100} >/dev/null & n=$!; sleep 0.2; ` +
    `taskset -c 0 ${LOOP} ${ITERATIONS} ${LOOP_FILE}; r=$?; kill $n; wait $n 2>/dev/null; exit $r`;
  const r = await target.exec('sh', ['-c', script], { timeoutMs: 30 * 60_000 });
  if (r.exitCode === 3) return undefined;
  if (r.exitCode !== 0) throw new Error(`the loop beside a busy vCPU failed (${r.exitCode}): ${r.stderr}`);
  return parseLoop(r.stdout).ns;
}

/** CPU seconds the VM's qemu process has used on the host (all its threads: vCPUs, I/O). */
function qemuCpuSeconds(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

const spread = (xs: number[], digits = 2) => {
  const sorted = [...xs].sort((a, b) => a - b);
  return `${median(xs).toFixed(digits)} (${sorted[0].toFixed(digits)}-${sorted[sorted.length - 1].toFixed(digits)})`;
};

interface FirstEvent {
  /** From the start of the phase to the first decoded event of the traced program. */
  toFirstEventMs: number;
  summary: TraceSummary;
}

/** Traces one program; times from now to its first decoded event. */
async function traceOnce(session: TracerSession, argv: string[], since = Date.now()): Promise<FirstEvent & { output: string }> {
  let first: number | undefined;
  let output = '';
  const summary = await traceProgram(session, { argv, onOutput: (_s, text) => (output += text) }, () => (first ??= Date.now()));
  if (first === undefined) throw new Error(`no event arrived for ${argv.join(' ')}`);
  return { toFirstEventMs: first - since, summary, output };
}

interface ColdStart {
  session: TracerSession;
  state: TracerState;
  connectMs: number;
  toFirstEventMs: number;
}

async function coldStart(target: Target, cacheDir: string): Promise<ColdStart> {
  const t0 = Date.now();
  const session = await TracerSession.connect(target, () => {}, { cacheDir });
  const connectMs = Date.now() - t0;
  const state = await session.prepare();
  const { toFirstEventMs } = await traceOnce(session, ['/bin/true'], t0);
  return { session, state, connectMs, toFirstEventMs };
}

function coldLine(label: string, c: ColdStart): string {
  const t = c.state.timings;
  const btf = `BTF ${c.state.btfFromCache ? 'cached ' : 'read '}${t.btfMs} ms`;
  return (
    `${label}: ${s(c.toFirstEventMs)} to the first event (helper start ${c.connectMs} ms, ${btf}, ` +
    `compile ${c.state.fromCache ? 'cached ' : ''}${t.compileMs} ms, tracer request ${t.acquireMs} ms of which helper load ${t.loadMs} ms and attach+pin ${t.attachMs} ms, ` +
    `spawn to first event ${c.toFirstEventMs - c.connectMs - t.btfMs - t.compileMs - t.acquireMs} ms)` +
    (t.helperPhases?.length ? `\n  in the helper: ${t.helperPhases.map((p) => `${p.phase} ${p.ms} ms`).join(', ')}` : '')
  );
}

/** Releases the resident tracer (tracer stop) and waits until the kernel holds none of its programs. */
async function releaseTracer(target: Target): Promise<number> {
  const helper = await HelperClient.connect(await target.startHelper(), { client: 'trace bench' });
  try {
    await helper.call('tracerRelease', {});
    const t0 = Date.now();
    for (let delay = 200; ; delay = Math.min(delay * 2, 2000)) {
      // bpftool only once tracer status lists none releasing (its detach is over): the guest lock-ups seen
      // under TCG all had bpftool listing the tracer's programs beside a detach.
      const { tracers } = await helper.call('tracerStatus', {});
      const releasing = tracers.some((t) => t.state === 'releasing');
      if (!releasing) {
        const r = await target.exec('bpftool', ['--json', 'prog', 'show']);
        const progs = JSON.parse(r.stdout || '[]') as Array<{ name?: string; type?: string }>;
        if (!progs.some((p) => p.type === 'lsm' && p.name?.startsWith('tr_'))) return Date.now() - t0;
      }
      if (Date.now() - t0 > 10 * 60_000) throw new Error(`the released tracer is still ${releasing ? 'detaching' : 'loaded'} after 10 minutes`);
      await new Promise((r) => setTimeout(r, delay));
    }
  } finally {
    await helper.close();
  }
}

/**
 * (e) Where the loop's time goes: the kernel's own per-program run time (kernel.bpf_stats_enabled) over one
 * more traced round and one untraced round (the filter's cost for other processes), per tracer program,
 * against the loop's time. Steadier than wall times on a shared host: host load slows the loop and its
 * programs alike.
 */
/** How many of the tracer's programs (the syscall programs, or all) have a link (bpftool's listings). */
async function tracerLinks(target: Target, key: string, only?: readonly string[]): Promise<number> {
  return (await tracerInKernel(target, key)).linked.filter((name) => !only || only.includes(name)).length;
}
/** Links of the programs the keeper detaches as soon as nothing is traced (the syscall and hot hook programs). */
const idleLinks = (target: Target, key: string) => tracerLinks(target, key, IDLE_DETACHED_PROGRAMS);

/**
 * Runs `fn` while `session` traces a shell that waits for a flag file (a few events a second), so that the
 * tracer's programs are attached as they are for every process on the target while any trace runs.
 */
async function duringTrace<T>(target: Target, session: TracerSession, fn: () => Promise<T>): Promise<T> {
  const flag = '/tmp/bench-trace-waiter-done';
  await target.exec('rm', ['-f', flag]);
  let started!: () => void;
  const running = new Promise<void>((resolve) => (started = resolve));
  const trace = traceProgram(session, { argv: ['/bin/sh', '-c', `while [ ! -e ${flag} ]; do sleep 1; done`] }, () => started());
  const endedEarly = trace.then((summary) => {
    throw new Error(`the waiting trace ended before the run it was for (exit ${summary.exitCode})`);
  });
  try {
    await Promise.race([running, endedEarly]);
    return await Promise.race([fn(), endedEarly]);
  } finally {
    await target.exec('touch', [flag]);
    await trace;
    endedEarly.catch(() => undefined);
  }
}

async function programCosts(target: Target, session: TracerSession): Promise<void> {
  type Prog = { id: number; name?: string; run_time_ns?: number; run_cnt?: number };
  const snapshot = async (): Promise<Map<number, Prog>> => {
    const r = await target.exec('bpftool', ['--json', 'prog', 'show']);
    return new Map((JSON.parse(r.stdout || '[]') as Prog[]).filter((p) => p.name?.startsWith('tr_')).map((p) => [p.id, p]));
  };
  const report = (label: string, loopNs: number, before: Map<number, Prog>, after: Map<number, Prog>, top: number) => {
    const rows = [...after.values()]
      .map((p) => ({ name: p.name!, ns: (p.run_time_ns ?? 0) - (before.get(p.id)?.run_time_ns ?? 0), calls: (p.run_cnt ?? 0) - (before.get(p.id)?.run_cnt ?? 0) }))
      .filter((r) => r.calls > 0)
      .sort((a, b) => b.ns - a.ns);
    const total = rows.reduce((n, r) => n + r.ns, 0);
    console.log(
      `tracer programs during one ${label} loop (${(loopNs / 1e6).toFixed(0)} ms, stats on): ${(total / 1e6).toFixed(0)} ms in BPF programs ` +
        `(${((total / loopNs) * 100).toFixed(0)}% of the loop), per iteration ${(total / ITERATIONS / 1000).toFixed(1)} us in ${(rows.reduce((n, r) => n + r.calls, 0) / ITERATIONS).toFixed(1)} program runs (all processes)`,
    );
    for (const r of rows.slice(0, top)) {
      console.log(`  ${r.name.padEnd(28)} ${String(r.calls).padStart(8)} runs ${(r.ns / r.calls).toFixed(0).padStart(7)} ns/run ${(r.ns / 1e6).toFixed(1).padStart(8)} ms`);
    }
  };
  await target.exec('sh', ['-c', 'echo 1 > /proc/sys/kernel/bpf_stats_enabled']);
  try {
    let before = await snapshot();
    const t = await traceOnce(session, [LOOP, String(ITERATIONS), LOOP_FILE]);
    let after = await snapshot();
    report('traced', parseLoop(t.output).ns, before, after, 12);
    // While another process is traced: the syscall programs are attached.
    const u = await duringTrace(target, session, async () => {
      before = await snapshot();
      const loop = await runLoop(target);
      after = await snapshot();
      return loop;
    });
    report('untraced (another process traced)', u.ns, before, after, 8);
  } finally {
    await target.exec('sh', ['-c', 'echo 0 > /proc/sys/kernel/bpf_stats_enabled']);
  }
}

function dropsLine(m: TraceSummary): string {
  const d = m.drops;
  const balanced = m.produced === m.delivered + d.helper + d.undecodable + d.unaccounted;
  return (
    `produced ${m.produced} (+${d.kernel} lost in the kernel: ring full or nested), delivered ${m.delivered}; ` +
    `drops: kernel ring full ${d.ringFull}, kernel nested ${d.nested}, helper ${d.helper}, undecodable ${d.undecodable}, unaccounted ${d.unaccounted}; ` +
    `produced = delivered + helper + undecodable + unaccounted: ${balanced ? 'yes' : 'NO'}`
  );
}

/** (a) and (b): cold starts (compile uncached, then cached), warm traces, back-to-back CLI runs. */
async function coldStarts(vm: Target, cacheDir: string, sessions: TracerSession[], root: string): Promise<TracerSession> {
  // (a) cold, uncached compile; then warm traces on the same connection.
  const released = await releaseTracer(vm);
  console.log(`(no tracer resident before the cold start: released and detached in ${s(released)})`);
  const a = await coldStart(vm, cacheDir);
  sessions.push(a.session);
  console.log(coldLine('cold, compile uncached', a));
  const warm: number[] = [];
  for (let i = 0; i < ROUNDS; i++) warm.push((await traceOnce(a.session, ['/bin/true'])).toFirstEventMs);
  const hooks = `${a.state.attached.length} of ${a.state.hookCount} hooks attached`;
  await a.session.dispose();
  sessions.pop();
  const detachMs = await releaseTracer(vm);
  console.log(`(tracer stop: the released tracer was detached in the background in ${s(detachMs)}, waited for before the next cold start)`);

  const b = await coldStart(vm, cacheDir);
  sessions.push(b.session);
  console.log(coldLine('cold, compile cached  ', b));
  console.log(`warm (same connection): ${median(warm)} ms to the first event, median of ${ROUNDS} (${warm.join(', ')} ms); ${hooks}`);
  console.log(`  vs lsmtrace 5.0 s to the first event: cold cached ${(b.toFirstEventMs / 5000).toFixed(2)}x, warm ${(median(warm) / 5000).toFixed(3)}x`);

  // (b) back-to-back CLI runs on the resident tracer (the first also fills the CLI's own plan cache).
  const cli: CliRun[] = [];
  for (let i = 0; i < CLI_RUNS; i++) cli.push(await cliTrace(root));
  console.log(
    `back-to-back bpf-lsm trace --target vm --json -- /usr/bin/ls /home (${CLI_RUNS} runs, tracer resident): ` +
      cli.map((r, i) => `run ${i + 1} ${s(r.wallMs)} wall, first event ${r.firstEventMs ?? '?'} ms after resume, ${r.fileOpens} file_open of ls${r.resident ? '' : ' (NOT resident)'}${r.code === 0 ? '' : ` (exit ${r.code})`}`).join('; '),
  );
  console.log(`  runs 2-${CLI_RUNS} median ${s(median(cli.slice(1).map((r) => r.wallMs)))} wall (before: ~35 s each, waiting for the previous run's detach; lsmtrace 33.5 s); host load ${load()}`);
  console.log(`  where run ${CLI_RUNS}'s time went (ms since its node started, + since the previous phase):\n${cli[CLI_RUNS - 1].phases}`);
  if (NO_DAEMON_RUNS > 0) {
    const plainRuns: CliRun[] = [];
    for (let i = 0; i < NO_DAEMON_RUNS; i++) plainRuns.push(await cliTrace(root, { BPF_LSM_VM_DAEMON: '0' }));
    console.log(
      `  the same with a helper process per session (BPF_LSM_VM_DAEMON=0, node started in the guest each run): ` +
        plainRuns.map((r, i) => `run ${i + 1} ${s(r.wallMs)} wall, first event ${r.firstEventMs ?? '?'} ms after resume${r.code === 0 ? '' : ` (exit ${r.code})`}`).join('; ') +
        `; host load ${load()}`,
    );
  }
  return b.session;
}

/** One connection with the tracer loaded (timed, but not the cold start of record: the cache may be warm). */
async function quickStart(vm: Target, cacheDir: string, sessions: TracerSession[]): Promise<TracerSession> {
  const c = await coldStart(vm, cacheDir);
  sessions.push(c.session);
  console.log(coldLine('first start (BENCH_TRACE_COLD=0)', c));
  return c.session;
}

async function main(): Promise<void> {
  // This file runs as out/bench/trace.bench.js.
  const root = join(__dirname, '..', '..');
  process.env.BPF_LSM_DIST ??= join(root, 'dist');
  await withBenchVm(root, async ({ pid: vmPid }) => {
    const loopBinary = join(root, 'out', 'bench', 'trace_loop');
    mkdirSync(join(root, 'out', 'bench'), { recursive: true });
    execFileSync('cc', ['-O2', '-static', '-o', loopBinary, join(root, 'bench', 'trace_loop.c')], { stdio: 'inherit' });
    // Compiled tracers and BTFs of this run only, so the first connection is cold for real.
    const cacheDir = mkdtempSync(join(root, 'out', 'bench', 'trace-cache-'));
    const sessions: TracerSession[] = [];
    try {
      const vm = vmTarget();
      await vm.copyTo([{ local: loopBinary, remote: LOOP }]);
      await (await vm.startHelper()).close();
      const clock = (await vm.exec('cat', ['/sys/devices/system/clocksource/clocksource0/current_clocksource'])).stdout.trim();
      console.log(`host load average at start: ${load()} (2 host cores shared; TCG guest, clocksource ${clock || '?'})`);
      const runSteal = hostSteal();
      console.log(`workload: ${LOOP} ${ITERATIONS} ${LOOP_FILE} (open/read/close per iteration), ${ROUNDS} round(s) each`);

      // Baselines before any tracer is in the kernel: a tracer left resident by an earlier run on this VM
      // boot would otherwise be attached during them (and its detach must be over: it keeps a CPU busy).
      const releasedMs = await releaseTracer(vm);
      console.log(`(no tracer in the kernel for the baselines: a resident one was released and detached in ${s(releasedMs)})`);
      const plain: number[] = [];
      const strace: number[] = [];
      const hasStrace = process.env.BENCH_TRACE_STRACE !== '0' && (await vm.exec('strace', ['-V'])).exitCode === 0;
      const plainRuns: UntracedRun[] = [];
      for (let i = 0; i < Math.max(ROUNDS, UNTRACED_ROUNDS); i++) {
        const u = await untracedRun(vm);
        plainRuns.push(u);
        plain.push(u.loopNs);
        if (hasStrace && i < ROUNDS) strace.push((await runLoop(vm, ['strace', '-f', '-o', '/dev/null'])).ns);
        console.log(
          `baseline round ${i + 1}: untraced ${(u.loopNs / 1e6).toFixed(0)} ms (spin ${(u.spinNs / 1e6).toFixed(0)} ms, loop/spin ${u.normalized.toFixed(2)}, ` +
            `other guest CPU ${(u.otherCpu * 100).toFixed(0)}%)${strace[i] !== undefined ? `, strace -f ${(strace[i] / 1e6).toFixed(0)} ms` : ''}`,
        );
      }

      const neighbour: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        const ns = await neighbourRun(vm);
        if (ns === undefined) break;
        neighbour.push(ns);
      }

      const b = process.env.BENCH_TRACE_COLD === '0' ? await quickStart(vm, cacheDir, sessions) : await coldStarts(vm, cacheDir, sessions, root);

      // (c) + (d) on the attached tracer.
      const attachedIdle: number[] = [];
      const attachedRuns: UntracedRun[] = [];
      const afterRuns: UntracedRun[] = [];
      const traced: number[] = [];
      const runs: Array<{ summary: TraceSummary; cpuMs: number }> = [];
      for (let i = 0; i < Math.max(ROUNDS, UNTRACED_ROUNDS); i++) {
        // While another process is traced: the syscall programs are attached.
        const u = await duringTrace(vm, b, () => untracedRun(vm));
        attachedRuns.push(u);
        attachedIdle.push(u.loopNs);
        // Right after a trace, the session still connected.
        await traceOnce(b, ['/usr/bin/true']);
        afterRuns.push(await untracedRun(vm));
        if (i >= ROUNDS) continue;
        const guest0 = cpuLine((await vm.exec('head', ['-1', '/proc/stat'])).stdout);
        const qemu0 = qemuCpuSeconds(vmPid);
        const cpu = process.cpuUsage();
        const w0 = Date.now();
        const roundSteal = hostSteal();
        const t = await traceOnce(b, [LOOP, String(ITERATIONS), LOOP_FILE]);
        const wallS = (Date.now() - w0) / 1000;
        const used = process.cpuUsage(cpu);
        const qemuS = qemuCpuSeconds(vmPid) - qemu0;
        const guestBusyS = (cpuLine((await vm.exec('head', ['-1', '/proc/stat'])).stdout).busy - guest0.busy) / 100;
        const loop = parseLoop(t.output) as LoopResult & { cpu_ns: number };
        traced.push(loop.ns);
        runs.push({ summary: t.summary, cpuMs: (used.user + used.system) / 1000 });
        console.log(
          `traced round ${i + 1} (${s(wallS * 1000)} from spawn to the trace's end, loop ${(loop.ns / 1e6).toFixed(0)} ms): the VM's qemu used ${(qemuS / wallS).toFixed(2)} host cores, ` +
            `the guest's CPUs were busy ${(guestBusyS / wallS).toFixed(2)} of 2 (the loop's own CPU ${(loop.cpu_ns / 1e9).toFixed(2)} s, everything else ${(guestBusyS - loop.cpu_ns / 1e9).toFixed(2)} s: ` +
            `the helper's ring consumer, the session), this client ${((used.user + used.system) / 1e6 / wallS).toFixed(2)} host cores; host load ${load()}, host CPU stolen by its hypervisor ${roundSteal()}`,
        );
      }
      // The same loop through the CLI with its default text output (into a file), as a user runs it.
      const viaCli: CliLoopRun[] = [];
      for (let i = 0; i < ROUNDS; i++) viaCli.push(await cliLoop(root, [LOOP, String(ITERATIONS), LOOP_FILE]));
      const ms = (ns: number) => `${(ns / 1e6).toFixed(0)} ms`;
      const base = median(plain);
      // The same runs' raw loop times against the baseline's: no spin in them, but minutes apart. A second view
      // where the spin of one run is off (loop/spin spread over 0.3 in a state's runs, seen in session 22).
      const raw = (runs: UntracedRun[]) =>
        `raw ${spread(runs.map((u) => u.loopNs / 1e6), 0)} ms against ${spread(plain.map((n) => n / 1e6), 0)} ms before any tracer: ${(median(runs.map((u) => u.loopNs)) / base).toFixed(2)}x`;
      console.log(`loop untraced, no tracer loaded:        ${ms(base)} median (${plain.map(ms).join(', ')})`);
      console.log(`loop untraced, another process traced:  ${ms(median(attachedIdle))} median, ${(median(attachedIdle) / base).toFixed(2)}x (raw times minutes apart)`);
      const plainNorm = plainRuns.map((u) => u.normalized);
      const attachedNorm = attachedRuns.map((u) => u.normalized);
      console.log(
        `untraced while another process is traced, each run over a CPU-only spin just before it (${plainRuns.length}+${attachedRuns.length} runs): ` +
          `loop/spin ${spread(plainNorm)} before any tracer, ${spread(attachedNorm)} during a trace: ${(median(attachedNorm) / median(plainNorm)).toFixed(2)}x ` +
          `(from the medians; every attached run over every unattached run spans ${spread(attachedNorm.flatMap((a) => plainNorm.map((p) => a / p)))}x)`,
      );
      console.log(
        `  other guest CPU during the untraced loops (share of one CPU): ${spread(plainRuns.map((u) => u.otherCpu * 100), 0)}% before any tracer, ` +
          `${spread(attachedRuns.map((u) => u.otherCpu * 100), 0)}% during another process's trace`,
      );
      const afterNorm = afterRuns.map((u) => u.normalized);
      console.log(
        `untraced right after a trace, the session connected (the keeper detaches the syscall programs once nothing is traced, the hot hook programs 10 s after the trace): ` +
          `loop/spin ${spread(afterNorm)}, ${(median(afterNorm) / median(plainNorm)).toFixed(2)}x (${raw(afterRuns)}); other guest CPU ${spread(afterRuns.map((u) => u.otherCpu * 100), 0)}%`,
      );
      console.log(`loop traced, in-process client (the editor's path): ${ms(median(traced))} median, ${(median(traced) / base).toFixed(2)}x (lsmtrace: 5.7x)`);
      const cliNs = viaCli.map((r) => r.loopNs);
      console.log(
        `loop traced through the CLI (bpf-lsm trace --target vm, text output into a file): ${ms(median(cliNs))} median (${cliNs.map(ms).join(', ')}), ` +
          `${(median(cliNs) / base).toFixed(2)}x; the CLI's host CPU ${viaCli.map((r) => `${(r.cpuMs / 1000).toFixed(2)} s`).join(', ')} for ${viaCli[0].lines} lines each; ${viaCli[0].drops}`,
      );
      // The host is shared: a round's traced run against the untraced run just before it is steadier than
      // medians taken minutes apart.
      const paired = traced.map((t, i) => t / attachedIdle[i]);
      // Also against the spin just before that round's untraced run (the traced run follows within seconds).
      console.log(`loop traced / untraced before any tracer, each over its spin: ${spread(traced.map((t, i) => t / attachedRuns[i].spinNs / median(plainNorm)))}x`);
      console.log(`loop traced / untraced (another process traced) of the same round: ${paired.map((r) => r.toFixed(2)).join(', ')} (median ${median(paired).toFixed(2)}x)`);
      if (neighbour.length > 0) {
        console.log(
          `loop untraced on one vCPU while a CPU-only spin keeps the other busy (no tracer): ${ms(median(neighbour))} median (${neighbour.map(ms).join(', ')}), ` +
            `${(median(neighbour) / base).toFixed(2)}x alone: what a busy second vCPU costs on this host's cores, as the helper's ring consumer is during a trace; ` +
            `the traced loop over it: ${(median(traced) / median(neighbour)).toFixed(2)}x`,
        );
      } else {
        console.log('loop beside a busy vCPU: skipped (no taskset in the VM image)');
      }
      if (hasStrace) {
        console.log(`loop under strace -f -o /dev/null:      ${ms(median(strace))} median, ${(median(strace) / base).toFixed(2)}x (elsewhere: 63x)`);
        console.log(`traced vs strace -f: ${(median(traced) / median(strace)).toFixed(3)}x the time`);
      } else {
        console.log(process.env.BENCH_TRACE_STRACE === '0' ? 'strace: skipped (BENCH_TRACE_STRACE=0)' : 'strace is not in the VM image (install strace on the host and rebuild the image)');
      }
      for (const [i, r] of runs.entries()) {
        const m = r.summary;
        const secs = m.durationMs / 1000;
        const perIteration = m.produced / ITERATIONS;
        console.log(
          `traced round ${i + 1}: ${Math.round(m.delivered / secs)} events/s delivered (${m.delivered} in ${s(m.durationMs)}, ` +
            `${(m.bytes / secs / 1e6).toFixed(2)} MB/s, ${Math.round(m.bytes / Math.max(1, m.delivered))} bytes/event, ` +
            `${perIteration.toFixed(1)} records per iteration), client CPU ${r.cpuMs.toFixed(0)} ms ` +
            `(${((r.cpuMs * 1e3) / Math.max(1, m.delivered)).toFixed(1)} us/event); ${dropsLine(m)}`,
        );
      }
      const lost = runs.map((r) => r.summary.drops.kernel + r.summary.drops.helper + r.summary.drops.undecodable + r.summary.drops.unaccounted);
      console.log(`events lost of produced, median: ${median(lost.map((l, i) => l / Math.max(1, runs[i].summary.produced + runs[i].summary.drops.kernel)) ).toFixed(4)} (lsmtrace silently loses ~0.18; libbpf C consumer: 550k events/s)`);
      await programCosts(vm, b);
      // The same untraced loop with the tracer still resident but idle: no session connected (as after a CLI
      // trace), and its keeper has detached the syscall programs (SYSCALL_IDLE_MS after the last trace).
      const key = b.residentKey!;
      await b.dispose();
      sessions.splice(sessions.indexOf(b), 1);
      const idleFrom = Date.now();
      while ((await idleLinks(vm, key)) > 0 && Date.now() - idleFrom < 60_000) await new Promise((r) => setTimeout(r, 1000));
      const linksLeft = await idleLinks(vm, key);
      console.log(`(the tracer's keeper ${linksLeft ? `still had ${linksLeft} syscall or hot hook program(s) attached after 60 s` : `detached its syscall and hot hook programs ${s(Date.now() - idleFrom)} after the session ended`})`);
      const unconnected: UntracedRun[] = [];
      for (let i = 0; i < UNTRACED_ROUNDS; i++) unconnected.push(await untracedRun(vm));
      const unconnectedNorm = unconnected.map((u) => u.normalized);
      console.log(
        `untraced with the tracer resident, idle (no session, syscall and hot hook programs detached): loop/spin ${spread(unconnectedNorm)}, ${(median(unconnectedNorm) / median(plainNorm)).toFixed(2)}x ` +
          `(during a trace: ${(median(attachedNorm) / median(plainNorm)).toFixed(2)}x, right after one: ${(median(afterNorm) / median(plainNorm)).toFixed(2)}x); ${raw(unconnected)}; ` +
          `other guest CPU ${spread(unconnected.map((u) => u.otherCpu * 100), 0)}%`,
      );
      // Then once the keeper has detached the hook programs too (the tracer's hooksIdleMs after the last trace:
      // BENCH_TRACE_HOOKS_IDLE_MS, set for the tracer this bench loads), and what the next trace pays for them.
      const hooksFrom = Date.now();
      while ((await tracerLinks(vm, key)) > 0 && Date.now() - hooksFrom < HOOKS_IDLE_MS + 180_000) await new Promise((r) => setTimeout(r, 5000));
      const hookLinksLeft = await tracerLinks(vm, key);
      const hooksIdle: UntracedRun[] = [];
      for (let i = 0; i < UNTRACED_ROUNDS && !hookLinksLeft; i++) hooksIdle.push(await untracedRun(vm));
      if (hookLinksLeft) console.log(`untraced with every program detached: not measured (${hookLinksLeft} links left ${s(Date.now() - hooksFrom)} after the syscall programs went)`);
      else {
        const norm = hooksIdle.map((u) => u.normalized);
        const t0 = Date.now();
        const next = await TracerSession.connect(vm, () => {}, { cacheDir });
        sessions.push(next);
        await next.prepare();
        const again = await traceOnce(next, ['/usr/bin/ls', '/home'], t0);
        console.log(
          `untraced with the tracer resident, every program detached (${s(Date.now() - hooksFrom)} later): loop/spin ${spread(norm)}, ${(median(norm) / median(plainNorm)).toFixed(2)}x (${raw(hooksIdle)}); ` +
            `the next trace attached them again: first event ${s(again.toFirstEventMs)} after its connect (${again.summary.delivered} events)`,
        );
      }
      // (f) Last, as it reboots the VM: the first trace after `bpf-lsm vm up`, which loads the tracer.
      if (process.env.BENCH_TRACE_COLD !== '0' && process.env.BENCH_TRACE_BOOT !== '0') await afterBoot(root);
      console.log(`host load average at end: ${load()}; host CPU stolen by its hypervisor during the run: ${runSteal()}`);
    } finally {
      for (const session of sessions) await session.dispose();
      rmSync(cacheDir, { recursive: true, force: true });
    }
  });
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(`trace bench failed: ${(err as Error).stack ?? err}`);
    process.exit(1);
  },
);
