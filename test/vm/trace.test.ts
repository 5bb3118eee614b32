// Trace Executable against the real 6.1 kernel in the VM, through the core `bpf-lsm trace` and the editor
// use (TracerSession + traceProgram). The tracer is resident on the target, as in real use: attaching ~230
// programs costs seconds and detaching them tens of seconds, so it stays for every trace of the suite. The --no-follow case needs a
// tracer loaded with the other knob, so it runs the CLI with a one-hook selection (cheap to load and drop).
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { vmTarget } from '../../extension/core/targets/vm';
import { TracerSession, TracerState } from '../../extension/core/trace/tracerSession';
import { traceProgram, TraceSummary } from '../../extension/core/trace/traceProgram';
import type { HookEvent, TraceEvent, TraceValue } from '../../extension/shared/traceEvent';
import { IDLE_DETACHED_PROGRAMS } from '../../extension/shared/tracer/control';
import { tracerInKernel } from '../fixtures/tracer/inKernel';
import { until } from './until';
import { vmBefore } from './wedge';

const root = join(__dirname, '..', '..', '..');

interface Trace {
  summary: TraceSummary;
  events: TraceEvent[];
  output: string;
}

const hooks = (t: Trace, name: string): HookEvent[] => t.events.filter((e): e is HookEvent => e.kind === 'hook' && e.hook === name);
const field = (v: TraceValue | undefined, key: string): TraceValue | undefined =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, TraceValue>)[key] : undefined;
const openedPaths = (t: Trace): string[] => hooks(t, 'file_open').map((e) => String(field(e.args.file, 'path')));

function assertAccounted(s: TraceSummary): void {
  assert.equal(s.drops.unaccounted, 0, JSON.stringify(s.drops));
  assert.equal(s.delivered + s.drops.helper + s.drops.undecodable + s.drops.unaccounted, s.produced, JSON.stringify(s));
  assert.ok(s.produced > 0);
}

