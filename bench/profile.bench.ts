// Overhead of profile enforcement (bpf/profile_guard.bpf.c) on the built-in VM, in one VM run, on
// bench/trace_loop.c (open/read/close N times; the loop times itself in the guest: CLOCK_MONOTONIC and the
// process's CPU time) and on the host (the CPU time of the VM's qemu threads while the loop runs: under
// TCG the guest's clocks follow the host's, so when other work on the host preempts the VM both guest
// figures grow, while the emulation's own CPU time does not), in three configurations:
//   untraced  no policy in the kernel
//   outside   profile_guard attached with a 100-rule profile, the loop outside every profile: what every
//             other process on the target pays
//   profiled  the same loop as the profile's subject (a copy of the binary: another inode), every open
//             judged against the 100 rules (path resolved, hashed, prefix lookups at each '/')
// The host is shared (other VMs, builds), so one run per configuration tells little. Every round measures
// all three, back to back, applying the profile and clearing it again inside the round, and alternates
// the order (ABBA) so drift hits each configuration alike. An overhead is computed per round against that
// round's own untraced run; the figures are the median over rounds with p25/p75. The loop is pinned to one
// guest CPU. The host figure has the fixed cost of starting the loop over ssh (measured with 0 iterations,
// per configuration) taken off. Each measurement follows a short uncounted loop of the same binary. A last phase turns on kernel.bpf_stats_enabled and reads each program's run time per call,
// which says where an overhead goes. Prints figures; never fails on speed.
//   BENCH_PROFILE_ITERATIONS (default 50000)   BENCH_PROFILE_ROUNDS (default 12)   BENCH_PROFILE_STATS_RUNS (6)
//   BENCH_PROFILE_SETTLE_MS (pause after each attach/detach, default 3000)
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { vmTarget } from '../extension/core/targets/vm';
import type { Target } from '../extension/core/target';
import { HelperClient } from '../extension/core/helperClient';
import { applyProfiles, clearProfiles, profileGuardObject, PROFILE_PROGRAMS } from '../extension/core/policy/profileApply';
import { parsePolicyDocument, Profile } from '../extension/core/policy/profile';
import { withBenchVm } from './benchVm';

const ITERATIONS = Number(process.env.BENCH_PROFILE_ITERATIONS ?? 50000);
const ROUNDS = Number(process.env.BENCH_PROFILE_ROUNDS ?? 12);
const REMOTE_DIR = '/tmp/bpf-lsm-bench';
const LOOP = `${REMOTE_DIR}/trace_loop`;
const SUBJECT = `${REMOTE_DIR}/trace_loop_profiled`;
const LOOP_FILE = '/etc/hostname';
const GUEST_CPU = '1';
// Attaching and detaching patch the kernel's text, after which TCG translates the code it runs anew: a short
// loop first, not counted, so that cost lands in no measurement.
const WARMUP = 2000;
const STATS_RUNS = Number(process.env.BENCH_PROFILE_STATS_RUNS ?? 6);
// After an attach or detach the guest frees and patches in the background (trampolines, RCU grace periods):
// a pause before measuring, so that work does not compete with the next configuration's loop.
const SETTLE_MS = Number(process.env.BENCH_PROFILE_SETTLE_MS ?? 3000);
const settle = () => new Promise((res) => setTimeout(res, SETTLE_MS));

type Config = 'untraced' | 'outside' | 'profiled';
interface Run {
  ns: number;
  cpuNs: number;
  hostNs: number;
  /** Share of the time the guest's other CPU was busy while the loop ran (work there competes for the host). */
  otherBusy: number;
}

/** The q-quantile (0..1) of xs, linearly interpolated. */
function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const at = (s.length - 1) * q;
  const lo = Math.floor(at);
  return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (at - lo);
}
const pct = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

/** CPU time (ns) the VM's qemu process has run on the host so far, all threads (schedstat: on-CPU time). */
function hostCpuNs(pid: number): number {
  let sum = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      sum += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // a thread that ended between listing and reading: its time is in none of the two readings
    }
  }
  return sum;
}

