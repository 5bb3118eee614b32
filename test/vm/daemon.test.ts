// The built-in VM's helper daemon (extension/helper/daemon.ts): back-to-back CLI traces are sessions of one
// daemon process (no node start in the guest after the first), and a daemon killed with SIGKILL is replaced
// by the next client with nothing of its sessions left behind. Timing is the benchmark's (bench/trace.bench.ts).
import * as assert from 'node:assert/strict';
import { vmTarget } from '../../extension/core/targets/vm';
import { TracerSession } from '../../extension/core/trace/tracerSession';
import { DAEMON_DIR } from '../../extension/shared/helperDaemon';
import type { TraceEvent } from '../../extension/shared/traceEvent';
import { bpfLsm } from './cli';
import { daemonThreadCpus } from './daemonThreads';
import { processGone, until } from './until';

interface CliTrace {
  code: number;
  /** file_open events of ls in --json. */
  fileOpens: number;
  /** The helper pid and daemon session number hello reported (BPF_LSM_TIMINGS=1 prints them). */
  helperPid?: number;
  session?: number;
  stderr: string;
}

describe('helper daemon of the built-in VM', function () {
  this.timeout(300_000);
  const vm = vmTarget();

  /** The daemon's pid and how many sessions it has started. */
  async function daemon(): Promise<{ pid: number; sessions: number; alive: boolean }> {
    const r = await vm.exec('sh', ['-c', 'd=$1; read -r pid < $d/pid; read -r n < $d/sessions; kill -0 "$pid" 2>/dev/null && a=1 || a=0; echo "$pid $n $a"', 'daemon', DAEMON_DIR]);
    const [pid, sessions, alive] = r.stdout.trim().split(' ').map(Number);
    return { pid, sessions, alive: alive === 1 };
  }

  /** tr_events ring buffers in the kernel: one per trace session on the resident tracer. */
  async function sessionRings(): Promise<number> {
    const r = await vm.exec('bpftool', ['--json', 'map', 'show']);
    return (JSON.parse(r.stdout || '[]') as Array<{ name?: string }>).filter((m) => m.name === 'tr_events').length;
  }

  async function cliTrace(): Promise<CliTrace> {
    const saved = process.env.BPF_LSM_TIMINGS;
    process.env.BPF_LSM_TIMINGS = '1';
    try {
      const r = await bpfLsm('trace', '--target', 'vm', '--json', '--', '/usr/bin/ls', '/home');
      const events = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceEvent);
      const hello = /hello answered \(helper pid (\d+)(?:, daemon session (\d+))?\)/.exec(r.stderr);
      return {
        code: r.code,
        fileOpens: events.filter((e) => e.kind === 'hook' && e.hook === 'file_open' && e.comm === 'ls').length,
        helperPid: hello ? Number(hello[1]) : undefined,
        session: hello?.[2] ? Number(hello[2]) : undefined,
        stderr: r.stderr,
      };
    } finally {
      if (saved === undefined) delete process.env.BPF_LSM_TIMINGS;
      else process.env.BPF_LSM_TIMINGS = saved;
    }
  }

  it('serves 4 back-to-back CLI traces, each with the file_open events of ls; runs 2-4 are sessions of the same daemon', async () => {
    const runs: CliTrace[] = [];
    const states: Array<{ pid: number; sessions: number; alive: boolean }> = [];
    for (let i = 0; i < 4; i++) {
      runs.push(await cliTrace());
      states.push(await daemon());
    }
    runs.forEach((r, i) => {
      assert.equal(r.code, 0, `run ${i + 1}: ${r.stderr}`);
      assert.ok(r.fileOpens > 0, `run ${i + 1} has no file_open event of ls: ${r.stderr}`);
      assert.equal(r.helperPid, states[i].pid, `run ${i + 1} was served by the daemon (hello's pid is the daemon's): ${r.stderr}`);
    });
    // The same daemon process all along, one more session per run: no helper process was started for runs 2-4.
    assert.ok(states.every((s) => s.alive && s.pid === states[0].pid), JSON.stringify(states));
    for (let i = 1; i < 4; i++) {
      assert.equal(states[i].sessions, states[i - 1].sessions + 1, JSON.stringify(states));
      assert.equal(runs[i].session, states[i].sessions, `run ${i + 1} is the daemon's latest session`);
    }
    console.log(`      daemon ${states[0].pid}: sessions ${runs.map((r) => r.session).join(', ')}; file_open of ls per run ${runs.map((r) => r.fileOpens).join(', ')}`);
  });

  it('keeps every thread of its own on the last CPU, and gives a traced program every CPU back', async () => {
    await cliTrace();
    const { pid } = await daemon();
    const cpus = Number((await vm.exec('nproc', [])).stdout.trim());
    const lists = await daemonThreadCpus(vm, pid);
    const r = await bpfLsm('trace', '--target', 'vm', '--json', '--', '/bin/sh', '-c', 'grep Cpus_allowed_list /proc/self/status');
    assert.equal(r.code, 0, r.stderr);
    const traced = /Cpus_allowed_list:\s*(\S+)/.exec(`${r.stdout}\n${r.stderr}`)?.[1];
    if (cpus < 2) {
      assert.ok(lists.length > 0 && lists.every((l) => l === '0'), lists.join(' '));
    } else {
      assert.ok(lists.length > 1 && lists.every((l) => l === String(cpus - 1)), `daemon threads: ${lists.join(' ')}`);
      assert.equal(traced, `0-${cpus - 1}`, r.stderr);
    }
    console.log(`      ${cpus} vCPUs: ${lists.length} daemon threads on CPU ${lists[0]}; the traced program on CPUs ${traced}`);
  });

  it('replaces a daemon killed with SIGKILL: its session ends, the program it spawned dies, its stderr FIFO goes, the next trace works and leaves no ring buffer', async () => {
    const session = await TracerSession.connect(vm);
    await session.prepare();
    const killed = session.client.helper!.pid;
    assert.equal(killed, (await daemon()).pid, 'the session is the daemon\'s');
    assert.ok((await sessionRings()) >= 1);
    // A program the session spawned (stopped, as for a trace): util-linux's setpriv in the image has the
    // kernel kill it with the daemon.
    const { pid: spawned } = await session.client.call('spawn', { argv: ['/bin/sleep', '600'] });
    const r = await vm.exec('kill', ['-9', String(killed)]);
    assert.equal(r.exitCode, 0, r.stderr);
    const gone = await session.client.closed;
    assert.ok(gone.message, 'the client learns that its helper is gone');
    await session.dispose();
    await until(`the spawned program (pid ${spawned}) to die with the daemon`, 10_000, () => processGone(vm, spawned));
    // The session script's cat reads the end of its FIFO, and the script ends.
    await until('no session FIFO and no session script left', 60_000, async () => {
      const left = await vm.exec('sh', ['-c', 'ls "$1" | grep "^s-"; ps -o args | grep "[c]at $1/s-"; true', 'left', DAEMON_DIR]);
      return left.stdout.trim() === '' ? true : undefined;
    });

    const next = await cliTrace();
    assert.equal(next.code, 0, next.stderr);
    assert.ok(next.fileOpens > 0, next.stderr);
    const now = await daemon();
    assert.ok(now.alive && now.pid !== killed, `a new daemon serves (${JSON.stringify(now)})`);
    assert.equal(next.helperPid, now.pid);
    assert.equal(next.session, 1, 'the first session of the new daemon');
    // The killed session's ring stayed in the tracer's ring table at its slot (as after a SIGKILLed helper
    // process) until the next trace took that slot over; once that trace has ended no ring is left.
    await until('no trace session ring buffer left after the next trace', 60_000, async () => ((await sessionRings()) === 0 ? true : undefined));
    console.log(`      daemon ${killed} SIGKILLed: replaced by ${now.pid}, next trace ${next.fileOpens} file_open of ls`);
  });
});
