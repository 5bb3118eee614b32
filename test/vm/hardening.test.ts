// Fault cases of the trace path against the real kernel in the built-in VM (issue 9): an event flood whose
// counts must reconcile hop by hop, a pin path that escapes bpffs through a symlink, then the ways a session
// can die mid-trace (helper SIGTERM, ssh connection cut, client SIGKILLed, VM rebooted). After each,
// bpftool in the VM must show none of our programs or links (polled with a bound: the kernel detaches
// asynchronously), the client must have reported the loss, and a new connection must trace again.
// The tracer is prepared with one hook (plus its fixed programs) so attach and detach stay short.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { HelperGoneError, HelperRequestError } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';
import { TracerSession } from '../../extension/core/trace/tracerSession';
import { traceProgram, type TraceSummary } from '../../extension/core/trace/traceProgram';
import { BuiltinVm } from '../../extension/core/vm/vm';
import { vmPaths } from '../../extension/core/vm/paths';
import { buildFloodProgram, floodOpens } from '../fixtures/malformed/flood';
import { until } from './until';

const root = join(__dirname, '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');
const HOOKS = { hooks: ['file_open'] };
const FLOOD_SECONDS = 5;

describe('hardening: fault cases of the trace path in the BPF-LSM VM', function () {
  this.timeout(240_000);
  const vm = vmTarget();
  /** Program ids present before these tests: anything else in bpftool is ours (or a leak). */
  let baseline = new Set<number>();
  let baselineCount = 0;
  const remoteFlood = '/tmp/bpf-lsm-flood';

  async function bpftool(kind: 'prog' | 'link'): Promise<Array<{ id: number; prog_id?: number; name?: string }>> {
    const r = await vm.exec('bpftool', ['--json', kind, 'show']);
    assert.equal(r.exitCode, 0, r.stderr);
    return JSON.parse(r.stdout || '[]');
  }

  /** Programs and links loaded since the baseline. */
  async function ours(): Promise<{ programs: number; links: number }> {
    const programs = (await bpftool('prog')).filter((p) => !baseline.has(p.id));
    const ids = new Set(programs.map((p) => p.id));
    const links = (await bpftool('link')).filter((l) => l.prog_id !== undefined && ids.has(l.prog_id));
    return { programs: programs.length, links: links.length };
  }

  async function nothingOfOurs(): Promise<true | undefined> {
    const o = await ours();
    return o.programs === 0 && o.links === 0 ? true : undefined;
  }

  /** Pids in the VM whose command line contains `marker`. */
  async function pidsWith(marker: string): Promise<number[]> {
    // The marker travels in the environment: in an argument it would match this search itself.
    const r = await vm.exec('env', [`MARK=${marker}`, 'sh', '-c', 'for p in /proc/[0-9]*; do tr "\\0" " " < $p/cmdline 2>/dev/null | grep -qF -- "$MARK" && echo ${p#/proc/}; done; true']);
    return r.stdout.split('\n').filter(Boolean).map(Number).filter((pid) => pid > 0);
  }

  /** Whether a pid runs in the VM; a zombie has exited (orphans may wait a while for the VM's init to reap them). */
  async function running(pid: number): Promise<boolean> {
    const r = await vm.exec('sh', ['-c', 's=$(cat /proc/$1/stat 2>/dev/null) || exit 1; set -- ${s##*) }; [ "$1" != Z ]', 'alive', String(pid)]);
    return r.exitCode === 0;
  }

  /** What is left when a wait times out, for the failure message. */
  async function leftovers(): Promise<string> {
    const progs = (await bpftool('prog')).filter((p) => !baseline.has(p.id)).map((p) => `${p.id}:${p.name}`);
    const ps = await vm.exec('sh', ['-c', 'for p in /proc/[0-9]*; do s=$(cat $p/stat 2>/dev/null) || continue; echo "$s" | cut -d" " -f1-4; done']);
    return `programs ${progs.join(' ') || 'none'}; processes:\n${ps.stdout}`;
  }

  async function prepared(): Promise<TracerSession> {
    const session = await TracerSession.connect(vm);
    await session.prepare(HOOKS);
    return session;
  }

  /** Reconnects and traces a short program: the target is usable again after the fault. */
  async function reconnect(): Promise<{ ms: number; events: number }> {
    const t = Date.now();
    const session = await prepared();
    try {
      let events = 0;
      const summary = await traceProgram(session, { argv: ['/bin/cat', '/etc/hostname'], asRoot: true }, (e) => (events += e.length));
      assert.equal(summary.exitCode, 0);
      assert.ok(summary.perHook.get('file_open'), 'the reconnected tracer sees the file_open of cat');
      return { ms: Date.now() - t, events };
    } finally {
      await session.dispose();
      await until('the reconnect session to release its programs', 60_000, nothingOfOurs);
    }
  }

  /** Starts a trace of a busy loop and resolves once events flow; the trace promise is returned unawaited. */
  async function busyTrace(session: TracerSession, marker: string): Promise<{ trace: Promise<TraceSummary>; helperPid: number }> {
    let flowing!: () => void;
    const started = new Promise<void>((r) => (flowing = r));
    let events = 0;
    const trace = traceProgram(session, { argv: ['/bin/sh', '-c', `while :; do cat /etc/hostname > /dev/null; done # ${marker}`], asRoot: true }, (e) => {
      events += e.length;
      if (events > 50) flowing();
    });
    trace.catch(() => undefined);
    await Promise.race([started, trace.then(() => assert.fail('the busy loop ended by itself'))]);
    return { trace, helperPid: session.client.helper!.pid };
  }

  before(async () => {
    const flood = buildFloodProgram();
    await vm.copyTo([{ local: flood, remote: remoteFlood }]);
    baseline = new Set((await bpftool('prog')).map((p) => p.id));
    baselineCount = baseline.size;
  });

  it(`reconciles an event flood (${FLOOD_SECONDS} s) hop by hop: kernel attempts = delivered + counted drops`, async () => {
    const session = await prepared();
    try {
      let output = '';
      let events = 0;
      const before = await session.counters();
      const summary = await traceProgram(session, { argv: [remoteFlood, String(FLOOD_SECONDS)], asRoot: true, onOutput: (_s, text) => (output += text) }, (e) => (events += e.length));
      const after = await session.counters();
      const opens = floodOpens(output);
      assert.equal(summary.exitCode, 0, output);
      assert.ok(opens && opens > 0, output);
      const attempts = after.records + after.ringbufFull + after.nested - (before.records + before.ringbufFull + before.nested);
      // Kernel hop: every attempt is a record in the ring or a counted drop.
      assert.equal(attempts, summary.produced + summary.drops.kernel);
      // Helper and client hops: every record in the ring arrived, was dropped by the helper (counted), or
      // could not be decoded (counted); nothing is unaccounted for.
      assert.equal(summary.drops.unaccounted, 0, JSON.stringify(summary.drops));
      assert.equal(summary.delivered + summary.drops.helper + summary.drops.undecodable, summary.produced);
      assert.ok(events >= summary.delivered, `${events} decoded events for ${summary.delivered} records`);
      const fileOpens = summary.perHook.get('file_open') ?? 0;
      console.log(
        `      flood: ${opens} opens in ${FLOOD_SECONDS} s; kernel attempted ${attempts} records: ${summary.produced} into the ring + ${summary.drops.kernel} counted drops (ring full); ` +
          `delivered ${summary.delivered}, helper drops ${summary.drops.helper}, undecodable ${summary.drops.undecodable}, unaccounted ${summary.drops.unaccounted}; file_open events ${fileOpens}`,
      );
    } finally {
      await session.dispose();
    }
    await until('the flood session to release its programs', 60_000, nothingOfOurs);
  });

  it('refuses to pin through a bpffs symlink that leads outside /sys/fs/bpf', async () => {
    const escape = '/sys/fs/bpf/bpf-lsm-hardening-escape';
    await vm.exec('sh', ['-c', 'rm -f "$1" /tmp/bpf-lsm-pinned; ln -s /tmp "$1"', 'link', escape]);
    const session = await prepared();
    try {
      const { objects } = await session.client.call('list', {});
      const tracer = objects[0];
      const program = tracer.programs.find((p) => p.attached)!.name;
      const err = await session.client.call('pinLink', { objectId: tracer.objectId, program, path: `${escape}/bpf-lsm-pinned` }).then(
        () => assert.fail('pinned through the symlink'),
        (e: HelperRequestError) => e,
      );
      assert.equal(err.code, 'invalid-params');
      assert.match(err.message, /only be pinned under \/sys\/fs\/bpf/);
      const r = await vm.exec('sh', ['-c', 'test -e /tmp/bpf-lsm-pinned && echo present || echo absent']);
      assert.equal(r.stdout.trim(), 'absent');
      console.log(`      privilege: pin through ${escape} -> /tmp refused (${err.code}); nothing written under /tmp`);
    } finally {
      await session.dispose();
      await vm.exec('rm', ['-f', escape]);
    }
    await until('the session to release its programs', 60_000, nothingOfOurs);
  });

  it('helper SIGTERM mid-trace: the client reports the loss, nothing stays loaded, a reconnect traces', async () => {
    const session = await prepared();
    const marker = `bpf-lsm-hardening-term-${process.pid}`;
    const { trace, helperPid } = await busyTrace(session, marker);
    const t = Date.now();
    assert.equal((await vm.exec('kill', ['-TERM', String(helperPid)])).exitCode, 0);
    const err = await trace.then(() => assert.fail('the trace outlived its helper'), (e: Error) => e);
    const reportedMs = Date.now() - t;
    assert.ok(err instanceof HelperGoneError, String(err));
    assert.match(err.message, /the helper (exited|closed its output)/);
    await until('bpftool to show none of our programs or links', 60_000, nothingOfOurs).catch(async (e: Error) => assert.fail(`${e.message}: ${await leftovers()}`));
    const cleanMs = Date.now() - t;
    await until('the traced loop to be killed', 30_000, async () => ((await pidsWith(marker)).length === 0 ? true : undefined));
    await session.dispose();
    const again = await reconnect();
    console.log(`      faults: helper SIGTERM: loss reported in ${reportedMs} ms ("${err.message.split('\n')[0]}"), nothing loaded after ${cleanMs} ms; reconnect + trace in ${again.ms} ms (${again.events} events)`);
  });

  it('ssh connection cut mid-trace: the client reports the loss, nothing stays loaded, a reconnect traces', async () => {
    const session = await prepared();
    const marker = `bpf-lsm-hardening-cut-${process.pid}`;
    const { trace, helperPid } = await busyTrace(session, marker);
    // The sshd process carrying the helper's connection: the helper's nearest sshd ancestor.
    const r = await vm.exec('sh', ['-c', 'p=$1; while [ "$p" -gt 1 ]; do set -- $(cat /proc/$p/stat); p=$4; [ "$(cat /proc/$p/comm)" = sshd ] && { echo $p; exit 0; }; done; exit 1', 'sshd-of', String(helperPid)]);
    assert.equal(r.exitCode, 0, `no sshd above the helper: ${r.stderr}`);
    const sshd = Number(r.stdout.trim());
    const t = Date.now();
    await vm.exec('kill', ['-KILL', String(sshd)]);
    const err = await trace.then(() => assert.fail('the trace outlived its connection'), (e: Error) => e);
    const reportedMs = Date.now() - t;
    assert.ok(err instanceof HelperGoneError, String(err));
    await until('the helper to exit after losing its connection', 60_000, async () => ((await running(helperPid)) ? undefined : true));
    await until('bpftool to show none of our programs or links', 60_000, nothingOfOurs).catch(async (e: Error) => assert.fail(`${e.message}: ${await leftovers()}`));
    const cleanMs = Date.now() - t;
    await until('the traced loop to be killed', 30_000, async () => ((await pidsWith(marker)).length === 0 ? true : undefined));
    await session.dispose();
    const again = await reconnect();
    console.log(`      faults: ssh cut (sshd ${sshd} killed): loss reported in ${reportedMs} ms ("${err.message.split('\n')[0]}"), nothing loaded after ${cleanMs} ms; reconnect + trace in ${again.ms} ms`);
  });

  it('client SIGKILLed mid-trace (bpf-lsm trace): nothing stays loaded, the traced program is killed, a reconnect traces', async () => {
    const marker = `bpf-lsm-hardening-kill-${process.pid}`;
    const child = spawn(process.execPath, [cli, 'trace', '--target', 'vm', '--hooks', 'file_open', '--quiet', '--', '/bin/sh', '-c', `while :; do cat /etc/hostname > /dev/null; done # ${marker}`], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: process.env,
    });
    let printed = 0;
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const exited = new Promise<string | null>((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    await new Promise<void>((resolve, reject) => {
      child.stdout.setEncoding('utf8').on('data', (t: string) => {
        printed += t.split('\n').length - 1;
        if (printed > 50) resolve();
      });
      void exited.then(() => reject(new Error(`bpf-lsm trace exited before tracing: ${stderr}`)));
    });
    assert.ok((await ours()).links > 0, 'the CLI\'s tracer is attached');
    const t = Date.now();
    child.kill('SIGKILL');
    assert.equal(await exited, 'SIGKILL');
    await until('bpftool to show none of our programs or links', 60_000, nothingOfOurs).catch(async (e: Error) => assert.fail(`${e.message}: ${await leftovers()}`));
    const cleanMs = Date.now() - t;
    await until('the traced loop to be killed', 30_000, async () => ((await pidsWith(marker)).length === 0 ? true : undefined));
    const goneMs = Date.now() - t;
    const again = await reconnect();
    console.log(`      faults: client SIGKILL after ${printed} printed events: nothing loaded after ${cleanMs} ms, traced program gone after ${goneMs} ms; reconnect + trace in ${again.ms} ms`);
  });

  it('VM rebooted mid-trace: the client reports the loss, the VM comes back with nothing of ours, a reconnect traces', async function () {
    this.timeout(600_000);
    const session = await prepared();
    const { trace } = await busyTrace(session, `bpf-lsm-hardening-reboot-${process.pid}`);
    const builtin = new BuiltinVm(vmPaths());
    const dying = builtin.running();
    assert.ok(dying, 'the VM runs before the reboot');
    const t = Date.now();
    // An immediate reboot, like a crash or a power cut (the VM runs with -no-reboot, so qemu exits).
    await vm.exec('sh', ['-c', 'echo b > /proc/sysrq-trigger'], { timeoutMs: 10_000 }).catch(() => undefined);
    const err = await trace.then(() => assert.fail('the trace outlived the VM'), (e: Error) => e);
    const reportedMs = Date.now() - t;
    assert.ok(err instanceof HelperGoneError, String(err));
    await session.dispose();
    // qemu (-no-reboot) takes a moment to exit after the guest reset; until it has, `vm up` would see the
    // dying VM as running and reuse it. Wait for it to be gone (bounded) like a user restarting would.
    for (const deadline = Date.now() + 60_000; builtin.running()?.pid === dying!.pid; ) {
      if (Date.now() > deadline) assert.fail(`qemu ${dying!.pid} did not exit within 60 s of the guest reboot`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const up = await builtin.up();
    const upMs = Date.now() - t;
    const programs = await bpftool('prog');
    const tracerLeft = programs.filter((p) => p.name?.startsWith('tr_')).length;
    assert.equal(tracerLeft, 0);
    assert.equal(programs.length, baselineCount, 'the rebooted VM has exactly the programs it booted with before');
    baseline = new Set(programs.map((p) => p.id));
    const again = await reconnect();
    console.log(
      `      faults: VM reboot: loss reported in ${reportedMs} ms ("${err.message.split('\n')[0]}"), VM back in ${upMs} ms (boot ${up.bootMs} ms) with ${programs.length} programs ` +
        `(as many as at the start), ${tracerLeft} tracer programs; reconnect + trace in ${again.ms} ms`,
    );
  });
});
