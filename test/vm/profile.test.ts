// Profiles in the BPF-LSM VM, end to end through the CLI (the Must show 1 and 2): propose a profile
// from a fresh trace of `ls /home`, replay it on that trace (0 denials) and on a trace of `ls /root`
// (the open of /root, naming the rule), apply it in enforce mode: `ls /home` runs with no event on the
// pinned ring, `ls /root` fails with EPERM and the event names the path, `cat /etc/hostname` (no subject)
// runs; saving an edited profile rewrites the rules in place (same links); clear leaves nothing of ours.
// The same flow on the 6.1 VM (vm) and the 6.12 VM (vm:6.12, booted here when not running). A file with
// only profiles loads no exec_block; policy status --json and policy events cover profiles.
// And a deny-list profile with a connect rule: the named TCP destination gets EPERM, others do not.
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelperClient } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';
import { createTarget } from '../../extension/core/targets';
import { BuiltinVm } from '../../extension/core/vm/vm';
import type { Target } from '../../extension/core/target';
import { spawn } from 'node:child_process';
import { PROFILE_EVENTS_MAP, PROFILE_LINK_PINS, PROFILE_MAP_PINS } from '../../extension/core/policy/profileApply';
import { profileEventDecoder, type ProfileEvent } from '../../extension/core/policy/profileEvents';
import { iterateRecords } from '../../extension/shared/helperFrames';
import { bpfLsm } from './cli';
import { vmBefore } from './wedge';

const root = join(__dirname, '..', '..', '..');


