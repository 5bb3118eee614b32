// The privileged helper against the real BPF-LSM kernel in the built-in VM: load a probe, attach it to LSM
// hooks, receive its ring buffer events through the helper, detach; verifier rejections and independent
// attach failures; and nothing left in the kernel (checked with bpftool on the target) after the client side
// is killed mid-stream, the helper gets SIGTERM, or the helper is SIGKILLed.
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { HelperClient, HelperRequestError } from '../../extension/core/helperClient';
import type { HelperTransport } from '../../extension/core/target';
import { vmTarget } from '../../extension/core/targets/vm';
import { helperBundle } from '../../extension/core/targets/deploy';
import { GUEST_HELPER_ROOT, GUEST_USER } from '../../extension/core/vm/image';
import { HELPER_CHANNELS, vmPaths } from '../../extension/core/vm/paths';
import { type BtfTypeDesc, type JsonValue } from '../../extension/shared/helperProtocol';
import { iterateRecords, type EventBatch } from '../../extension/shared/helperFrames';
import { decodeValue } from '../../extension/shared/helperValues';
import { processGone, until } from './until';
import { vmBefore } from './wedge';

const root = join(__dirname, '..', '..', '..');
const probeBytes = () => readFileSync(join(root, 'dist', 'bpf', 'helper_test.bpf.o'));

interface BpftoolEntry {
  id: number;
  name?: string;
  prog_id?: number;
  type?: string;
}