/** Busy and total jiffies of the guest's other CPU (cpu0: the loop runs on GUEST_CPU) from a /proc/stat line. */
function otherCpu(line: string | undefined): { busy: number; total: number } {
  const f = (line ?? '').trim().split(/\s+/).slice(1, 8).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - (f[3] ?? 0) - (f[4] ?? 0), total };
}

async function loop(target: Target, qemuPid: number, binary: string, iterations = ITERATIONS): Promise<Run> {
  const host0 = hostCpuNs(qemuPid);
  const stat = "grep '^cpu0 ' /proc/stat";
  const r = await target.exec('sh', ['-c', `${stat} && taskset -c ${GUEST_CPU} "$@" && ${stat}`, 'sh', binary, String(iterations), LOOP_FILE], { timeoutMs: 30 * 60_000 });
  const hostNs = hostCpuNs(qemuPid) - host0;
  if (r.exitCode !== 0) throw new Error(`${binary} failed (${r.exitCode}): ${r.stderr}`);
  const lines = r.stdout.split('\n');
  const line = lines.find((l) => l.startsWith('{"iterations"'));
  if (!line) throw new Error(`the loop printed no result: ${r.stdout.slice(0, 200)}`);
  const j = JSON.parse(line) as { ns: number; cpu_ns: number };
  const [a, b] = lines.filter((l) => l.startsWith('cpu0 ')).map(otherCpu);
  const otherBusy = b && b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
  return { ns: j.ns, cpuNs: j.cpu_ns, hostNs, otherBusy };
}

/** A 100-rule allow-list profile for the subject: the loop's file among exact paths, directories and connects. */
function benchProfiles(): readonly Profile[] {
  const files: Array<{ path: string; access: string }> = [];
  for (let i = 0; i < 60; i++) files.push({ path: `/opt/bench/file-${i}.conf`, access: 'read' });
  for (let i = 0; i < 25; i++) files.push({ path: `/srv/bench/dir-${i}/`, access: i % 2 ? 'rw' : 'read' });
  files.push({ path: LOOP_FILE, access: 'read' });
  const exec = Array.from({ length: 5 }, (_, i) => `/usr/local/bin/tool-${i}`);
  const connect = Array.from({ length: 9 }, (_, i) => ({ proto: 'tcp', addr: `10.${i}.0.0/16`, port: 443 }));
  const doc = { profiles: [{ name: 'bench', subject: { path: SUBJECT, descendants: false }, mode: 'enforce', default: 'deny', exec, files, connect }] };
  return parsePolicyDocument(JSON.stringify(doc), 'the benchmark profile').profiles;
}

/** run_time_ns and run_cnt of each profile_guard program (kernel.bpf_stats_enabled must be 1). */
async function progStats(target: Target): Promise<Map<string, { ns: number; cnt: number }>> {
  const r = await target.exec('bpftool', ['--json', 'prog', 'show'], { root: true });
  const progs = JSON.parse(r.stdout || '[]') as Array<{ name?: string; run_time_ns?: number; run_cnt?: number }>;
  const out = new Map<string, { ns: number; cnt: number }>();
  for (const p of progs) {
    const name = PROFILE_PROGRAMS.find((n) => p.name && n.startsWith(p.name));
    if (name) out.set(name, { ns: p.run_time_ns ?? 0, cnt: p.run_cnt ?? 0 });
  }
  return out;
}

/** How many of profile_guard's programs the guest kernel holds. */
async function loadedGuards(target: Target): Promise<number> {
  const r = await target.exec('bpftool', ['--json', 'prog', 'show'], { root: true });
  return (JSON.parse(r.stdout || '[]') as Array<{ name?: string }>).filter((p) => PROFILE_PROGRAMS.some((n) => p.name && n.startsWith(p.name))).length;
}

