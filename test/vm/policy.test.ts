// Exec enforcement in the BPF-LSM VM through `bpf-lsm policy`: a denied test program fails with EPERM, a
// renamed copy (mv) is still denied (inode+device rule), re-applying without it lets it run (rules replaced
// in place: same program, same link), audit mode lets it run and reports an event on the pinned ring, the
// policy outlives the CLI (pinned), a trace records the denied exec's hook call, and clear detaches it
// (bpftool agrees).
import * as assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HelperClient } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';
import { EVENTS_MAP, LINK_PIN, MAP_PINS } from '../../extension/core/policy/policy';
import { execEventDecoder, type ExecPolicyEvent } from '../../extension/core/policy/events';
import { iterateRecords } from '../../extension/shared/helperFrames';
import type { HookEvent, TraceEvent } from '../../extension/shared/traceEvent';
import { bpfLsm } from './cli';
import { vmBefore } from './wedge';

const root = join(__dirname, '..', '..', '..');
const BIN = '/tmp/bls-policy-test';
const MOVED = '/tmp/bls-policy-moved';


describe('exec enforcement policy in the BPF-LSM VM', function () {
  this.timeout(300_000);
  const vm = vmTarget();
  let dir: string;

  async function run(path: string): Promise<{ exitCode: number; stdout: string; stderr: string }> {
    return vm.exec('sh', ['-c', `"$1"`, 'sh', path]);
  }
  async function apply(policy: object): Promise<string> {
    const file = join(dir, 'policy.json');
    writeFileSync(file, JSON.stringify(policy));
    const r = await bpfLsm('policy', 'apply', '--target', 'vm', '--quiet', file);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  }
  async function pinnedLink(): Promise<{ id: number; prog_id: number } | undefined> {
    const r = await vm.exec('bpftool', ['--json', 'link', 'show', 'pinned', LINK_PIN]);
    return r.exitCode === 0 ? JSON.parse(r.stdout) : undefined;
  }

  vmBefore(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-policy-'));
    await bpfLsm('policy', 'clear', '--target', 'vm');
    // A script, so the program runs under any name (a busybox copy picks its applet from its name).
    const w = await vm.exec('sh', ['-c', `rm -f ${MOVED}; printf '#!/bin/sh\\necho ran\\n' > ${BIN} && chmod +x ${BIN}`]);
    assert.equal(w.exitCode, 0, w.stderr);
    assert.equal((await run(BIN)).stdout.trim(), 'ran');
  });
  after(async () => {
    await bpfLsm('policy', 'clear', '--target', 'vm');
    await vm.exec('rm', ['-f', BIN, MOVED]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('enforce: exec fails with EPERM, also after mv; removing it from the policy lets it run; rules change in place', async () => {
    assert.match(await apply({ mode: 'enforce', deny: [BIN] }), /policy applied on vm: mode enforce, 2 rules/);
    const link = await pinnedLink();
    assert.ok(link, 'the link is pinned after the CLI exited');
    const denied = await run(BIN);
    assert.notEqual(denied.exitCode, 0);
    assert.match(denied.stderr, /Operation not permitted/);

    assert.equal((await vm.exec('mv', [BIN, MOVED])).exitCode, 0);
    const moved = await run(MOVED);
    assert.match(moved.stderr, /Operation not permitted/, 'the renamed file is still denied (inode rule)');

    assert.match(await apply({ mode: 'enforce', deny: [] }), /policy replaced on vm: mode enforce, 0 rules, 2 removed/);
    const allowed = await run(MOVED);
    assert.equal(allowed.exitCode, 0, allowed.stderr);
    assert.equal(allowed.stdout.trim(), 'ran');
    assert.deepEqual(await pinnedLink(), link, 'same link and program: the rules were replaced in place');
    assert.equal((await vm.exec('mv', [MOVED, BIN])).exitCode, 0);
  });

  it('a trace records the exec the policy denies: its bprm_check_security call, then execve = -EPERM', async () => {
    // The tracer resident before the policy's program is attached: a trampoline runs the newest LSM program
    // first and stops at a denial, so an LSM program of the tracer would never see this call. Its program on
    // the hook's entry runs before either.
    await bpfLsm('policy', 'clear', '--target', 'vm');
    const started = await bpfLsm('tracer', 'start', '--target', 'vm', '--quiet');
    assert.equal(started.code, 0, started.stderr);
    await apply({ mode: 'enforce', deny: [BIN] });
    const r = await bpfLsm('trace', '--target', 'vm', '--json', '--quiet', '--', '/bin/sh', '-c', `${BIN}; true`);
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as TraceEvent);
    const checks = events.filter((e): e is HookEvent => e.kind === 'hook' && e.hook === 'bprm_check_security' && (e.args.bprm as { filename?: string } | undefined)?.filename === BIN);
    const bprm = events.filter((e): e is HookEvent => e.kind === 'hook' && e.category === 'bprm').map((e) => `${e.pid} ${e.hook} ${JSON.stringify(e.args.bprm)}`);
    assert.equal(checks.length, 1, `bprm_check_security of ${BIN} once; bprm hooks seen:\n${bprm.join('\n')}`);
    const denied = events.find((e) => e.kind === 'syscall_exit' && e.syscall === 'execve' && e.pid === checks[0].pid && e.time > checks[0].time);
    assert.equal(denied?.kind === 'syscall_exit' ? denied.ret : undefined, -1, 'execve returns -EPERM');
  });

  it('audit: the program runs and the would-be denial arrives as an event', async () => {
    await apply({ mode: 'audit', deny: [BIN] });
    const object = readFileSync(join(root, 'dist', 'bpf', 'exec_block.bpf.o'));
    const decode = execEventDecoder(object);
    const client = await HelperClient.connect(await vm.startHelper(), { client: 'vm-test policy events' });
    try {
      const loaded = await client.loadObject(object, { name: 'exec_block', programs: [] });
      const events: ExecPolicyEvent[] = [];
      await client.startTrace({ objectId: loaded.objectId, ringBuffers: [EVENTS_MAP] }, (batch) => {
        for (const r of iterateRecords(batch.records)) events.push(decode(r.data));
      });
      const r = await run(BIN);
      assert.equal(r.exitCode, 0, r.stderr);
      assert.equal(r.stdout.trim(), 'ran');
      // The pinned ring also still holds the denials of the enforce test (nobody read them then).
      const audited = () => events.find((x) => x.path === BIN && x.mode === 'audit');
      const deadline = Date.now() + 20_000;
      while (!audited() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      const e = audited();
      assert.ok(e, `an audit event for ${BIN} (got ${JSON.stringify(events.map((x) => [x.path, x.mode]))})`);
      assert.ok(events.filter((x) => x.mode === 'enforce').every((x) => x.timeNs < e.timeNs), 'older events are the enforce test\'s denials');
      assert.equal(e.matchedBy, 'path');
      assert.ok(e.pid > 1);
    } finally {
      await client.close();
    }
    const status = await bpfLsm('policy', 'status', '--target', 'vm', '--json');
    const s = JSON.parse(status.stdout);
    assert.equal(s.active, true);
    assert.equal(s.mode, 'audit');
    assert.deepEqual(s.deny, [BIN]);
  });

  it('byContent: a copy (new path, new inode) is denied by its IMA content hash; without byContent it runs', async () => {
    const COPY = '/tmp/bls-policy-copy';
    assert.equal((await vm.exec('cp', [BIN, COPY])).exitCode, 0);
    try {
      await apply({ mode: 'enforce', deny: [BIN] });
      assert.equal((await run(COPY)).stdout.trim(), 'ran', 'path and inode rules alone do not match a copy');
      await apply({ mode: 'enforce', deny: [BIN], byContent: true });
      const copy = await run(COPY);
      assert.match(copy.stderr, /Operation not permitted/, `the copy ran: ${copy.stdout}`);
    } finally {
      await vm.exec('rm', ['-f', COPY]);
    }
  });

  it('clear: the link is gone (bpftool) and the program runs', async () => {
    await apply({ mode: 'enforce', deny: [BIN] });
    assert.match((await run(BIN)).stderr, /Operation not permitted/);
    const link = (await pinnedLink())!;
    const cleared = await bpfLsm('policy', 'clear', '--target', 'vm');
    assert.match(cleared.stdout, /policy cleared/);
    const links = JSON.parse((await vm.exec('bpftool', ['--json', 'link', 'show'])).stdout || '[]') as Array<{ id: number }>;
    assert.equal(links.some((l) => l.id === link.id), false);
    for (const p of MAP_PINS) assert.notEqual((await vm.exec('test', ['-e', p])).exitCode, 0, `${p} removed`);
    assert.equal((await run(BIN)).stdout.trim(), 'ran');
    // policy status reports the exec deny list and the profiles apart (since profiles were added to it).
    const status = (await bpfLsm('policy', 'status', '--target', 'vm')).stdout;
    assert.match(status, /no exec deny list in force/);
    assert.match(status, /no profiles in force/);
  });
});
