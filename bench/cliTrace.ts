// `bpf-lsm trace` runs timed from outside, as a user would run them, for bench/trace.bench.ts: back-to-back
// runs on the resident tracer, and the first trace after `bpf-lsm vm up` (which loads the tracer in the
// background once the VM has booted), issued at once and once the tracer is resident.
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CliRun {
  wallMs: number;
  firstEventMs: number | undefined;
  /** From the command's start (its node process) to the first event: resume, then the first event. */
  toFirstEventMs: number | undefined;
  fileOpens: number;
  resident: boolean;
  code: number | null;
  /** The command's own account of its phases (BPF_LSM_TIMINGS=1). */
  phases: string;
}

/** One `bpf-lsm trace --target vm --json -- /usr/bin/ls /home`, timed from node start to exit. */
export function cliTrace(root: string, env: Record<string, string> = {}): Promise<CliRun> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'dist', 'cli.js'), 'trace', '--target', 'vm', '--json', '--', '/usr/bin/ls', '/home'],
      { env: { ...process.env, BPF_LSM_TIMINGS: '1', ...env }, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const wallMs = Date.now() - t0;
        const events = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { kind?: string; hook?: string; comm?: string });
        const first = /first event (\d+) ms after resume/.exec(stderr);
        const resumed = /(\d+) ms +\+ *\d+ ms +trace: program in the filter and resumed/.exec(stderr);
        resolve({
          wallMs,
          firstEventMs: first ? Number(first[1]) : undefined,
          toFirstEventMs: first && resumed ? Number(resumed[1]) + Number(first[1]) : undefined,
          fileOpens: events.filter((e) => e.kind === 'hook' && e.hook === 'file_open' && e.comm === 'ls').length,
          resident: /traced by the tracer resident on the target/.test(stderr),
          code: err ? ((err as { code?: number }).code ?? null) : 0,
          phases: stderr.split('where the time went')[1]?.split('\n').slice(1).filter((l) => /^\s+\d+ ms/.test(l)).join('\n') ?? '',
        });
      },
    );
  });
}

export interface CliLoopRun {
  /** The loop's own CLOCK_MONOTONIC time, as it printed it. */
  loopNs: number;
  /** The CLI's host CPU (user + system), from the shell's `times`. */
  cpuMs: number;
  lines: number;
  drops: string;
}

/**
 * One `bpf-lsm trace --target vm -- LOOP ARGS` with the CLI's default text output going into a file, as a user
 * would run it with its output redirected: the CLI decodes, formats and writes every event on this host, whose
 * cores the VM's vCPUs share.
 */
export function cliLoop(root: string, loop: string[]): Promise<CliLoopRun> {
  const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-cli-loop-'));
  const out = join(dir, 'out.txt');
  const script = `"$0" "$@" > '${out}' 2>&1; times`;
  return new Promise((resolve, reject) => {
    execFile('/bin/sh', ['-c', script, process.execPath, join(root, 'dist', 'cli.js'), 'trace', '--target', 'vm', '--quiet', '--', ...loop], (err, stdout) => {
      try {
        if (err) throw err;
        const text = readFileSync(out, 'utf8');
        const lines = text.split('\n');
        const loopLine = lines.find((l) => l.startsWith('{"iterations"'));
        if (!loopLine) throw new Error(`the traced loop printed no result through the CLI:\n${text.slice(-2000)}`);
        // times: the shell's own user/system, then its children's (the CLI), each as NmS.SSSs.
        const seconds = [...(stdout.trim().split('\n').pop() ?? '').matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
        resolve({
          loopNs: (JSON.parse(loopLine) as { ns: number }).ns,
          cpuMs: seconds.length === 2 ? (seconds[0] + seconds[1]) * 1000 : NaN,
          lines: lines.length,
          drops: /^drops: .*$/m.exec(text)?.[0] ?? 'drops: ?',
        });
      } catch (e) {
        reject(e as Error);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function cli(root: string, args: string[]): string {
  return execFileSync(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
}

/** `vm down`, then `vm up` with its background tracer load; resolves when up returns, with its time. */
function reboot(root: string): number {
  cli(root, ['vm', 'down', '--json']);
  const t0 = Date.now();
  const up = JSON.parse(cli(root, ['vm', 'up', '--json'])) as { tracer?: { loading?: boolean } };
  if (!up.tracer?.loading) throw new Error('vm up did not start loading the tracer');
  return Date.now() - t0;
}

function line(label: string, upMs: number, run: CliRun, extra = ''): string {
  const first = run.toFirstEventMs !== undefined ? s(run.toFirstEventMs) : '?';
  return (
    `${label}: vm up ${s(upMs)}${extra}; then the trace ${s(run.wallMs)} wall, ${first} from the command to the first event ` +
    `(${run.firstEventMs ?? '?'} ms after resume), ${run.fileOpens} file_open of ls${run.resident ? ', tracer resident' : ''}${run.code === 0 ? '' : ` (exit ${run.code})`}`
  );
}

/**
 * The first trace after a reboot with `bpf-lsm vm up` (the CLI's compiled tracer cached by the runs before):
 * once right when `vm up` returns (the trace waits for the load under way and reuses it), and once after
 * `tracer status` says the tracer is resident. Leaves the VM running, without a session.
 */
export async function afterBoot(root: string): Promise<void> {
  const atOnceUp = reboot(root);
  const atOnce = await cliTrace(root);
  console.log(line('first trace right after `bpf-lsm vm up` returned (the tracer still loading in the background)', atOnceUp, atOnce));
  const upMs = reboot(root);
  const t0 = Date.now();
  let residentMs: number | undefined;
  while (Date.now() - t0 < 300_000) {
    const status = JSON.parse(cli(root, ['tracer', 'status', '--json'])) as { tracers: Array<{ state: string }> };
    if (status.tracers.some((t) => t.state === 'resident')) {
      residentMs = Date.now() - t0;
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (residentMs === undefined) throw new Error('the tracer vm up loads in the background was not resident 300 s after the boot');
  const run = await cliTrace(root);
  console.log(line('first trace after `bpf-lsm vm up` once its tracer is resident', upMs, run, `, tracer resident ${s(residentMs)} after that`));
}