function summary(label: string, overheads: number[], target: string): string {
  return `${label}: median ${pct(quantile(overheads, 0.5))} (p25 ${pct(quantile(overheads, 0.25))}, p75 ${pct(quantile(overheads, 0.75))}) vs untraced, target <= ${target}`;
}

async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  process.env.BPF_LSM_DIST ??= join(root, 'dist');
  await withBenchVm(root, async () => {
    const out = join(root, 'out', 'bench');
    mkdirSync(out, { recursive: true });
    const binary = join(out, 'trace_loop');
    execFileSync('cc', ['-O2', '-static', '-o', binary, join(root, 'bench', 'trace_loop.c')], { stdio: 'inherit' });
    const profiles = benchProfiles();
    const object = profileGuardObject(join(root, 'dist'));
    const vm = vmTarget();
    await vm.copyTo([{ local: binary, remote: LOOP }, { local: binary, remote: SUBJECT }]);
    execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'policy', 'clear', '--target', 'vm'], { stdio: 'ignore' });
    const client = await HelperClient.connect(await vm.startHelper(), { client: 'profile bench' });
    const qemuPid = (JSON.parse(execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), 'vm', 'status', '--json'], { encoding: 'utf8' })) as { vm: { pid: number } }).vm.pid;
    const runs: Record<Config, Run[]> = { untraced: [], outside: [], profiled: [] };
    const empty: Record<Config, number[]> = { untraced: [], outside: [], profiled: [] };
    const measure = async (c: Config) => {
      const binary = c === 'profiled' ? SUBJECT : LOOP;
      await loop(vm, qemuPid, binary, WARMUP);
      empty[c].push((await loop(vm, qemuPid, binary, 0)).hostNs);
      runs[c].push(await loop(vm, qemuPid, binary));
    };
    const guestLoad = async () => (await vm.exec('cat', ['/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    try {
      console.log(`load average at start: host ${load()} (2 host cores shared), guest ${await guestLoad()}`);
      console.log(`workload: taskset -c ${GUEST_CPU} trace_loop ${ITERATIONS} ${LOOP_FILE} (open/read/close per iteration); ${ROUNDS} rounds of all three configurations, ABBA order; profile: 100 rules (86 file, 5 exec, 9 connect), enforce, allow-list`);
      const started = Date.now();
      let leftAfterClear = 0;
      for (let round = 0; round < ROUNDS; round++) {
        const attached = async (order: Config[]) => {
          await applyProfiles(vm, client, profiles, object);
          await settle();
          for (const c of order) await measure(c);
          await clearProfiles(vm, client);
          await settle();
          const left = await loadedGuards(vm);
          if (left) console.log(`round ${round + 1}: after clear ${left} profile_guard programs are still loaded`);
          leftAfterClear = Math.max(leftAfterClear, left);
        };
        if (round % 2 === 0) {
          await measure('untraced');
          await attached(['outside', 'profiled']);
        } else {
          await attached(['profiled', 'outside']);
          await measure('untraced');
        }
      }
      const fixed = (c: Config) => quantile(empty[c], 0.5);
      const clocks: Array<[string, (r: Run, c: Config) => number]> = [
        ['guest wall time (CLOCK_MONOTONIC)', (r) => r.ns],
        ['guest CPU time of the loop', (r) => r.cpuNs],
        ['host CPU time of the VM (qemu threads, less the loop start)', (r, c) => r.hostNs - fixed(c)],
      ];
      const perIt = (ns: number) => `${(ns / ITERATIONS / 1000).toFixed(2)} µs`;
      for (const [clock, pick] of clocks) {
        const base = runs.untraced.map((r) => pick(r, 'untraced'));
        const over = (c: Config) => runs[c].map((r, i) => ((pick(r, c) - base[i]) / base[i]) * 100);
        console.log(`${clock}: untraced median ${perIt(quantile(base, 0.5))}/iteration (p25 ${perIt(quantile(base, 0.25))}, p75 ${perIt(quantile(base, 0.75))})`);
        console.log(`  ${summary('outside every profile', over('outside'), '3%')}`);
        console.log(`  ${summary('profiled, 100 rules', over('profiled'), '15%')}`);
      }
      console.log(`guest's other CPU busy during the loop, median: ${(['untraced', 'outside', 'profiled'] as const).map((c) => `${c} ${(quantile(runs[c].map((r) => r.otherBusy), 0.5) * 100).toFixed(1)}%`).join(', ')}`);
      console.log(`loop start over ssh (0 iterations), host CPU median: ${(['untraced', 'outside', 'profiled'] as const).map((c) => `${c} ${(fixed(c) / 1e6).toFixed(1)} ms`).join(', ')}`);
      for (const c of ['untraced', 'outside', 'profiled'] as const) console.log(`rounds ${c} (µs/iteration wall/cpu/host): ${runs[c].map((r) => [r.ns, r.cpuNs, r.hostNs - fixed(c)].map((x) => (x / ITERATIONS / 1000).toFixed(2)).join('/')).join(' ')}`);
      console.log(`programs left after each clear: ${leftAfterClear ? `up to ${leftAfterClear} (leaked)` : 'none'}`);
      console.log(`rounds took ${((Date.now() - started) / 1000).toFixed(0)} s; load average at end: host ${load()}, guest ${await guestLoad()}`);

      // Where the time goes, and a figure host load hardly moves: with kernel.bpf_stats_enabled each
      // program counts its own run time, so the share of one loop's time spent in profile_guard comes from
      // one run (host preemption stretches the loop and the programs alike). Added time vs untraced is
      // bpf / (loop - bpf); it leaves out the trampoline's entry and exit, which the "outside" rounds show.
      await applyProfiles(vm, client, profiles, object);
      await settle();
      await vm.exec('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=1'], { root: true });
      try {
        const added: Record<'outside' | 'profiled', number[]> = { outside: [], profiled: [] };
        const perCall = new Map<string, number[]>();
        for (let i = 0; i < STATS_RUNS; i++) {
          for (const c of (i % 2 ? ['profiled', 'outside'] : ['outside', 'profiled']) as Array<'outside' | 'profiled'>) {
            await loop(vm, qemuPid, c === 'profiled' ? SUBJECT : LOOP, WARMUP);
            const before = await progStats(vm);
            const run = await loop(vm, qemuPid, c === 'profiled' ? SUBJECT : LOOP);
            const after = await progStats(vm);
            let bpfNs = 0;
            for (const [name, x] of after) {
              const b = before.get(name) ?? { ns: 0, cnt: 0 };
              bpfNs += x.ns - b.ns;
              if (x.cnt - b.cnt >= ITERATIONS) perCall.set(`${c} ${name}`, [...(perCall.get(`${c} ${name}`) ?? []), (x.ns - b.ns) / (x.cnt - b.cnt)]);
            }
            added[c].push((bpfNs / (run.ns - bpfNs)) * 100);
          }
        }
        console.log(`bpf_stats over ${STATS_RUNS} loops each (run time per call, median): ${[...perCall].map(([k, v]) => `${k} ${quantile(v, 0.5).toFixed(0)} ns`).join('; ')}`);
        console.log(`  ${summary('outside every profile, time in profile_guard', added.outside, '3%')}`);
        console.log(`  ${summary('profiled, 100 rules, time in profile_guard', added.profiled, '15%')}`);
      } finally {
        await vm.exec('sysctl', ['-q', '-w', 'kernel.bpf_stats_enabled=0'], { root: true });
      }
      const denied = await vm.exec(SUBJECT, ['1', '/etc/passwd']);
      console.log(`check: the profiled loop opening /etc/passwd (not in its rules) ${denied.exitCode !== 0 && /Operation not permitted/.test(denied.stderr) ? 'was denied (EPERM)' : `was NOT denied: ${denied.stderr.trim()}`}`);
    } finally {
      await clearProfiles(vm, client).catch(() => undefined);
      await client.close();
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
