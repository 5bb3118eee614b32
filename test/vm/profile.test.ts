// Profiles in the BPF-LSM VM, end to end through the CLI (the Must show 1 and 2): propose a profile
// from a fresh trace of `ls /home`, replay it on that trace (0 denials) and on a trace of `ls /root`
// (the open of /root, naming the rule), apply it in enforce mode: `ls /home` runs with no event on the
// pinned ring, `ls /root` fails with EPERM and the event names the path, `cat /etc/hostname` (no subject)
// runs; saving an edited profile rewrites the rules in place (same links); clear leaves nothing of ours.
// And a deny-list profile with a connect rule: the named TCP destination gets EPERM, others do not.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelperClient } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';
import { PROFILE_EVENTS_MAP, PROFILE_LINK_PINS, PROFILE_MAP_PINS } from '../../extension/core/policy/profileApply';
import { profileEventDecoder, type ProfileEvent } from '../../extension/core/policy/profileEvents';
import { iterateRecords } from '../../extension/shared/helperProtocol';
import { bpfLsm } from './cli';

const root = join(__dirname, '..', '..', '..');


describe('least-privilege profiles in the BPF-LSM VM', function () {
  this.timeout(600_000);
  const vm = vmTarget();
  let dir: string;
  const asRoot = (cmd: string) => vm.exec('sh', ['-c', cmd], { root: true });
  const ourPrograms = async () => {
    const progs = JSON.parse((await asRoot('bpftool --json prog show')).stdout || '[]') as Array<{ name?: string }>;
    return progs.map((p) => p.name ?? '').filter((n) => /^(profile_|exec_block)/.test(n));
  };
  const linkIds = async () => {
    const ids: number[] = [];
    for (const pin of PROFILE_LINK_PINS) ids.push(JSON.parse((await asRoot(`bpftool --json link show pinned ${pin}`)).stdout).id);
    return ids;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-profile-'));
    await bpfLsm('policy', 'clear', '--target', 'vm');
  });
  after(async () => {
    await bpfLsm('policy', 'clear', '--target', 'vm');
    rmSync(dir, { recursive: true, force: true });
  });

  it('proposes from ls /home, replays, enforces, rewrites in place and clears', async () => {
    const policy = join(dir, 'p.json');
    const own = join(dir, 'ls-home.jsonl');
    const proposed = await bpfLsm('policy', 'propose', '--target', 'vm', '--enforce', '--out', policy, '--save-trace', own, '--', '/usr/bin/ls', '/home');
    assert.equal(proposed.code, 0, proposed.stderr);
    const doc = JSON.parse(readFileSync(policy, 'utf8'));
    assert.equal(doc.profiles[0].subject.path, '/usr/bin/ls');
    assert.equal(doc.profiles[0].mode, 'enforce');
    assert.ok(doc.profiles[0].files.some((f: { path: string }) => f.path === '/home'));

    // Must show 2: its own trace replays with 0 denials; a trace of ls /root (as root) with the denial.
    const replayOwn = await bpfLsm('policy', 'replay', policy, own);
    assert.equal(replayOwn.code, 0, replayOwn.stdout);
    assert.match(replayOwn.stdout, /, 0 would-be denials$/m);
    const rootTrace = await bpfLsm('trace', '--target', 'vm', '--json', '--as-root', '--quiet', '--', '/usr/bin/ls', '/root');
    const rootFile = join(dir, 'ls-root.jsonl');
    writeFileSync(rootFile, rootTrace.stdout);
    const replayRoot = await bpfLsm('policy', 'replay', policy, rootFile);
    assert.equal(replayRoot.code, 3, replayRoot.stdout);
    assert.match(replayRoot.stdout, /1 would-be denial$/m);
    assert.match(replayRoot.stdout, /^ +1 {2}ls: no files rule allows it \(default deny\) \[enforce\]$/m);
    assert.match(replayRoot.stdout, /ls: open \/root \(read\) <- ls: no files rule allows it/);

    // Must show 1: enforce.
    const applied = await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', policy);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /profiles applied on vm: ls \(enforce\)/);
    const object = readFileSync(join(root, 'dist', 'bpf', 'profile_guard.bpf.o'));
    const decode = profileEventDecoder(object);
    const client = await HelperClient.connect(await vm.startHelper(), { client: 'vm-test profile events' });
    const events: ProfileEvent[] = [];
    try {
      const loaded = await client.loadObject(object, { name: 'profile_guard', programs: [] });
      await client.startTrace({ objectId: loaded.objectId, ringBuffers: [PROFILE_EVENTS_MAP] }, (batch) => {
        for (const r of iterateRecords(batch.records)) events.push(decode(r.data));
      });
      const home = await vm.exec('/usr/bin/ls', ['/home']);
      assert.equal(home.exitCode, 0, home.stderr);
      const denied = await asRoot('/usr/bin/ls /root');
      assert.notEqual(denied.exitCode, 0);
      assert.match(denied.stderr, /cannot open directory '\/root': Operation not permitted/);
      const other = await vm.exec('cat', ['/etc/hostname']);
      assert.equal(other.exitCode, 0, other.stderr);
      assert.ok(other.stdout.trim().length > 0);
      const deadline = Date.now() + 20_000;
      while (!events.some((e) => e.path === '/root') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(events.map((e) => [e.request, e.path, e.mode, e.rule, e.profile]), [['file', '/root', 'enforce', -1, 0]], 'ls /home reported nothing; ls /root one denial');
    } finally {
      await client.close();
    }

    // Saving an edited file rewrites the rules in place: /root allowed now, same programs and links.
    const before = await linkIds();
    doc.profiles[0].files.push({ path: '/root', access: 'read' });
    writeFileSync(policy, JSON.stringify(doc));
    const again = await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', policy);
    assert.match(again.stdout, /profiles replaced on vm/);
    assert.equal((await asRoot('/usr/bin/ls /root')).exitCode, 0);
    assert.deepEqual(await linkIds(), before);
    // Applying the same file again changes nothing: every entry read back is recognised as wanted
    // (connect prefixes included), so none is deleted and rewritten.
    doc.profiles[0].connect = [{ proto: 'tcp', addr: '10.0.2.0/24', port: 22 }, { proto: 'udp', addr: 'fd00::/8' }];
    writeFileSync(policy, JSON.stringify(doc));
    assert.match((await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', policy)).stdout, /profiles replaced on vm: ls \(enforce\); 6 rules as \d+ map entries$/m);
    const same = await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', policy);
    assert.match(same.stdout, /profiles replaced on vm: ls \(enforce\); 6 rules as \d+ map entries$/m, 'no entry removed');
    const net = JSON.parse((await asRoot('bpftool --json map dump pinned /sys/fs/bpf/bls_prof_net')).stdout) as unknown[];
    assert.equal(net.length, 2);

    const cleared = await bpfLsm('policy', 'clear', '--target', 'vm');
    assert.match(cleared.stdout, /profile_guard detached/);
    assert.deepEqual(await ourPrograms(), [], 'bpftool lists none of our programs');
    for (const p of [...PROFILE_LINK_PINS, ...PROFILE_MAP_PINS]) assert.notEqual((await vm.exec('test', ['-e', p])).exitCode, 0, `${p} removed`);
    assert.equal((await asRoot('/usr/bin/ls /root')).exitCode, 0);
  });

  it('denies the connect a deny-list profile names and lets other connects through', async () => {
    const file = join(dir, 'connect.json');
    const profile = { name: 'bb', subject: { path: '/bin/busybox' }, mode: 'enforce', default: 'allow', connect: [{ proto: 'tcp', addr: '127.0.0.0/8', port: 22 }] };
    writeFileSync(file, JSON.stringify({ profiles: [profile] }));
    try {
      const applied = await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', file);
      assert.equal(applied.code, 0, applied.stderr);
      const denied = await vm.exec('sh', ['-c', '/bin/busybox nc -w 1 127.0.0.1 22 </dev/null']);
      assert.notEqual(denied.exitCode, 0);
      assert.match(denied.stderr, /Operation not permitted/);
      const other = await vm.exec('sh', ['-c', '/bin/busybox nc -w 1 127.0.0.1 23 </dev/null']);
      assert.doesNotMatch(other.stderr, /Operation not permitted/, 'port 23 is not named: refused by the kernel, not by the profile');
    } finally {
      await bpfLsm('policy', 'clear', '--target', 'vm');
    }
    const after = await vm.exec('sh', ['-c', '/bin/busybox nc -w 1 127.0.0.1 22 </dev/null']);
    assert.doesNotMatch(after.stderr, /Operation not permitted/);
  });
});