/** `bpf-lsm policy events` until `until` shows in its output (or 60 s), then Ctrl-C: its JSON lines. */
async function followEvents(target: string, act: () => Promise<unknown>, until: RegExp): Promise<string[]> {
  const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), 'policy', 'events', '--target', target], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const exited = new Promise((res) => child.on('exit', res));
  try {
    const deadline = Date.now() + 60_000;
    while (!/following/.test(err) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
    assert.match(err, /following profile denials and audits/);
    await act();
    while (!until.test(out) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
  } finally {
    child.kill('SIGINT');
    await exited;
  }
  return out.split('\n').filter(Boolean);
}

describe('least-privilege profiles in the BPF-LSM VM', function () {
  this.timeout(900_000);
  const vm = vmTarget();
  const vm612 = BuiltinVm.of('6.12');
  let startedHere = false;
  let dir: string;
  const asRoot = (cmd: string, on: Target = vm) => on.exec('sh', ['-c', cmd], { root: true });
  const ourPrograms = async (on: Target = vm) => {
    const progs = JSON.parse((await asRoot('bpftool --json prog show', on)).stdout || '[]') as Array<{ name?: string }>;
    return progs.map((p) => p.name ?? '').filter((n) => /^(profile_|exec_block)/.test(n));
  };
  const linkIds = async (on: Target) => {
    const ids: number[] = [];
    for (const pin of PROFILE_LINK_PINS) ids.push(JSON.parse((await asRoot(`bpftool --json link show pinned ${pin}`, on)).stdout).id);
    return ids;
  };

  vmBefore(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-profile-'));
    startedHere = !vm612.running();
    await bpfLsm('policy', 'clear', '--target', 'vm');
  });
  after(async () => {
    await bpfLsm('policy', 'clear', '--target', 'vm');
    if (vm612.running()) await bpfLsm('policy', 'clear', '--target', 'vm:6.12');
    if (startedHere) await vm612.down();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const [targetId, kernel] of [['vm', '6.1'], ['vm:6.12', '6.12']] as const) {
    it(`proposes from ls /home, replays, enforces, rewrites in place and clears (${targetId}, ${kernel})`, async () => {
      const on = targetId === 'vm' ? vm : createTarget(targetId);
      if (targetId !== 'vm') await on.ensureUp(() => undefined);
      assert.match((await on.exec('uname', ['-r'])).stdout, new RegExp(`^${kernel.replace('.', '\\.')}\\.`));
      await bpfLsm('policy', 'clear', '--target', targetId);
      const policy = join(dir, `p-${kernel}.json`);
      const own = join(dir, `ls-home-${kernel}.jsonl`);
      const proposed = await bpfLsm('policy', 'propose', '--target', targetId, '--enforce', '--out', policy, '--save-trace', own, '--', '/usr/bin/ls', '/home');
      assert.equal(proposed.code, 0, proposed.stderr);
      const doc = JSON.parse(readFileSync(policy, 'utf8'));
      assert.equal(doc.profiles[0].subject.path, '/usr/bin/ls');
      assert.equal(doc.profiles[0].mode, 'enforce');
      assert.ok(doc.profiles[0].files.some((f: { path: string }) => f.path === '/home'));

      // Must show 2: its own trace replays with 0 denials; a trace of ls /root (as root) with the denial.
      const replayOwn = await bpfLsm('policy', 'replay', policy, own);
      assert.equal(replayOwn.code, 0, replayOwn.stdout);
      assert.match(replayOwn.stdout, /, 0 would-be denials$/m);
      const rootTrace = await bpfLsm('trace', '--target', targetId, '--json', '--as-root', '--quiet', '--', '/usr/bin/ls', '/root');
      const rootFile = join(dir, `ls-root-${kernel}.jsonl`);
      writeFileSync(rootFile, rootTrace.stdout);
      const replayRoot = await bpfLsm('policy', 'replay', policy, rootFile);
      assert.equal(replayRoot.code, 3, replayRoot.stdout);
      assert.match(replayRoot.stdout, /1 would-be denial$/m);
      assert.match(replayRoot.stdout, /^ +1 {2}ls: no files rule allows it \(default deny\) \[enforce\]$/m);
      assert.match(replayRoot.stdout, /ls: open \/root \(read\) <- ls: no files rule allows it/);

      // Must show 1: enforce.
      const applied = await bpfLsm('policy', 'apply', '--target', targetId, '--quiet', policy);
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, new RegExp(`profiles applied on ${targetId}: ls \\(enforce\\)`));
      // Only profiles in the file: no exec_block with 0 rules judging every exec.
      assert.doesNotMatch(applied.stdout, /policy applied|exec_block/);
      assert.deepEqual((await ourPrograms(on)).sort(), ['profile_connect', 'profile_exec', 'profile_fork', 'profile_open']);
      const status = JSON.parse((await bpfLsm('policy', 'status', '--target', targetId, '--json')).stdout);
      assert.equal(status.active, false, 'no exec deny list');
      assert.equal(status.profiles.active, true);
      assert.deepEqual(status.profiles.profiles.map((p: { name: string; mode: string; subject: string }) => [p.name, p.mode, p.subject]), [['ls', 'enforce', '/usr/bin/ls']]);
      assert.ok(status.profiles.links.every((l: { pinned: boolean }) => l.pinned));
      const object = readFileSync(join(root, 'dist', 'bpf', 'profile_guard.bpf.o'));
      const decode = profileEventDecoder(object);
      const client = await HelperClient.connect(await on.startHelper(), { client: 'vm-test profile events' });
      const events: ProfileEvent[] = [];
      try {
        const loaded = await client.loadObject(object, { name: 'profile_guard', programs: [] });
        await client.startTrace({ objectId: loaded.objectId, ringBuffers: [PROFILE_EVENTS_MAP] }, (batch) => {
          for (const r of iterateRecords(batch.records)) events.push(decode(r.data));
        });
        const home = await on.exec('/usr/bin/ls', ['/home']);
        assert.equal(home.exitCode, 0, home.stderr);
        const denied = await asRoot('/usr/bin/ls /root', on);
        assert.notEqual(denied.exitCode, 0);
        assert.match(denied.stderr, /cannot open directory '\/root': Operation not permitted/);
        const other = await on.exec('cat', ['/etc/hostname']);
        assert.equal(other.exitCode, 0, other.stderr);
        assert.ok(other.stdout.trim().length > 0);
        const deadline = Date.now() + 20_000;
        while (!events.some((e) => e.path === '/root') && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
        assert.deepEqual(events.map((e) => [e.request, e.path, e.mode, e.rule, e.profile]), [['file', '/root', 'enforce', -1, 0]], 'ls /home reported nothing; ls /root one denial');
      } finally {
        await client.close();
      }
      // policy events follows the profiles' ring too.
      const lines = await followEvents(targetId, () => asRoot('/usr/bin/ls /root', on), /"\/root"/);
      const row = lines.map((l) => JSON.parse(l)).find((e) => e.args?.file?.path === '/root');
      assert.ok(row, `policy events printed the denial: ${lines.join('\n')}`);
      assert.deepEqual([row.hook, row.ret, row.args.rule], ['file_open', -1, 'ls: no files rule allows it (default deny)']);

      // Saving an edited file rewrites the rules in place: /root allowed now, same programs and links.
      const before = await linkIds(on);
      doc.profiles[0].files.push({ path: '/root', access: 'read' });
      writeFileSync(policy, JSON.stringify(doc));
      const again = await bpfLsm('policy', 'apply', '--target', targetId, '--quiet', policy);
      assert.match(again.stdout, new RegExp(`profiles replaced on ${targetId}`));
      assert.equal((await asRoot('/usr/bin/ls /root', on)).exitCode, 0);
      assert.deepEqual(await linkIds(on), before);
      // Applying the same file again changes nothing: every entry read back is recognised as wanted
      // (connect prefixes included), so none is deleted and rewritten.
      doc.profiles[0].connect = [{ proto: 'tcp', addr: '10.0.2.0/24', port: 22 }, { proto: 'udp', addr: 'fd00::/8' }];
      writeFileSync(policy, JSON.stringify(doc));
      assert.match((await bpfLsm('policy', 'apply', '--target', targetId, '--quiet', policy)).stdout, new RegExp(`profiles replaced on ${targetId}: ls \\(enforce\\); 6 rules as \\d+ map entries$`, 'm'));
      const same = await bpfLsm('policy', 'apply', '--target', targetId, '--quiet', policy);
      assert.match(same.stdout, new RegExp(`profiles replaced on ${targetId}: ls \\(enforce\\); 6 rules as \\d+ map entries$`, 'm'), 'no entry removed');
      const net = JSON.parse((await asRoot('bpftool --json map dump pinned /sys/fs/bpf/bls_prof_net', on)).stdout) as unknown[];
      assert.equal(net.length, 2);

      const cleared = await bpfLsm('policy', 'clear', '--target', targetId);
      assert.match(cleared.stdout, /profile_guard detached/);
      assert.deepEqual(await ourPrograms(on), [], 'bpftool lists none of our programs');
      assert.equal(JSON.parse((await bpfLsm('policy', 'status', '--target', targetId, '--json')).stdout).profiles.active, false);
      for (const p of [...PROFILE_LINK_PINS, ...PROFILE_MAP_PINS]) assert.notEqual((await on.exec('test', ['-e', p])).exitCode, 0, `${p} removed`);
      assert.equal((await asRoot('/usr/bin/ls /root', on)).exitCode, 0);
    });
  }

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