describe('Trace Executable in the BPF-LSM VM', function () {
  this.timeout(300_000);
  let session: TracerSession;
  let state: TracerState;

  async function trace(argv: string[]): Promise<Trace> {
    const events: TraceEvent[] = [];
    let output = '';
    const summary = await traceProgram(session, { argv, onOutput: (_s, text) => (output += text) }, (batch) => events.push(...batch));
    return { summary, events, output };
  }

  vmBefore(async () => {
    session = await TracerSession.connect(vmTarget());
    state = await session.prepare();
  });
  after(async () => session?.dispose());

  describe('ls /home', () => {
    let t: Trace;
    before(async () => {
      t = await trace(['/usr/bin/ls', '/home']);
    });

    it('exits 0 with every record the kernel wrote delivered or counted', () => {
      assert.equal(t.summary.exitCode, 0, t.output);
      assert.equal(t.summary.exitSignal, null);
      assertAccounted(t.summary);
    });

    it('shows the exec check of /usr/bin/ls inside execve', () => {
      const bprm = hooks(t, 'bprm_check_security');
      assert.ok(bprm.some((e) => field(e.args.bprm, 'filename') === '/usr/bin/ls' && e.syscall === 'execve'), JSON.stringify(bprm));
    });

    it('opens the program, the loader and libc by path', () => {
      const paths = openedPaths(t);
      assert.ok(paths.includes('/usr/bin/ls'), paths.join(' '));
      assert.ok(paths.some((p) => /\/ld-linux[^/]*\.so\.\d$/.test(p)), `no loader in ${paths.join(' ')}`);
      assert.ok(paths.some((p) => /\/libc\.so\.6$/.test(p)), `no libc in ${paths.join(' ')}`);
      const libc = hooks(t, 'file_open').find((e) => /\/libc\.so\.6$/.test(String(field(e.args.file, 'path'))));
      assert.equal(libc?.syscall, 'openat');
    });

    it('decodes inode_permission with inode number and mode, and mmap_file of the loaded objects', () => {
      const perms = hooks(t, 'inode_permission');
      assert.ok(perms.length > 0);
      for (const e of perms) {
        assert.equal(typeof field(e.args.inode, 'ino'), 'number', JSON.stringify(e.args));
        assert.match(String(field(e.args.inode, 'mode')), /^[-dlcbps][-rwxsStT]{9} \(0\d+\)$/);
      }
      const mapped = hooks(t, 'mmap_file').map((e) => field(e.args.file, 'path'));
      assert.ok(mapped.includes('/usr/bin/ls') && mapped.some((p) => /\/libc\.so\.6$/.test(String(p))), JSON.stringify(mapped));
    });

    it('puts hook calls in their syscall: execve, openat, getdents64', () => {
      const inSyscall = new Set(t.events.filter((e): e is HookEvent => e.kind === 'hook').map((e) => e.syscall));
      for (const sc of ['execve', 'openat', 'getdents64']) assert.ok(inSyscall.has(sc), `no hook inside ${sc}: ${[...inSyscall].join(' ')}`);
      assert.ok(t.events.some((e) => e.kind === 'syscall_enter' && e.syscall === 'getdents64'));
    });
  });

  describe('children', () => {
    it("follows a fork: cat's open of /etc/hostname in another process than the shell", async () => {
      const t = await trace(['/bin/sh', '-c', 'cat /etc/hostname; true']);
      assert.equal(t.summary.exitCode, 0, t.output);
      assertAccounted(t.summary);
      const shell = t.summary.pid;
      const opens = hooks(t, 'file_open').filter((e) => field(e.args.file, 'path') === '/etc/hostname');
      assert.ok(opens.length > 0, `no open of /etc/hostname in ${openedPaths(t).join(' ')}`);
      for (const e of opens) {
        assert.notEqual(e.tgid, shell);
        assert.equal(e.comm, 'cat');
      }
      const forks = t.events.filter((e) => e.kind === 'process' && e.what === 'fork' && e.tgid === shell);
      assert.ok(forks.some((e) => e.kind === 'process' && e.child === opens[0].tgid), JSON.stringify(forks));
      assert.ok(t.summary.processes >= 2);
    });

    it('--no-follow traces the shell but not its child', async () => {
      const run = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [join(root, 'dist', 'cli.js'), 'trace', '--target', 'vm', '--json', '--quiet', '--no-follow', '--hooks', 'file_open,bprm_check_security', '--', '/bin/sh', '-c', 'cat /etc/hostname; true'],
          { env: process.env, maxBuffer: 64 << 20, timeout: 280_000 },
          (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
        );
      });
      assert.equal(run.code, 0, run.stderr);
      const events = run.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceEvent);
      const tgids = new Set(events.map((e) => e.tgid));
      assert.equal(tgids.size, 1, `events from ${[...tgids].join(', ')}`);
      const files = events.filter((e): e is HookEvent => e.kind === 'hook' && e.hook === 'file_open').map((e) => field(e.args.file, 'path'));
      assert.ok(files.includes('/bin/sh') || files.some((p) => /busybox/.test(String(p))), JSON.stringify(files));
      assert.ok(!files.includes('/etc/hostname'), JSON.stringify(files));
      assert.match(run.stderr, /unaccounted 0/);
    });
  });

  describe('path cache', () => {
    it("the helper gives the tracer the kernel's rename and mount sequences, and a path renamed while its file is open is reported under its new name", async () => {
      // The tracer reuses a walk's path for the next record of the same dentry on that CPU only while no rename
      // and no mount change happened since: without the helper's addresses the cache stays off.
      const vm = vmTarget();
      const prog = JSON.parse((await vm.exec('bpftool', ['-j', 'prog', 'show', 'name', 'tr_file_permission'])).stdout) as { map_ids?: number[] } | Array<{ map_ids?: number[] }>;
      const mapIds = (Array.isArray(prog) ? prog : [prog]).flatMap((p) => p.map_ids ?? []);
      let rodata = '';
      for (const id of mapIds) {
        const dump = (await vm.exec('bpftool', ['-j', 'map', 'dump', 'id', String(id)])).stdout;
        if (dump.includes('"tr_rename_lock"')) rodata = dump;
      }
      const addr = (name: string) => BigInt(new RegExp(`"${name}":\\s*(\\d+)`).exec(rodata)?.[1] ?? '0');
      const kallsyms = (await vm.exec('sh', ['-c', 'grep -E " (rename_lock|mount_lock)$" /proc/kallsyms'])).stdout;
      const want = (name: string) => BigInt(`0x${new RegExp(`^([0-9a-f]+) \\w ${name}$`, 'm').exec(kallsyms)![1]}`);
      assert.equal(addr('tr_rename_lock'), want('rename_lock'), rodata.slice(0, 400));
      assert.equal(addr('tr_mount_lock'), want('mount_lock'));

      // The shell reads its open file (the walk fills the cache of its CPU), then spins without a syscall, so that
      // no record of it walks another path there, while the test renames the folder from outside the trace; its
      // next read must walk again. The shell keeps to CPU 0: a cache is per CPU.
      await vm.exec('sh', ['-c', 'rm -rf /tmp/pathcache; mkdir -p /tmp/pathcache/a; printf "1\\n2\\n3\\n" > /tmp/pathcache/a/f']);
      const script =
        'exec 3< /tmp/pathcache/a/f; read x <&3; i=0; while [ $i -lt 150000 ]; do i=$((i+1)); done; read x <&3; ' +
        '[ -d /tmp/pathcache/b ] && echo moved-before-the-second-read';
      const events: TraceEvent[] = [];
      let output = '';
      let moving: Promise<unknown> | undefined;
      const path = (e: TraceEvent) => (e.kind === 'hook' && e.hook === 'file_permission' ? String(field(e.args.file, 'path')) : '');
      const summary = await traceProgram(session, { argv: ['/usr/bin/taskset', '-c', '0', '/bin/sh', '-c', script], onOutput: (_s, text) => (output += text) }, (batch) => {
        events.push(...batch);
        if (!moving && batch.some((e) => path(e) === '/tmp/pathcache/a/f')) moving = vm.exec('mv', ['/tmp/pathcache/a', '/tmp/pathcache/b']);
      });
      await moving;
      await vm.exec('rm', ['-rf', '/tmp/pathcache']);
      assert.equal(summary.exitCode, 0, output);
      assertAccounted(summary);
      assert.match(output, /moved-before-the-second-read/, 'the rename came after the second read: spin longer');
      const reads = events.map(path).filter((p) => p.startsWith('/tmp/pathcache/'));
      // busybox's read takes a byte per read(): several records per line, the same path in each.
      const renamed = reads.indexOf('/tmp/pathcache/b/f');
      assert.ok(renamed > 0, `reads before and after the rename: ${reads.join(' ')}`);
      assert.deepEqual(new Set(reads.slice(0, renamed)), new Set(['/tmp/pathcache/a/f']), reads.join(' '));
      assert.deepEqual(new Set(reads.slice(renamed)), new Set(['/tmp/pathcache/b/f']), `a read after the rename kept the old path: ${reads.join(' ')}`);
    });
  });

  describe('two traces at once on the resident tracer', () => {
    it('each sees only its own processes, with its own summary, while both run', async () => {
      // A second connection, as a second CLI run or editor window would open: it reopens the resident
      // tracer and gets its own slot, ring and counters.
      const other = await TracerSession.connect(vmTarget());
      try {
        const otherState = await other.prepare();
        assert.ok(otherState.resident, 'the second connection reopened the resident tracer');
        assert.notEqual(other.traceSlot, session.traceSlot);
        const loop = (file: string) => `i=0; while [ $i -lt 60 ]; do cat ${file} >/dev/null; i=$((i+1)); done`;
        const run = async (s: TracerSession, argv: string[]): Promise<Trace> => {
          const events: TraceEvent[] = [];
          const summary = await traceProgram(s, { argv }, (batch) => events.push(...batch));
          return { summary, events, output: '' };
        };
        const [a, b] = await Promise.all([run(session, ['/bin/sh', '-c', loop('/etc/hostname')]), run(other, ['/bin/sh', '-c', loop('/etc/passwd')])]);
        for (const t of [a, b]) {
          assert.equal(t.summary.exitCode, 0);
          assertAccounted(t.summary);
        }
        const tgidsA = new Set(a.events.map((e) => e.tgid));
        const tgidsB = new Set(b.events.map((e) => e.tgid));
        assert.deepEqual([...tgidsA].filter((x) => tgidsB.has(x)), [], 'no process in both traces');
        const opens = (t: Trace, path: string) => openedPaths(t).filter((p) => p === path).length;
        assert.equal(opens(a, '/etc/hostname'), 60);
        assert.equal(opens(a, '/etc/passwd'), 0, 'trace A saw an open of trace B');
        assert.equal(opens(b, '/etc/passwd'), 60);
        assert.equal(opens(b, '/etc/hostname'), 0, 'trace B saw an open of trace A');
        // Each summary counts its own processes: the shell and its 60 cats.
        assert.equal(a.summary.processes, 61);
        assert.equal(b.summary.processes, 61);
        console.log(`      concurrent: slots ${session.traceSlot} and ${other.traceSlot}; ${a.summary.produced} and ${b.summary.produced} records, disjoint processes`);
      } finally {
        await other.dispose();
      }
    });
  });

  describe('consumer wakeups', () => {
    it('a long burst wakes the helper once per fill past the mark, not at every check while the ring stays full', async () => {
      // Each forced wakeup is an irq_work interrupt on the traced program's CPU. A shell loop of
      // open/read/close writes records far faster than the helper drains them under TCG, so the ring stays
      // past the mark for most of the trace: the tracer checks its fill level every 32 records per CPU, and
      // waking at each of those checks raised one interrupt per ~70 records.
      const vm = vmTarget();
      const irqWork = async (): Promise<number> => {
        const r = await vm.exec('sh', ['-c', 'grep "^ *IWI:" /proc/interrupts']);
        assert.equal(r.exitCode, 0, r.stderr);
        return r.stdout.trim().split(/\s+/).slice(1).filter((w) => /^\d+$/.test(w)).reduce((sum, n) => sum + Number(n), 0);
      };
      const before = await irqWork();
      const t = await trace(['/bin/sh', '-c', 'i=0; while [ $i -lt 6000 ]; do read x < /etc/hostname; i=$((i+1)); done']);
      const raised = (await irqWork()) - before;
      assert.equal(t.summary.exitCode, 0, t.output);
      assertAccounted(t.summary);
      assert.ok(t.summary.produced > 50_000, `only ${t.summary.produced} records: not a burst`);
      assert.ok(raised < t.summary.produced / 1000, `${raised} irq_work interrupts for ${t.summary.produced} records`);
      console.log(`      consumer wakeups: ${raised} irq_work interrupts for ${t.summary.produced} records`);
    });
  });

  describe('interrupt context', () => {
    it('charges no receive-path hook and no nested drop to a task whose sends raise the receive softirq', async () => {
      // Loopback TCP: the traced nc's send raises NET_RX, which runs in softirq on its CPU as soon as it
      // re-enables bottom halves, with the traced nc as current; the receive path calls
      // socket_sock_rcv_skb there, for every segment (the data and the ACKs). Those calls are the kernel's,
      // not the task's. The listener is not traced.
      const vm = vmTarget();
      const port = String(20000 + (process.pid % 20000));
      // setsid: the listener must outlive the ssh session that starts it.
      const listener = await vm.exec('sh', ['-c', `setsid nc -l -p ${port} >/dev/null 2>&1 </dev/null & echo $!`]);
      assert.equal(listener.exitCode, 0, listener.stderr);
      await until('the listener to listen', 10_000, async () => ((await vm.exec('sh', ['-c', `netstat -ltn 2>/dev/null | grep -q ":${port} "`])).exitCode === 0 ? true : undefined));
      try {
        const t = await trace(['/bin/sh', '-c', `head -c 2000000 /dev/zero | nc -w 10 127.0.0.1 ${port}`]);
        assertAccounted(t.summary);
        const byHook = (name: string) => t.events.filter((e) => e.kind === 'hook' && e.hook === name).length;
        // The trace sees the task's own network calls (process context)...
        assert.ok(byHook('socket_connect') >= 1, `no socket_connect in ${[...t.summary.perHook.keys()].join(' ')}`);
        assert.ok(byHook('socket_sendmsg') >= 1, `no socket_sendmsg in ${[...t.summary.perHook.keys()].join(' ')}`);
        // ...but none of the receive path that ran in softirq on its CPU, and no nested drop for it.
        assert.equal(byHook('socket_sock_rcv_skb'), 0, 'softirq receive-path calls were charged to the traced task');
        assert.equal(t.summary.drops.nested, 0, JSON.stringify(t.summary.drops));
        console.log(`      interrupt context: ${byHook('socket_sendmsg')} sendmsg, ${byHook('socket_connect')} connect, 0 sock_rcv_skb, 0 nested`);
      } finally {
        await vm.exec('kill', [listener.stdout.trim()]);
      }
    });
  });

  describe('release', () => {
    const cli = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
        execFile(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { env: process.env, timeout: 280_000 }, (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stdout, stderr }),
        ),
      );

    it('a trace right after tracer stop takes the tracer back instead of waiting for its detach', async () => {
      const t0 = Date.now();
      const stop = await cli(['tracer', 'stop', '--target', 'vm', '--json']);
      assert.equal(stop.code, 0, stop.stderr);
      assert.ok((JSON.parse(stop.stdout) as { released: string[] }).released.length >= 1, stop.stdout);
      const other = await TracerSession.connect(vmTarget());
      try {
        // The hello lists the tracer under release, so the session asks for it without sending the object.
        assert.ok(other.client.helper?.tracers?.includes(session.residentKey!), JSON.stringify(other.client.helper?.tracers));
        const st = await other.prepare();
        const t = await traceProgram(other, { argv: ['/bin/cat', '/etc/hostname'] }, () => undefined);
        assert.equal(t.exitCode, 0);
        assert.equal(st.attached.length, state.attached.length, 'every hook is traced again');
        const ms = Date.now() - t0;
        const status = await cli(['tracer', 'status', '--target', 'vm', '--json']);
        const tracers = (JSON.parse(status.stdout) as { tracers: Array<{ key: string; state: string; links: number; idle?: number }> }).tracers;
        // Taken back: no release of it goes on in the background, and it has all its links again.
        const key = other.residentKey!;
        assert.equal(key, session.residentKey);
        assert.deepEqual(tracers.filter((x) => x.state === 'releasing' && x.key.startsWith(`release-${key}-`)).map((x) => x.key), [], status.stdout);
        // Its syscall programs may be pinned with their links detached (idle): as ready as attached ones.
        const taken = tracers.find((x) => x.key === key);
        assert.equal((taken?.links ?? 0) + (taken?.idle ?? 0), state.attached.length + 5, status.stdout);
        console.log(`      release: tracer stop, then a new connection traced with all ${st.attached.length} hooks ${ms} ms later (the detach alone takes ~35 s)`);
      } finally {
        await other.dispose();
      }
    });
  });

  describe('syscall and hot hook programs while nothing is traced', () => {
    /** The resident tracer's syscall and hot hook programs (by their pins) and which of them have a link. */
    async function syscallPrograms(): Promise<{ loaded: string[]; linked: string[] }> {
      const { loaded, linked } = await tracerInKernel(vmTarget(), session.residentKey!);
      const idle = (names: readonly string[]) => names.filter((n) => IDLE_DETACHED_PROGRAMS.includes(n)).sort();
      return { loaded: idle(loaded), linked: idle(linked) };
    }

    it('detaches them after the last trace while a session stays connected; the next trace attaches them and gets its syscall records and hot hooks', async () => {
      const t0 = Date.now();
      const idle = await until('the syscall and hot hook programs to be detached', 60_000, async () => {
        const s = await syscallPrograms();
        return s.linked.length === 0 ? s : undefined;
      }).catch(async (err: Error) => {
        // What the keeper had to go by: its process, the tracer's state and the filter.
        const state = await vmTarget().exec('sh', [
          '-c',
          `d=/run/bpf-lsm-studio/tracers/${session.residentKey}; ls -la $d /run/bpf-lsm-studio/tracers /sys/fs/bpf/bpf-lsm-studio/tracers; for f in $d/slot-* $d/keeper; do echo "$f: $(cat $f)"; done; ` +
            `for p in /proc/[0-9]*; do case "$(tr '\\0' ' ' < $p/cmdline 2>/dev/null)" in *tracer-keeper*) echo "keeper process \${p#/proc/}: $(tr '\\0' ' ' < $p/cmdline)";; esac; done; ` +
            `bpftool map dump pinned /sys/fs/bpf/bpf-lsm-studio/tracers/${session.residentKey}/map_tr_traced; echo keeper log:; grep -F ${session.residentKey} /run/bpf-lsm-studio/tracers/keepers.log | tail -n 20; ` +
            `echo kernel log:; dmesg | grep -i -E 'oom|killed process|segfault' | tail -n 20; date +%T`,
        ]);
        throw new Error(`${err.message}\n${state.stdout}${state.stderr}`);
      });
      // Every one of them the tracer has (a hook of the list the kernel lacks is not traced) stays loaded.
      const expected = IDLE_DETACHED_PROGRAMS.filter((p) => p.startsWith('tr_sys_') || state.attached.includes(p.slice(3))).sort();
      assert.ok(expected.includes('tr_inode_permission') && expected.includes('tr_file_open'), expected.join(' '));
      assert.deepEqual(idle.loaded, expected, 'all stay loaded (pinned), ready to attach again');
      // The others stay attached until the tracer's hooksIdleMs.
      const all = await tracerInKernel(vmTarget(), session.residentKey!);
      assert.ok(all.linked.includes('tr_inode_create') && all.linked.includes('tr_fork'), all.linked.join(' '));
      const detachedMs = Date.now() - t0;
      const t = await trace(['/bin/cat', '/etc/hostname']);
      assertAccounted(t.summary);
      assert.ok(t.events.some((e) => e.kind === 'syscall_enter' && e.syscall === 'openat'), 'syscall enter records again');
      assert.ok(t.events.some((e) => e.kind === 'syscall_exit' && e.syscall === 'openat'), 'syscall exit records again');
      assert.ok(t.events.some((e) => e.kind === 'hook' && e.hook === 'file_open' && e.syscall === 'openat'), 'hook calls inside their syscall');
      assert.ok(hooks(t, 'inode_permission').length > 0 && hooks(t, 'file_free_security').length > 0, 'hot hooks again');
      // (Linked while the trace ran: it had their records. The keeper detaches them again once it is over.)
      assert.deepEqual((await syscallPrograms()).loaded, expected);
      const log = await vmTarget().exec('sh', ['-c', 'grep -F "$1" /run/bpf-lsm-studio/tracers/keepers.log | tail -n 6', 'log', session.residentKey!]);
      console.log(`      idle: the ${expected.length} syscall and hot hook programs were detached ${detachedMs} ms into the wait; the next trace had their records; keeper log:\n${log.stdout.replace(/^/gm, '        ')}`);
    });
  });

  describe('hook programs while nothing is traced', () => {
    /**
     * The tracer's pinned programs, and how many of them other than the syscall and hot hook ones have a link
     * (one listing of each, with pin paths). The keeper detaches those half a second after a trace.
     */
    async function tracerProgramCounts(key: string): Promise<{ loaded: number; linked: number; idleLoaded: number }> {
      const { loaded, linked } = await tracerInKernel(vmTarget(), key);
      const idle = (name: string) => IDLE_DETACHED_PROGRAMS.includes(name);
      return { loaded: loaded.length, linked: linked.filter((name) => !idle(name)).length, idleLoaded: loaded.filter(idle).length };
    }

    const cliRun = (args: string[]) =>
      new Promise<string>((resolve, reject) =>
        execFile(process.execPath, [join(root, 'dist', 'cli.js'), ...args], { env: process.env, timeout: 280_000 }, (err, stdout, stderr) => (err ? reject(new Error(stderr)) : resolve(stdout))),
      );

    it('a tracer made with a short hooksIdleMs detaches every program after it, keeps them loaded, and the next trace attaches them and sees its hooks', async () => {
      const key = session.residentKey!;
      // A tracer of its own: the resident one was made with the default (10 minutes); its release must be over.
      await session.dispose();
      await cliRun(['tracer', 'stop', '--target', 'vm', '--json']);
      await until('the release to finish', 120_000, async () => {
        const r = await vmTarget().exec('sh', ['-c', 'ls /sys/fs/bpf/bpf-lsm-studio/tracers']);
        return r.stdout.trim() === '' ? true : undefined;
      });
      const short = await TracerSession.connect(vmTarget(), undefined, { hooksIdleMs: 20_000 });
      let ms = 0;
      try {
        await short.prepare();
        assert.equal(short.residentKey, key);
        const first = await traceProgram(short, { argv: ['/bin/cat', '/etc/hostname'] }, () => undefined);
        assert.equal(first.exitCode, 0);
        const t0 = Date.now();
        const idle = await until('every program to be detached', 180_000, async () => {
          const p = await tracerProgramCounts(key);
          return p.linked === 0 ? p : undefined;
        });
        ms = Date.now() - t0;
        assert.equal(idle.loaded, state.attached.length + 5, 'all stay loaded (pinned)');
      } finally {
        await short.dispose();
      }
      // The next trace, on a connection of its own, as a CLI run would.
      session = await TracerSession.connect(vmTarget());
      state = await session.prepare();
      const t1 = Date.now();
      const t = await trace(['/bin/cat', '/etc/hostname']);
      const traceMs = Date.now() - t1;
      assertAccounted(t.summary);
      assert.ok(openedPaths(t).includes('/etc/hostname'), openedPaths(t).join(' '));
      assert.ok(hooks(t, 'inode_permission').length > 0, 'inode_permission again');
      assert.ok(t.events.some((e) => e.kind === 'syscall_enter' && e.syscall === 'openat'), 'syscall records again');
      const after = await tracerProgramCounts(key);
      const log = await vmTarget().exec('sh', ['-c', 'tail -n 4 /run/bpf-lsm-studio/tracers/keepers.log; date -u +%T.%N']);
      console.log(`      idle hooks: all ${after.loaded} programs detached ${ms} ms after the trace; the next trace took ${traceMs} ms with its hooks; keeper log:\n${log.stdout.replace(/^/gm, '        ')}`);
      // Attached again but for the syscall and hot hook ones, which the keeper may have detached again by now.
      assert.deepEqual(after, { loaded: state.attached.length + 5, linked: state.attached.length + 5 - after.idleLoaded, idleLoaded: after.idleLoaded });
    });

    it('bpf-lsm tracer start attaches them again at once, ahead of the next trace', async () => {
      const key = session.residentKey!;
      // The tracer of the test before detaches everything again 20 s after its last trace.
      await until('every program to be detached again', 180_000, async () => ((await tracerProgramCounts(key)).linked === 0 ? true : undefined));
      const t0 = Date.now();
      const started = JSON.parse(await cliRun(['tracer', 'start', '--target', 'vm', '--json'])) as { loaded: boolean; hooks: number };
      const ms = Date.now() - t0;
      assert.equal(started.loaded, false, 'the resident tracer was reused');
      const n = state.attached.length + 5;
      const counts = await tracerProgramCounts(key);
      assert.deepEqual(counts, { loaded: n, linked: n - counts.idleLoaded, idleLoaded: counts.idleLoaded });
      console.log(`      idle hooks: tracer start attached all ${n - counts.idleLoaded} programs other than the syscall and hot hook ones again in ${ms} ms (the command's wall time)`);
    });
  });

  it('attaches at least 95% of the hooks, and says why each of the others is not traced', () => {
    const listed = new Set([...state.attached, ...state.notTraced.map((n) => n.hook)]);
    assert.equal(listed.size, state.hookCount, 'every hook is either attached or listed with a reason');
    for (const n of state.notTraced) assert.ok(n.reason.length > 0, n.hook);
    const share = state.attached.length / state.hookCount;
    console.log(
      `      ${state.attached.length} of ${state.hookCount} hooks attached (${(share * 100).toFixed(1)}%), kernel ${state.kernel}; not traced:\n` +
        state.notTraced.map((n) => `        ${n.hook}: ${n.reason}`).join('\n'),
    );
    assert.ok(share >= 0.95, `${state.attached.length} of ${state.hookCount}`);
  });
});
