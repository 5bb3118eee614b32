// Privilege boundaries of the helper (issue 9), in plain node: what the helper refuses to write or read for
// its client, whose uid a traced program runs under, and what a user without root sees when sudo cannot
// start the helper (with nothing left half-started). Each case prints its figure.
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { HelperClient, HelperRequestError } from '../../extension/core/helperClient';
import type { HelperTransport } from '../../extension/core/target';
import { HelperSession } from '../../extension/helper/session';
import type { NativeBinding } from '../../native/index';
import { helperJs, startHelperProcess } from '../fixtures/helperProcess';
import { helperBundle } from '../../extension/core/targets/deploy';
import { rootOwnedProblem } from '../../extension/core/targets/install';

const root = join(__dirname, '..', '..', '..');
const isRoot = process.getuid?.() === 0;


/** A stand-in addon that loads and attaches anything and records every pin it is asked to make. */
function pinRecordingNative(pins: string[]): NativeBinding {
  class BpfObject {
    private attachedSet = new Set<string>();
    static openBuffer() {
      return new BpfObject();
    }
    programs() {
      return [{ name: 'p1', section: 'lsm/file_open', type: 'lsm', attachType: 'lsm_mac', attachTarget: 'file_open', autoload: true, loaded: true, attached: this.attachedSet.has('p1'), pinned: false, instructions: 2 }];
    }
    maps() {
      return [];
    }
    btf(): Buffer {
      throw Object.assign(new Error('object has no BTF'), { code: 'ENOENT' });
    }
    async load() {
      return { logs: {}, truncated: false };
    }
    async attach(names: string[]) {
      names.forEach((n) => this.attachedSet.add(n));
      return names.map((program) => ({ program, ok: true }));
    }
    pinLink(_program: string, path: string) {
      pins.push(path);
    }
    async close() {}
  }
  return { BpfObject, RingConsumer: class {}, libbpfVersion: '1.1', recordHeaderSize: 8, indexLsmHooks: async () => 0, path: 'stand-in' } as unknown as NativeBinding;
}