describe('privileged helper in the BPF-LSM VM', function () {
  this.timeout(180_000);
  const vm = vmTarget();

  async function bpftool(kind: 'prog' | 'link'): Promise<BpftoolEntry[]> {
    const r = await vm.exec('bpftool', ['--json', kind, 'show']);
    assert.equal(r.exitCode, 0, r.stderr);
    return JSON.parse(r.stdout || '[]') as BpftoolEntry[];
  }

  /** Program ids named like the test probe's programs (the kernel keeps 15 characters of a name). */
  async function probePrograms(): Promise<BpftoolEntry[]> {
    return (await bpftool('prog')).filter((p) => p.name?.startsWith('hlpt_') || p.name?.startsWith('hlpr_'));
  }

  async function probeLinks(): Promise<BpftoolEntry[]> {
    const ids = new Set((await probePrograms()).map((p) => p.id));
    return (await bpftool('link')).filter((l) => l.prog_id !== undefined && ids.has(l.prog_id));
  }

  async function nothingLeft(): Promise<true | undefined> {
    return (await probePrograms()).length === 0 && (await probeLinks()).length === 0 ? true : undefined;
  }

  async function connect(): Promise<HelperClient> {
    return HelperClient.connect(await vm.startHelper(), { client: 'vm-test' });
  }

  vmBefore(async () => {
    // Earlier runs must not mask a leak in this one.
    await until('a VM without leftover test programs', 30_000, nothingLeft);
  });

  it('reports a target that can run BPF-LSM', async () => {
    const client = await connect();
    try {
      const caps = client.capabilities!;
      assert.equal(caps.bpfLsmActive.ok, true, caps.bpfLsmActive.detail);
      assert.equal(caps.btf.ok, true);
      assert.equal(caps.root.ok, true);
      assert.equal(caps.canRunLsm, true);
      assert.equal(caps.kernelRelease, process.env.BPF_LSM_VM_KERNEL ?? caps.kernelRelease);
      const btf = await client.readBtf();
      assert.equal(btf.readUInt16LE(0), 0xeb9f);
    } finally {
      await client.close();
    }
  });

  it('carries each concurrent helper on its own VM channel, falls back to ssh when all are taken, and frees them', async () => {
    const paths = vmPaths();
    const transports = await Promise.all(Array.from({ length: HELPER_CHANNELS + 1 }, () => vm.startHelper()));
    const clients = await Promise.all(transports.map((t) => HelperClient.connect(t, { client: 'vm-test' })));
    try {
      const routes = transports.map((t) => t.route ?? '');
      const channels = routes.filter((r) => r.startsWith('VM channel ')).sort((a, b) => Number(a.slice(11)) - Number(b.slice(11)));
      assert.deepEqual(channels, Array.from({ length: HELPER_CHANNELS }, (_, i) => `VM channel ${i}`));
      assert.deepEqual(routes.filter((r) => r.startsWith('ssh')), [`ssh (no helper channel: all ${HELPER_CHANNELS} helper channels are in use)`]);
      // Every one is a separate session that answers on its own route: those on the channels come from the
      // VM's one helper daemon (each its own session number), the one on ssh is a helper process of its own.
      const who = await Promise.all(clients.map(async (c) => (await c.call('list', {}), `${c.helper!.pid}/${c.helper!.session ?? '-'}`)));
      assert.equal(new Set(who).size, HELPER_CHANNELS + 1, who.join(' '));
      const onChannels = clients.filter((_, i) => routes[i].startsWith('VM channel '));
      assert.equal(new Set(onChannels.map((c) => c.helper!.pid)).size, 1, 'one daemon serves every channel');
      assert.ok(onChannels.every((c) => c.helper!.session !== undefined));
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
    assert.deepEqual(readdirSync(paths.run).filter((f) => f.endsWith('.lock')), [], 'every channel is released');
    const again = await vm.startHelper();
    const client = await HelperClient.connect(again, { client: 'vm-test' });
    await client.close();
    assert.match(again.route ?? '', /^VM channel \d$/, 'a released channel carries the next helper');
  });

  it('runs a traced program as the VM\'s unprivileged user, and as root only when asked; that user cannot signal the helper', async () => {
    const client = await connect();
    try {
      const uidOf = async (pid: number) => /^Uid:\s+(\d+)\s+(\d+)/m.exec((await vm.exec('cat', [`/proc/${pid}/status`])).stdout)?.slice(1, 3).map(Number);
      const plain = await client.call('spawn', { argv: ['/bin/true'] });
      assert.equal(plain.uid, GUEST_USER.uid);
      assert.deepEqual(await uidOf(plain.pid), [GUEST_USER.uid, GUEST_USER.uid], 'real and effective uid in the kernel');
      const asRoot = await client.call('spawn', { argv: ['/bin/true'], asRoot: true });
      assert.equal(asRoot.uid, 0);
      assert.deepEqual(await uidOf(asRoot.pid), [0, 0]);
      // What a traced program would try: signal the helper (the parent of the stopped shell).
      const ppid = /^PPid:\s+(\d+)/m.exec((await vm.exec('cat', [`/proc/${plain.pid}/status`])).stdout)?.[1];
      const tryKill = await vm.exec('su', [GUEST_USER.name, '-c', `kill -0 ${ppid}`]);
      assert.notEqual(tryKill.exitCode, 0, `the unprivileged user may signal the helper (pid ${ppid}): ${tryKill.stdout}${tryKill.stderr}`);
      for (const pid of [plain.pid, asRoot.pid]) await client.call('kill', { pid, signal: 'SIGKILL' });
      console.log(`      spawn: uid ${plain.uid} by default, ${asRoot.uid} with asRoot; kill -0 of the helper as ${GUEST_USER.name}: exit ${tryKill.exitCode}`);
    } finally {
      await client.close();
    }
  });

  it('loads the probe, attaches to LSM hooks, streams its ring buffer events through the helper, detaches', async () => {
    const client = await connect();
    try {
      // Spawned stopped first, so its pid can be the probe's const volatile filter before load.
      const exited = new Promise<{ code: number | null }>((resolve) => client.onNotification('processExit', resolve));
      const { pid } = await client.call('spawn', { argv: ['/bin/sh', '-c', 'cat /etc/hostname /etc/passwd > /dev/null'], asRoot: true });
      const cookie = '12297829382473034410';
      const loaded = await client.loadObject(probeBytes(), { name: 'helper_test.bpf.o', globals: { filter_tgid: pid, cookie } });
      assert.deepEqual(loaded.programs.map((p) => [p.name, p.loaded, p.attached]), [
        ['hlpt_file_open', true, false],
        ['hlpt_bprm_check', true, false],
      ]);
      const objectId = loaded.objectId;
      assert.deepEqual((await client.call('getGlobal', { objectId, name: 'cookie' })).value, cookie);

      const attached = await client.call('attach', { objectId });
      assert.deepEqual(attached.results.map((r) => [r.program, r.ok]), [['hlpt_file_open', true], ['hlpt_bprm_check', true]]);
      assert.equal((await probeLinks()).length, 2, 'bpftool sees both LSM links');

      await client.call('mapUpdate', { objectId, map: 'helper_test_watch', key: pid, value: { hits: 0, deny: 0, flags: 7 } });
      const batches: EventBatch[] = [];
      const { sessionId } = await client.startTrace({ objectId, ringBuffers: ['helper_test_events'], counters: ['emitted', 'dropped'] }, (b) => batches.push(b));
      await client.call('resume', { pid });
      assert.equal((await exited).code, 0);
      const stats = await client.call('stopTrace', { sessionId });

      const anchor = loaded.globals.find((g) => g.name === 'helper_test_event_anchor')?.type as BtfTypeDesc;
      const events = batches.flatMap((b) => [...iterateRecords(b.records)].map((r) => decodeValue(anchor, r.data) as { [k: string]: JsonValue }));
      assert.ok(events.length >= 3, `expected the exec and at least two opens, got ${events.length}`);
      assert.equal(stats.records, events.length);
      assert.equal(batches.reduce((n, b) => n + b.count, 0), events.length);
      assert.ok(events.every((e) => e.tgid === pid && e.cookie === cookie), 'every event is from the filtered process and carries the cookie');
      assert.deepEqual(events.map((e) => e.seq), events.map((_, i) => i), 'no gaps in the probe sequence');
      assert.ok(events.some((e) => e.hook === 2 && e.comm === 'sh'), 'bprm_check_security seen for the exec');
      assert.ok(events.filter((e) => e.hook === 1 && e.comm === 'cat').length >= 2, 'file_open seen for both files cat opened');
      assert.deepEqual(stats.counters, { emitted: events.length, dropped: 0 });
      const watch = await client.call('mapLookup', { objectId, map: 'helper_test_watch', key: pid });
      assert.equal(watch.found, true);
      assert.deepEqual(watch.value, { hits: events.length, deny: 0, flags: 7 });
      await client.call('mapUpdate', { objectId, map: 'helper_test_watch', key: pid + 1, value: { flags: 1 }, flags: 'noexist' });
      await assert.rejects(
        client.call('mapUpdate', { objectId, map: 'helper_test_watch', key: pid + 1, value: {}, flags: 'noexist' }),
        (e: HelperRequestError) => e.errno === 'EEXIST',
      );
      const first = await client.call('mapEntries', { objectId, map: 'helper_test_watch', limit: 1 });
      assert.equal(first.more, true);
      const second = await client.call('mapEntries', { objectId, map: 'helper_test_watch', limit: 1, after: first.entries[0].key });
      assert.equal(second.more, false);
      assert.deepEqual([first.entries[0].key, second.entries[0].key].sort(), [pid, pid + 1]);
      await client.call('mapDelete', { objectId, map: 'helper_test_watch', key: pid + 1 });
      assert.deepEqual(await client.call('mapDelete', { objectId, map: 'helper_test_watch', key: pid }), { found: true });

      const detached = await client.call('detach', { objectId });
      assert.ok(detached.results.every((r) => r.ok));
      assert.equal((await probeLinks()).length, 0, 'links are gone after detach');
      await client.call('unloadObject', { objectId });
      assert.equal((await probePrograms()).length, 0, 'programs are gone after unload');
    } finally {
      await client.close();
    }
  });

  it('returns the verifier log and the failing program when the verifier rejects an object', async () => {
    const client = await connect();
    try {
      const bytes = readFileSync(join(root, 'dist', 'bpf', 'helper_reject.bpf.o'));
      const err = await client.loadObject(bytes, { name: 'helper_reject.bpf.o' }).then(
        () => assert.fail('the verifier accepted an unchecked map value'),
        (e: HelperRequestError) => e,
      );
      assert.equal(err.code, 'load-failed');
      assert.equal(err.data?.program, 'hlpr_unchecked');
      assert.match(String(err.data?.log), /invalid mem access 'map_value_or_null'/);
      assert.match(err.remedy ?? '', /hlpr_unchecked/);
      assert.deepEqual((await client.call('list', {})).objects, []);
    } finally {
      await client.close();
    }
  });

  /**
   * Runs the deployed addon in the guest (as the helper does) on `object`: load(0, 1 MiB, attach), then how
   * many links of the test programs the kernel holds while the object is still open, and after close().
   */
  async function loadAttachingInGuest(object: string, attach: string[]) {
    await (await connect()).close(); // deploys this build's helper and addon
    const addon = posix.join(GUEST_HELPER_ROOT, helperBundle(join(root, 'dist')).version, 'native', 'bpflsm.node');
    const remote = `/tmp/${object}`;
    await vm.copyTo([{ local: join(root, 'dist', 'bpf', object), remote }]);
    const script = `
      const b = require(process.argv[1]);
      const { execFileSync } = require('node:child_process');
      const show = (k) => JSON.parse(execFileSync('bpftool', ['--json', k, 'show'], { encoding: 'utf8' }) || '[]');
      const links = () => {
        const ours = new Set(show('prog').filter((p) => /^hl(pt|pr)_/.test(p.name || '')).map((p) => p.id));
        return show('link').filter((l) => ours.has(l.prog_id)).length;
      };
      (async () => {
        const o = b.BpfObject.openBuffer(require('node:fs').readFileSync(process.argv[2]), 'x');
        const order = o.programs().map((p) => p.name);
        let result;
        try {
          result = { ok: true, attached: (await o.load(0, 1 << 20, JSON.parse(process.argv[3]))).attached };
        } catch (e) {
          result = { ok: false, program: e.program, message: e.message };
        }
        const open = links();
        const attachedNow = o.programs().filter((p) => p.attached).map((p) => p.name);
        await o.close();
        console.log(JSON.stringify({ order, result, open, attachedNow, closed: links() }));
      })();`;
    const r = await vm.exec('node', ['-e', script, addon, remote, JSON.stringify(attach)], { timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    return JSON.parse(r.stdout.trim().split('\n').pop()!) as {
      order: string[];
      result: { ok: boolean; program?: string; message?: string; attached?: Array<{ program: string; ok: boolean; code?: string }> };
      open: number;
      attachedNow: string[];
      closed: number;
    };
  }

  it('attaches the programs it is asked to while the object loads, each with its own result; the links go with the object', async () => {
    const r = await loadAttachingInGuest('helper_test.bpf.o', ['hlpt_file_open', 'hlpt_bprm_check', 'no_such_prog']);
    assert.ok(r.result.ok, r.result.message);
    assert.deepEqual(
      r.result.attached!.map((a) => [a.program, a.ok, a.code]).sort(),
      [
        ['hlpt_bprm_check', true, undefined],
        ['hlpt_file_open', true, undefined],
        ['no_such_prog', false, 'ENOENT'],
      ],
    );
    assert.equal(r.open, 2, 'both LSM programs linked while the object is open');
    assert.deepEqual(r.attachedNow.sort(), ['hlpt_bprm_check', 'hlpt_file_open']);
    assert.equal(r.closed, 0, 'close() detached them');
  });

  it('leaves nothing attached when a later program of a load that attaches as it goes is rejected', async () => {
    const r = await loadAttachingInGuest('helper_reject.bpf.o', ['hlpr_fine', 'hlpr_unchecked']);
    // hlpr_fine loads (and is handed to the attaching thread) before the verifier rejects hlpr_unchecked.
    assert.deepEqual(r.order, ['hlpr_fine', 'hlpr_unchecked']);
    assert.equal(r.result.ok, false);
    assert.equal(r.result.program, 'hlpr_unchecked');
    assert.equal(r.open, 0, 'no link of the rejected object while it is still open');
    assert.deepEqual(r.attachedNow, []);
    await until('the guest process to release its programs', 30_000, nothingLeft);
  });

  it('attaches each program independently: a failure is reported and the others stay attached', async () => {
    const client = await connect();
    try {
      const loaded = await client.loadObject(probeBytes(), { name: 'helper_test.bpf.o', programs: ['hlpt_file_open'], globals: { filter_tgid: 1 } });
      const { results } = await client.call('attach', { objectId: loaded.objectId, programs: ['hlpt_file_open', 'hlpt_bprm_check', 'no_such_prog'] });
      assert.deepEqual(results.map((r) => [r.program, r.ok, r.code]), [
        ['hlpt_file_open', true, undefined],
        ['hlpt_bprm_check', false, 'ENOEXEC'],
        ['no_such_prog', false, 'ENOENT'],
      ]);
      assert.match(results[1].message ?? '', /not loaded/);
      assert.equal((await probeLinks()).length, 1);
      const list = await client.call('list', {});
      assert.deepEqual(list.objects[0].programs.map((p) => [p.name, p.attached]), [['hlpt_file_open', true], ['hlpt_bprm_check', false]]);
    } finally {
      await client.close();
    }
    await until('the closed session to release its programs', 30_000, nothingLeft);
  });

  it('returns verifier logs on request, and keeps only the link the user pinned after the session ends', async () => {
    const pin = '/sys/fs/bpf/bpf-lsm-studio-test-pin';
    await vm.exec('rm', ['-f', pin]);
    const client = await connect();
    try {
      const loaded = await client.loadObject(probeBytes(), { name: 'helper_test.bpf.o', globals: { filter_tgid: 1 }, logLevel: 1 });
      assert.deepEqual(Object.keys(loaded.logs).sort(), ['hlpt_bprm_check', 'hlpt_file_open']);
      assert.match(loaded.logs.hlpt_file_open, /processed \d+ insns/);
      const objectId = loaded.objectId;
      await client.call('attach', { objectId });
      await client.call('pinLink', { objectId, program: 'hlpt_file_open', path: pin });
      await assert.rejects(
        client.call('pinLink', { objectId, program: 'hlpt_bprm_check', path: '/tmp/not-bpffs' }),
        (e: HelperRequestError) => e.code === 'invalid-params' && /\/sys\/fs\/bpf/.test(e.message),
      );
      assert.deepEqual((await client.call('list', {})).objects[0].programs.map((p) => [p.name, p.pinned]), [['hlpt_file_open', true], ['hlpt_bprm_check', false]]);
    } finally {
      await client.close();
    }
    const kept = await until('the unpinned link to go', 30_000, async () => {
      const links = await probeLinks();
      return links.length === 1 ? links : undefined;
    });
    const programs = await probePrograms();
    assert.deepEqual(programs.map((p) => p.name), ['hlpt_file_open']);
    assert.equal(kept[0].prog_id, programs[0].id);
    // Removing the pin is what ends a pinned link's life.
    await vm.exec('rm', [pin]);
    await until('the pinned link to go once unpinned', 30_000, nothingLeft);
  });

  /** Starts a helper, loads and attaches the probe, and streams events of a busy process until a few batches arrived. */
  async function busySession(transport: HelperTransport): Promise<{ client: HelperClient; helperPid: number; childPid: number }> {
    const client = await HelperClient.connect(transport, { client: 'vm-test' });
    const { pid } = await client.call('spawn', { argv: ['/bin/sh', '-c', 'while :; do cat /etc/hostname > /dev/null; done'], asRoot: true });
    const loaded = await client.loadObject(probeBytes(), { name: 'helper_test.bpf.o', globals: { filter_tgid: pid } });
    await client.call('attach', { objectId: loaded.objectId });
    let batches = 0;
    const enough = new Promise<void>((resolve) =>
      client.startTrace({ objectId: loaded.objectId, ringBuffers: ['helper_test_events'] }, () => {
        if (++batches === 3) resolve();
      }),
    );
    await client.call('resume', { pid });
    await enough;
    assert.equal((await probeLinks()).length, 2);
    return { client, helperPid: client.helper!.pid, childPid: pid };
  }

  it('leaves no program, link or process behind when the client side is killed mid-stream', async () => {
    // Our own ssh client process, so it can be SIGKILLed like a crashed client or a dropped connection.
    await (await vm.startHelper()).close();
    const remoteHelper = posix.join(GUEST_HELPER_ROOT, helperBundle().version, 'helper.js');
    const ssh = spawn('ssh', vm.sshArgs('/usr/bin/node', [remoteHelper]), { stdio: ['pipe', 'pipe', 'pipe'] });
    const transport: HelperTransport = {
      input: ssh.stdin,
      output: ssh.stdout,
      stderr: ssh.stderr,
      exited: new Promise((resolve) => ssh.once('exit', (code) => resolve(code))),
      close: async () => void ssh.kill('SIGKILL'),
    };
    ssh.stdin.on('error', () => undefined);
    const { client, helperPid, childPid } = await busySession(transport);
    const t = Date.now();
    ssh.kill('SIGKILL');
    await client.closed;
    await until('the helper to exit after losing its client', 60_000, () => processGone(vm, helperPid));
    await until('bpftool to show none of the helper programs or links', 30_000, nothingLeft);
    assert.equal(await processGone(vm, childPid), true, 'the spawned process was killed');
    console.log(`      faults: ssh client SIGKILLed mid-stream: helper gone and nothing loaded after ${Date.now() - t} ms`);
  });

  for (const signal of ['TERM', 'KILL'] as const) {
    it(`leaves no program or link behind when the helper gets SIG${signal}`, async () => {
      const { client, helperPid, childPid } = await busySession(await vm.startHelper());
      const t = Date.now();
      const r = await vm.exec('kill', [`-${signal}`, String(helperPid)]);
      assert.equal(r.exitCode, 0, r.stderr);
      await client.closed;
      await until('the helper to exit', 60_000, () => processGone(vm, helperPid));
      // After SIGKILL the kernel drops links and programs with the helper's last file descriptors.
      await until('bpftool to show none of the helper programs or links', 30_000, nothingLeft);
      console.log(`      faults: helper SIG${signal} mid-stream: nothing loaded after ${Date.now() - t} ms`);
      if (signal === 'KILL') {
        // SIGKILL gives the helper no chance to kill its children (a known limit); clean up for later tests.
        await vm.exec('kill', ['-9', String(childPid)]);
      } else {
        assert.equal(await processGone(vm, childPid), true, 'the spawned process was killed');
      }
    });
  }
});
