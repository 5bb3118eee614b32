// The examples' scenario files through the CLI, as CI runs them: `bpf-lsm test --kernel 6.1,6.12 --junit`
// passes every scenario on both kernels, and a copy of the exec blocker whose probe never denies (every
// -EPERM replaced by 0) fails, saying which scenario expected EPERM and what happened instead; so does a
// copy of the profile example whose policy only audits, and the policy is gone after the run.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BuiltinVm } from '../../extension/core/vm/vm';

const root = join(__dirname, '..', '..', '..');
const cli = join(root, 'dist', 'cli.js');

function bpfLsm(args: string[], cwd = root): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [cli, ...args], { env: process.env, cwd, timeout: 900_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe('examples: bpf-lsm test on 6.1 and 6.12', function () {
  this.timeout(1_200_000);
  const vm612 = BuiltinVm.of('6.12');
  let startedHere = false;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'bls-examples-'));
    startedHere = !vm612.running();
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (startedHere) await vm612.down();
  });

  it('passes every example scenario on both kernels, with the kernel in each JUnit test case', async () => {
    const junit = join(dir, 'out.xml');
    const r = await bpfLsm(['test', '--kernel', '6.1,6.12', '--junit', junit, '--quiet', 'examples']);
    console.log(r.stdout.trim().split('\n').map((l) => `      ${l}`).join('\n'));
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^32 passed, 0 failed/m);
    const xml = readFileSync(junit, 'utf8');
    const cases = [...xml.matchAll(/<testcase classname="([^"]+)" name="([^"]+)"/g)].map((m) => m[2]);
    assert.equal(cases.length, 32);
    assert.equal(cases.filter((c) => c.endsWith(' [6.1]')).length, 16);
    assert.equal(cases.filter((c) => c.endsWith(' [6.12]')).length, 16);
    assert.ok(!xml.includes('<failure'));
  });

  it('fails a profile that only audits where the scenarios expect denials, and clears the policy after the file', async () => {
    const copy = join(dir, 'audit-only');
    cpSync(join(root, 'examples', 'profile-ls'), copy, { recursive: true });
    const policy = join(copy, 'ls.policy.json');
    writeFileSync(policy, readFileSync(policy, 'utf8').replace(/"mode": "enforce"/g, '"mode": "audit"'));
    const r = await bpfLsm(['test', '--kernel', '6.1,6.12', '--quiet', copy]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^4 passed, 4 failed/m);
    for (const kernel of ['6.1', '6.12']) {
      const k = kernel.replace('.', '\\.');
      assert.match(r.stdout, new RegExp(`FAIL ${k} +\\S+ › ls cannot open /root: the profile denies it with EPERM .*\\n +exec /usr/bin/ls /root as root on ${k}: expected exit 2, got exit 0`));
      assert.match(r.stdout, new RegExp(`exec /tmp/profile-ls/env /usr/bin/id as root on ${k}: expected exit 126, got exit 0`));
      const status = await bpfLsm(['policy', 'status', '--target', kernel === '6.1' ? 'vm' : 'vm:6.12', '--json']);
      assert.equal(JSON.parse(status.stdout).profiles.active, false, `no profiles left on ${kernel}`);
    }
  });

  it('fails a probe that never denies, naming the scenario, the step, what was expected and what happened', async () => {
    const copy = join(dir, 'never-denies');
    cpSync(join(root, 'examples', 'exec-blocker'), copy, { recursive: true });
    const probe = join(copy, 'exec_blocker.bpf.c');
    const source = readFileSync(probe, 'utf8');
    assert.ok(source.includes('-EPERM'));
    writeFileSync(probe, source.replace(/-EPERM/g, '0'));
    const r = await bpfLsm(['test', '--kernel', '6.1,6.12', '--quiet', copy]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // The three EPERM scenarios fail on each kernel; the four that expect the program to run still pass.
    assert.match(r.stdout, /^8 passed, 6 failed/m);
    for (const kernel of ['6.1', '6.12']) {
      assert.match(r.stdout, new RegExp(`FAIL ${kernel.replace('.', '\\.')} +\\S+ › a listed binary \\(nc\\) is denied with EPERM .*\\n +exec /tmp/exec-blocker/nc /tmp/exec-blocker/hello\\.txt as root on ${kernel.replace('.', '\\.')}: expected EPERM, got exit 0`));
      assert.match(r.stdout, new RegExp(`exec /tmp/exec-blocker/nc /tmp/exec-blocker/hello\\.txt as uid 1000 on ${kernel.replace('.', '\\.')}: expected EPERM, got exit 0`));
    }
  });
});