describe('hardening: what the helper refuses to write or read for its client', function () {
  this.timeout(60_000);

  it('pins links only under /sys/fs/bpf: other paths never reach the kernel', async () => {
    const pins: string[] = [];
    const toHelper = new PassThrough();
    const fromHelper = new PassThrough();
    const session = new HelperSession({ input: toHelper, output: fromHelper, loadNative: () => pinRecordingNative(pins) });
    session.start();
    const client = await HelperClient.connect({ input: toHelper, output: fromHelper, stderr: new PassThrough(), exited: session.finished.then(() => 0), close: async () => void toHelper.end() });
    try {
      const { objectId } = await client.loadObject(Buffer.from('stand-in'), { name: 'pin.bpf.o' });
      await client.call('attach', { objectId });
      const escape = mkdtempSync(join(tmpdir(), 'bpf-lsm-pin-'));
      const outside = [
        '/etc/cron.d/bpf-lsm',
        '/root/.ssh/authorized_keys',
        join(escape, 'link'),
        'relative/link',
        '/sys/fs/bpf/../../../etc/x',
        '/sys/fs/bpf/./../x',
        '/sys/fs/bpfx/link',
        '/sys/fs/bpf-evil/link',
        '/proc/self/root/etc/x',
        '/sys/fs/bpf/link\0.txt',
        `/sys/fs/bpf/${'a/'.repeat(3000)}x`,
      ];
      const codes = new Map<string, number>();
      for (const path of outside) {
        const err = await client.call('pinLink', { objectId, program: 'p1', path }).then(
          () => assert.fail(`pinned at ${JSON.stringify(path.slice(0, 80))}`),
          (e: HelperRequestError) => e,
        );
        assert.ok(['invalid-params', 'not-found'].includes(err.code), `${path.slice(0, 80)}: ${err.code} ${err.message}`);
        codes.set(err.code, (codes.get(err.code) ?? 0) + 1);
      }
      assert.deepEqual(pins, [], 'no refused path reached the addon');
      // The one allowed place still works, so the refusals above are about the paths.
      await client.call('pinLink', { objectId, program: 'p1', path: '/sys/fs/bpf/bpf-lsm-test-link' });
      assert.deepEqual(pins, ['/sys/fs/bpf/bpf-lsm-test-link']);
      // A parent that resolves into /sys/fs/bpf through a symlink the client controls: what is pinned is the
      // checked, resolved path, not the given one (whose symlink could be pointed elsewhere after the check).
      symlinkSync('/sys/fs/bpf', join(escape, 'into-bpffs'));
      await client.call('pinLink', { objectId, program: 'p1', path: join(escape, 'into-bpffs', 'bpf-lsm-test-link2') });
      assert.deepEqual(pins, ['/sys/fs/bpf/bpf-lsm-test-link', '/sys/fs/bpf/bpf-lsm-test-link2'], 'the checked path is the pinned path');
      rmSync(escape, { recursive: true, force: true });
      console.log(`      privilege: ${outside.length} pin paths outside /sys/fs/bpf refused (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')}), 0 reached the addon; 1 under /sys/fs/bpf pinned`);
    } finally {
      await client.close();
    }
  });

  it('removes pinned links only in its own bpffs folder: other tools\' links and other paths never reach the addon', async () => {
    const asked: string[][] = [];
    const native = { ...pinRecordingNative([]), detachPinnedLinks: async (paths: string[]) => (asked.push(paths), paths.length) } as unknown as NativeBinding;
    const toHelper = new PassThrough();
    const fromHelper = new PassThrough();
    const session = new HelperSession({ input: toHelper, output: fromHelper, loadNative: () => native });
    session.start();
    const client = await HelperClient.connect({ input: toHelper, output: fromHelper, stderr: new PassThrough(), exited: session.finished.then(() => 0), close: async () => void toHelper.end() });
    const escape = mkdtempSync(join(tmpdir(), 'bpf-lsm-unpin-'));
    try {
      // Each parent exists here, so each is refused for where it leads, not skipped as "nothing pinned".
      symlinkSync('/sys/fs/bpf', join(escape, 'into-bpffs'));
      const refused = ['/sys/fs/bpf/other_agent_link', join(escape, 'link'), join(escape, 'into-bpffs', 'other_agent_link'), '/etc/passwd', '/sys/fs/bpf/../../../etc/x'];
      for (const path of refused) {
        const err = await client.call('unpinLinks', { paths: [path] }).then(
          () => assert.fail(`removed ${path}`),
          (e: HelperRequestError) => e,
        );
        assert.equal(err.code, 'invalid-params', `${path}: ${err.message}`);
      }
      // One refused path among ours: the request fails before the addon removes anything.
      await client.call('unpinLinks', { paths: ['/sys/fs/bpf/bpf-lsm-studio/exec_block_link', '/sys/fs/bpf/other_agent_link'] }).then(
        () => assert.fail('a list with a foreign link was carried out'),
        (e: HelperRequestError) => assert.match(e.message, /only removes links pinned in \/sys\/fs\/bpf\/bpf-lsm-studio/),
      );
      assert.deepEqual(asked, [], 'no refused list reached the addon');
      console.log(`      privilege: ${refused.length + 1} unpin requests outside the helper's bpffs folder refused, 0 reached the addon`);
    } finally {
      rmSync(escape, { recursive: true, force: true });
      await client.close();
    }
  });

  it('reads no file for the client but the kernel BTF', async () => {
    const client = await HelperClient.connect(startHelperProcess(process.env));
    try {
      const paths = [
        '/etc/shadow',
        '/etc/passwd',
        '/proc/self/environ',
        '/proc/self/root/etc/shadow',
        '/sys/kernel/btf',
        '/sys/kernel/btfx/vmlinux',
        '/sys/kernel/btf/../../../etc/shadow',
        '/sys/kernel/btf/vmlinux/../../../../etc/shadow',
        'etc/shadow',
        '/sys/kernel/btf/vmlinux\0/etc/shadow',
        '/sys/kernel/btf/no-such-module',
      ];
      let refused = 0;
      for (const path of paths) {
        const outcome = await client.request('readBtf', { path }).then(
          (r) => r,
          (e: HelperRequestError) => e,
        );
        assert.ok(outcome instanceof HelperRequestError, `${JSON.stringify(path)} was read (${outcome instanceof HelperRequestError ? '' : outcome.blob?.length} bytes)`);
        assert.ok(['invalid-params', 'not-found'].includes(outcome.code), `${path}: ${outcome.code}`);
        assert.doesNotMatch(outcome.message, /root:|\$6\$/, 'no file content in the error');
        refused++;
      }
      const btf = await client.readBtf();
      assert.equal(btf.readUInt16LE(0), 0xeb9f);
      console.log(`      privilege: ${refused} of ${paths.length} read requests outside /sys/kernel/btf refused; the kernel BTF (${btf.length} bytes) is the one file served`);
    } finally {
      await client.close();
    }
  });

  it('runs a traced program as the invoking user: it cannot read what that user cannot', async function () {
    if (!isRoot) this.skip();
    // As under `sudo`: SUDO_UID/SUDO_GID name the user who asked for the helper.
    const client = await HelperClient.connect(startHelperProcess({ ...process.env, SUDO_UID: '65534', SUDO_GID: '65534' }));
    try {
      const run = async (argv: string[], asRoot?: boolean) => {
        const out: string[] = [];
        const sub = client.onNotification('processOutput', (p) => out.push(p.text));
        const exited = new Promise<{ code: number | null }>((resolve) => client.onNotification('processExit', resolve));
        const { pid, uid } = await client.call('spawn', { argv, asRoot });
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        const realUid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
        await client.call('resume', { pid });
        const { code } = await exited;
        sub.dispose();
        return { uid, realUid, code, output: out.join('') };
      };
      const shadow = await run(['/bin/cat', '/etc/shadow']);
      assert.equal(shadow.uid, 65534);
      assert.equal(shadow.realUid, 65534, 'the stopped process already runs as the user, before exec');
      assert.notEqual(shadow.code, 0);
      assert.match(shadow.output, /Permission denied/);
      assert.doesNotMatch(shadow.output, /root:/);
      const write = await run(['/bin/sh', '-c', 'echo x > /etc/bpf-lsm-hardening-probe']);
      assert.notEqual(write.code, 0);
      assert.equal(existsSync('/etc/bpf-lsm-hardening-probe'), false);
      console.log(`      privilege: traced program ran as uid ${shadow.realUid} (helper as uid 0): cat /etc/shadow exit ${shadow.code}, write to /etc exit ${write.code}`);
    } finally {
      await client.close();
    }
  });
});

