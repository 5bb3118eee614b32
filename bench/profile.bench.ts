// Overhead of profile enforcement (bpf/profile_guard.bpf.c) on the built-in VM, in one VM run, on
// bench/trace_loop.c (open/read/close N times, timed by the loop itself):
//   untraced  no policy in the kernel (before applying, and again after clearing)
//   outside   profile_guard attached with a 100-rule profile, the loop outside every profile: what every
//             other process on the target pays (one task-storage lookup per hook)
//   profiled  the same loop as the profile's subject (a copy of the binary: another inode), every open
//             judged against the 100 rules (path resolved, hashed, prefix lookups at each '/')
// Rounds alternate outside/profiled so drift on the shared host hits both alike. Prints figures; never
// fails on speed. BENCH_PROFILE_ITERATIONS (default 20000), BENCH_PROFILE_ROUNDS (default 5).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { vmTarget } from '../extension/core/targets/vm';
import type { Target } from '../extension/core/target';
import { withBenchVm } from './benchVm';

const ITERATIONS = Number(process.env.BENCH_PROFILE_ITERATIONS ?? 20000);
const ROUNDS = Number(process.env.BENCH_PROFILE_ROUNDS ?? 5);
const REMOTE_DIR = '/tmp/bpf-lsm-bench';
const LOOP = `${REMOTE_DIR}/trace_loop`;
const SUBJECT = `${REMOTE_DIR}/trace_loop_profiled`;
const LOOP_FILE = '/etc/hostname';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pct = (x: number, base: number) => `${x >= base ? '+' : ''}${(((x - base) / base) * 100).toFixed(1)}%`;

async function loop(target: Target, binary: string): Promise<number> {
  const r = await target.exec(binary, [String(ITERATIONS), LOOP_FILE], { timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`${binary} failed (${r.exitCode}): ${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('{"iterations"'));
  if (!line) throw new Error(`the loop printed no result: ${r.stdout.slice(0, 200)}`);
  return (JSON.parse(line) as { ns: number }).ns;
}

/** A 100-rule allow-list profile for the subject: the loop's file among exact paths, directories and connects. */
function benchProfile(): object {
  const files: Array<{ path: string; access: string }> = [];
  for (let i = 0; i < 60; i++) files.push({ path: `/opt/bench/file-${i}.conf`, access: 'read' });
  for (let i = 0; i < 25; i++) files.push({ path: `/srv/bench/dir-${i}/`, access: i % 2 ? 'rw' : 'read' });
  files.push({ path: LOOP_FILE, access: 'read' });
  const exec = Array.from({ length: 5 }, (_, i) => `/usr/local/bin/tool-${i}`);
  const connect = Array.from({ length: 9 }, (_, i) => ({ proto: 'tcp', addr: `10.${i}.0.0/16`, port: 443 }));
  return { profiles: [{ name: 'bench', subject: { path: SUBJECT, descendants: false }, mode: 'enforce', default: 'deny', exec, files, connect }] };
}

function cli(root: string, ...args: string[]): string {
  return execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
}

async function main(): Promise<void> {
  const root = join(__dirname, '..', '..');
  process.env.BPF_LSM_DIST ??= join(root, 'dist');
  await withBenchVm(root, async () => {
    const out = join(root, 'out', 'bench');
    mkdirSync(out, { recursive: true });
    const binary = join(out, 'trace_loop');
    execFileSync('cc', ['-O2', '-static', '-o', binary, join(root, 'bench', 'trace_loop.c')], { stdio: 'inherit' });
    const dir = mkdtempSync(join(out, 'profile-'));
    const policy = join(dir, 'bench.policy.json');
    writeFileSync(policy, JSON.stringify(benchProfile()));
    const vm = vmTarget();
    try {
      await vm.copyTo([{ local: binary, remote: LOOP }, { local: binary, remote: SUBJECT }]);
      cli(root, 'policy', 'clear', '--target', 'vm');
      console.log(`host load average at start: ${loadavg().map((l) => l.toFixed(1)).join(' ')} (2 host cores shared)`);
      console.log(`workload: trace_loop ${ITERATIONS} ${LOOP_FILE} (open/read/close per iteration), ${ROUNDS} rounds each; profile: 100 rules (86 file, 5 exec, 9 connect), enforce, allow-list`);
      const before: number[] = [];
      for (let i = 0; i < ROUNDS; i++) before.push(await loop(vm, LOOP), await loop(vm, SUBJECT));
      process.stdout.write(cli(root, 'policy', 'apply', '--target', 'vm', '--quiet', policy));
      const outside: number[] = [];
      const profiled: number[] = [];
      for (let i = 0; i < ROUNDS; i++) {
        outside.push(await loop(vm, LOOP));
        profiled.push(await loop(vm, SUBJECT));
      }
      const denied = await vm.exec(SUBJECT, ['1', '/etc/passwd']);
      process.stdout.write(cli(root, 'policy', 'clear', '--target', 'vm'));
      const after: number[] = [];
      for (let i = 0; i < ROUNDS; i++) after.push(await loop(vm, LOOP), await loop(vm, SUBJECT));
      const base = median([...before, ...after]);
      const perOpen = (ns: number) => `${(ns / ITERATIONS / 1000).toFixed(2)} µs/iteration`;
      console.log(`untraced (no policy): median ${perOpen(base)} (before apply ${perOpen(median(before))}, after clear ${perOpen(median(after))})`);
      console.log(`outside every profile (profile_guard attached): median ${perOpen(median(outside))}, ${pct(median(outside), base)} vs untraced (target <= 3%)`);
      console.log(`profiled, 100 rules: median ${perOpen(median(profiled))}, ${pct(median(profiled), base)} vs untraced (target <= 15%)`);
      console.log(`check: the profiled loop opening /etc/passwd (not in its rules) ${denied.exitCode !== 0 && /Operation not permitted/.test(denied.stderr) ? 'was denied (EPERM)' : `was NOT denied: ${denied.stderr.trim()}`}`);
      console.log(`rounds (ns): before ${before.join(' ')} | outside ${outside.join(' ')} | profiled ${profiled.join(' ')} | after ${after.join(' ')}`);
    } finally {
      cli(root, 'policy', 'clear', '--target', 'vm');
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