describe('hardening: the helper losing its client', function () {
  this.timeout(60_000);

  it('exits and kills what it started when stdin, stdout and stderr all break at once (an ssh cut)', async () => {
    const child = spawn(process.execPath, [helperJs], { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
    const transport: HelperTransport = { input: child.stdin, output: child.stdout, stderr: child.stderr, exited: exited.then((e) => e.code), close: async () => void child.kill('SIGKILL') };
    child.stdin.on('error', () => undefined);
    try {
      const client = await HelperClient.connect(transport);
      const { pid } = await client.call('spawn', { argv: ['/bin/sleep', '600'] });
      // Like sshd dying: every end of the helper's three pipes goes away at the same moment, so its last
      // log lines (on stderr) fail with EPIPE too.
      const t = Date.now();
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
      const deadline = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const exit = await exited;
      clearTimeout(deadline);
      const ms = Date.now() - t;
      assert.equal(exit.signal, null, `the helper had to be killed after ${ms} ms (it did not exit by itself)`);
      assert.throws(() => process.kill(pid, 0), /ESRCH/, 'the program it started was killed');
      console.log(`      faults: helper with all three pipes cut exited by itself in ${ms} ms (code ${exit.code}); its started program was killed`);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('hardening: starting the local helper without root', function () {
  this.timeout(120_000);

  /** Processes whose command line mentions `marker` (our private copy of the bundle). */
  function processesMentioning(marker: string): number[] {
    const found: number[] = [];
    for (const pid of readdirSync('/proc').filter((n) => /^\d+$/.test(n))) {
      try {
        if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker)) found.push(Number(pid));
      } catch {
        // gone meanwhile
      }
    }
    return found;
  }

  it('sends a user without root to a root-owned helper install and a sudo rule naming only it, and starts nothing', async function () {
    const setpriv = ['/usr/bin/setpriv', '/bin/setpriv'].find((p) => existsSync(p));
    if (!isRoot || !setpriv) this.skip();
    // A private copy of the bundle, readable by an unprivileged user, so its path marks any process it starts.
    const work = mkdtempSync(join(tmpdir(), 'bpf-lsm-nosudo-'));
    chmodSync(work, 0o755);
    const dist = join(work, 'dist');
    mkdirSync(join(dist, 'native'), { recursive: true });
    for (const f of ['cli.js', 'helper.js']) cpSync(join(root, 'dist', f), join(dist, f));
    cpSync(join(root, 'dist', 'native', 'bpflsm.node'), join(dist, 'native', 'bpflsm.node'));
    cpSync(join(root, 'dist', 'bpf'), join(dist, 'bpf'), { recursive: true });
    // The install goes below a folder only root can write (a temp folder under /tmp would not qualify).
    const installRoot = mkdtempSync('/var/lib/bpf-lsm-install-test-');
    chmodSync(installRoot, 0o755);
    const version = helperBundle(dist).version;
    const installed = { node: join(installRoot, version, 'node'), helperJs: join(installRoot, version, 'helper.js') };
    // sudo as a user with no rule for the helper: -n refuses, as real sudo does, and every call is logged.
    const bin = join(work, 'bin');
    mkdirSync(bin);
    const log = join(work, 'sudo.log');
    writeFileSync(join(bin, 'sudo'), `#!/bin/sh\necho "$*" >> ${log}\necho "sudo: a password is required" >&2\nexit 1\n`, { mode: 0o755 });
    writeFileSync(log, '');
    chmodSync(log, 0o666);
    const cache = join(work, 'cache');
    mkdirSync(cache, { mode: 0o777 });
    chmodSync(cache, 0o777);
    const traceAsNobody = (path: string) => {
      const t = Date.now();
      const r = spawnSync(setpriv!, ['--reuid=65534', '--regid=65534', '--clear-groups', '--', process.execPath, join(dist, 'cli.js'), 'trace', '--target', 'local', '--quiet', '--', '/bin/true'], {
        encoding: 'utf8',
        cwd: work,
        env: { PATH: path, HOME: work, BPF_LSM_CACHE: cache, BPF_LSM_DIST: dist, BPF_LSM_HELPER_INSTALL_ROOT: installRoot, LANG: 'C.UTF-8' },
        timeout: 60_000,
      });
      return { status: r.status, text: `${r.stdout}${r.stderr}`, ms: Date.now() - t };
    };
    const calls = () => readFileSync(log, 'utf8').trim().split('\n').filter(Boolean);
    try {
      const figures: string[] = [];
      const rule = ` ALL=(root) NOPASSWD: ${installed.node} ${installed.helperJs}\``;
      // Not installed: the advice is the install command and a rule naming the install, never the bundle.
      for (const c of [
        { name: 'not installed, sudo asks for a password', path: `${bin}:/usr/bin:/bin`, expect: /a password is required/ },
        { name: 'not installed, no sudo', path: '/usr/bin:/bin', expect: /sudo is not installed/ },
      ]) {
        const r = traceAsNobody(c.path);
        assert.notEqual(r.status, 0, `${c.name}: exit ${r.status}: ${r.text}`);
        assert.match(r.text, /the helper must run as root/, c.name);
        assert.match(r.text, c.expect, c.name);
        assert.match(r.text, new RegExp(`the helper is not installed in ${installRoot}/${version}`), c.name);
        assert.ok(r.text.includes(`\`sudo ${process.execPath} ${join(dist, 'cli.js')} install-helper\``), `${c.name}: ${r.text}`);
        assert.ok(r.text.includes(rule), `${c.name}: the rule names the root-owned install: ${r.text}`);
        assert.ok(!r.text.includes(`NOPASSWD: ${process.execPath}`) && !r.text.includes(`${join(dist, 'helper.js')}\``), `${c.name}: no rule names files the user can change`);
        assert.deepEqual(processesMentioning(dist), [], 'no helper (or anything else of this bundle) is left running');
        figures.push(`${c.name}: exit ${r.status} in ${r.ms} ms`);
      }
      assert.deepEqual(calls(), ['-n -l true'], 'only asked whether sudo allows everything');

      // Installed (as root, like `sudo bpf-lsm install-helper`): every part root-owned, the rule names it.
      const install = spawnSync(process.execPath, [join(dist, 'cli.js'), 'install-helper', '--json'], { encoding: 'utf8', env: { ...process.env, BPF_LSM_DIST: dist, BPF_LSM_HELPER_INSTALL_ROOT: installRoot } });
      assert.equal(install.status, 0, install.stderr);
      assert.equal(JSON.parse(install.stdout).node, installed.node);
      for (const f of [installed.node, installed.helperJs, join(installRoot, version, 'native', 'bpflsm.node')]) assert.equal(rootOwnedProblem(f), undefined, f);
      writeFileSync(log, '');
      const r = traceAsNobody(`${bin}:/usr/bin:/bin`);
      assert.notEqual(r.status, 0, r.text);
      assert.match(r.text, /cannot start it without a password/);
      assert.ok(r.text.includes(rule), r.text);
      assert.deepEqual(calls(), [`-n -l ${installed.node} ${installed.helperJs}`], 'sudo was only asked about the installed helper');
      figures.push(`installed: exit ${r.status} in ${r.ms} ms`);

      // An install someone else can change is no install: a group-writable version folder is refused.
      chmodSync(join(installRoot, version), 0o775);
      const loose = traceAsNobody(`${bin}:/usr/bin:/bin`);
      assert.match(loose.text, new RegExp(`is not safe to run as root: ${installRoot}/${version} is writable by its group`));
      assert.match(rootOwnedProblem(join(tmpdir(), 'x')) ?? '', /does not exist|writable by other users/);
      assert.deepEqual(processesMentioning(dist), []);
      console.log(`      privilege: ${figures.join('; ')}; a group-writable install refused; helper processes left: 0`);
    } finally {
      rmSync(work, { recursive: true, force: true });
      rmSync(installRoot, { recursive: true, force: true });
    }
  });
});
