// Target ids, remote-shell quoting, helper deployment bookkeeping and the check remedies, without a kernel.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { remoteCommand, shellQuote } from '../../extension/core/targets/quote';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTarget, parseTargetId, sshConfigHosts, localKernelRunsBpfLsm, vmForTarget, vmKernelOf, vmTargetChoices } from '../../extension/core/targets';
import { vmTargetId } from '../../extension/core/vm/kernels';
import { parseSha256sum } from '../../extension/core/targets/deploy';
import { runProgram, sshFailure } from '../../extension/core/targets/process';
import { sshTarget } from '../../extension/core/targets/remote';
import { LocalTarget, sudoersLine } from '../../extension/core/targets/local';
import { evaluateProbe, formatReport, lsmWithBpf, parseProbe, PROBE_SCRIPT } from '../../extension/core/targets/check';

describe('remote shell quoting', () => {
  const tricky = ['plain', 'a b', "it's", '"dq"', '$HOME', '`id`', '$(id)', '', ';ls', 'a\nb', '*', '~', '-n', 'A=b', 'ü €', '\\', "'"];

  it('passes every argument through sh -c unchanged', () => {
    const cmd = remoteCommand('printf', ['<%s>\\n', ...tricky]);
    const r = spawnSync('sh', ['-c', cmd], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, tricky.map((a) => `<${a}>\n`).join(''));
  });

  it('leaves safe words bare and never lets a first word become an assignment', () => {
    assert.equal(shellQuote('/usr/bin/node'), '/usr/bin/node');
    assert.equal(shellQuote('A=b'), "'A=b'");
    assert.equal(shellQuote(''), "''");
    assert.equal(shellQuote("it's"), `'it'\\''s'`);
  });

  it('rejects NUL bytes and an empty program', () => {
    assert.throws(() => shellQuote('a\0b'), /NUL byte/);
    assert.throws(() => remoteCommand('', []), /no program/);
  });
});

describe('target ids', () => {
  it('parses local, vm, auto and ssh:<host>', () => {
    assert.deepEqual(parseTargetId('local'), { kind: 'local' });
    assert.deepEqual(parseTargetId(' vm '), { kind: 'vm', kernel: '6.1' });
    assert.deepEqual(parseTargetId('vm:6.12'), { kind: 'vm', kernel: '6.12' });
    assert.deepEqual(parseTargetId('vm:6.1'), { kind: 'vm', kernel: '6.1' });
    assert.deepEqual(parseTargetId('auto'), { kind: 'auto' });
    assert.deepEqual(parseTargetId('ssh:build-box'), { kind: 'ssh', host: 'build-box' });
  });

  it('rejects unknown targets and host names that ssh would read as options', () => {
    assert.throws(() => parseTargetId('docker'), /unknown target "docker"/);
    assert.throws(() => parseTargetId('ssh:'), /no usable ssh host/);
    assert.throws(() => parseTargetId('ssh:-oProxyCommand=x'), /no usable ssh host/);
    assert.throws(() => parseTargetId('vm:5.10'), /"vm:5.10" names no kernel of the built-in VM; use vm, vm:6.1, vm:6.12/);
  });

  it('names the VM kernel of a target id, and the target id of a VM kernel', () => {
    assert.equal(vmKernelOf('vm'), '6.1');
    assert.equal(vmKernelOf('vm:6.12'), '6.12');
    assert.equal(vmKernelOf('ssh:vm'), undefined);
    assert.equal(vmKernelOf('local'), undefined);
    assert.equal(vmTargetId('6.1'), 'vm');
    assert.equal(vmTargetId('6.12'), 'vm:6.12');
  });

  it('maps every VM target id to its own VM and kernel, and says it is stopped without booting it', () => {
    const saved = process.env.BPF_LSM_CACHE;
    const cache = mkdtempSync(join(tmpdir(), 'bpf-lsm-targets-'));
    process.env.BPF_LSM_CACHE = cache;
    try {
      const v61 = createTarget('vm');
      const v612 = createTarget('vm:6.12');
      assert.deepEqual([v61.id, v61.label, v61.kernel.name, v61.ownedMachine, v61.sharesThisMachine], ['vm', 'VM', '6.1', true, false]);
      assert.deepEqual([v612.id, v612.label, v612.kernel.name], ['vm:6.12', 'VM 6.12', '6.12']);
      assert.equal(createTarget('vm:6.1').id, 'vm', 'vm:6.1 is the default VM');
      assert.equal(vmForTarget('vm:6.12').paths.root, join(cache, 'vm-6.12'));
      assert.equal(vmForTarget('vm').paths.root, join(cache, 'vm'));
      assert.equal(vmForTarget('ssh:box').paths.root, join(cache, 'vm'), 'a target that is no VM: the default VM');
      assert.deepEqual(vmTargetChoices().map((c) => [c.id, c.description]), [['vm', 'stopped'], ['vm:6.12', 'stopped']]);
      // Nothing runs in an empty cache: both say so, and neither has a kernel image to read BTF from yet.
      assert.equal(v612.stopped(), true);
      assert.equal(v612.kernel.localBtf(), undefined);
      assert.match(v612.kernel.btfAdvice, /bpf-lsm vm up --kernel 6\.12/);
      assert.match(v612.description, /6\.12/);
      const box = createTarget('ssh:box');
      assert.deepEqual([box.label, box.kernel.name, box.ownedMachine, box.stopped()], ['ssh:box', 'box', false, false]);
      assert.deepEqual([new LocalTarget().sharesThisMachine, new LocalTarget().stopped()], [true, false]);
    } finally {
      if (saved === undefined) delete process.env.BPF_LSM_CACHE;
      else process.env.BPF_LSM_CACHE = saved;
      rmSync(cache, { recursive: true, force: true });
    }
  });

  it('accepts only host names of a strict character set (a workspace can set the target)', () => {
    for (const host of ['lab;touch /tmp/pwned', 'a`id`', 'a$(id)', '%h', 'lab%d', 'two words', 'lab\tbox', 'x|y', "a'b", 'a"b', 'a\\b', 'a/b', '@lab', 'u@', 'u@-oProxyCommand=x', 'a\nb']) {
      assert.throws(() => parseTargetId(`ssh:${host}`), /no usable ssh host/, host);
      assert.throws(() => sshTarget(host), /not a usable ssh host name/, host);
    }
    for (const host of ['build-box', 'user@lab-1.example.com', 'gw_2', '10.0.0.7']) assert.deepEqual(parseTargetId(`ssh:${host}`), { kind: 'ssh', host });
  });

  it('lists concrete hosts from an ssh config, not patterns', () => {
    const config = 'Host *\n  ServerAliveInterval 5\nHost web1 web2\n  User me\nhost db # comment\nMatch host x\nHost !bad ?x gw\n';
    assert.deepEqual(sshConfigHosts(config), ['web1', 'web2', 'db', 'gw']);
  });

  it('runs LSM programs locally only when bpf is in the active LSM list', () => {
    assert.equal(localKernelRunsBpfLsm('/nonexistent/lsm'), false);
  });
});

describe('helper deployment bookkeeping', () => {
  it('parses sha256sum output, including binary-mode stars', () => {
    const a = 'a'.repeat(64);
    const b = 'b'.repeat(64);
    const sums = parseSha256sum(`${a}  /var/lib/x/helper.js\n${b} */var/lib/x/native/bpflsm.node\nsha256sum: /nope: No such file\n`);
    assert.equal(sums.get('/var/lib/x/helper.js'), a);
    assert.equal(sums.get('/var/lib/x/native/bpflsm.node'), b);
    assert.equal(sums.size, 2);
  });

  it('tells ssh connection failures from a program that exits 255', () => {
    assert.match(sshFailure({ stdout: '', stderr: 'ssh: Could not resolve hostname nope: Name or service not known\n', exitCode: 255 }, 'ssh host nope')!.message, /cannot reach ssh host nope/);
    assert.match(sshFailure({ stdout: '', stderr: 'me@box: Permission denied (publickey).\n', exitCode: 255 }, 'ssh host box')!.message, /load your key with ssh-add/);
    assert.equal(sshFailure({ stdout: '', stderr: 'my tool failed\n', exitCode: 255 }, 'x'), undefined);
    assert.equal(sshFailure({ stdout: '', stderr: 'ssh: whatever', exitCode: 1 }, 'x'), undefined);
  });

  it('writes a sudoers line for exactly the helper', () => {
    assert.equal(sudoersLine('/usr/bin/node', '/opt/x/dist/helper.js', 'alice'), 'alice ALL=(root) NOPASSWD: /usr/bin/node /opt/x/dist/helper.js');
  });
});

function probe(over: Record<string, string>): Map<string, string> {
  const base: Record<string, string> = {
    release: '6.1.0-56-amd64',
    version: 'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2',
    uid: '1000',
    lsm: 'lockdown,capability,landlock,yama,apparmor,bpf',
    config: 'CONFIG_BPF_SYSCALL=y\nCONFIG_BPF_JIT=y\nCONFIG_BPF_LSM=y\nCONFIG_DEBUG_INFO_BTF=y',
    btf: '4360000',
    cmdline: 'BOOT_IMAGE=/vmlinuz root=/dev/sda1 ro quiet',
    lockdown: '[none] integrity confidentiality',
    sudo: 'ok',
    bpftool: 'bpftool v7.1.0\nusing libbpf v1.1',
    libbpf: '/usr/lib/x86_64-linux-gnu/libbpf.so.1.1.2',
    node: 'v20.20.2',
    end: '',
  };
  return new Map(Object.entries({ ...base, ...over }));
}
const ctx = { targetId: 'ssh:box', kind: 'ssh' as const, hostClang: 'Debian clang version 14.0.6' };

describe('check: probe parsing and remedies', () => {
  it('splits the probe output into sections', () => {
    const out = '\n@@release\n6.1.0\n\n@@lsm\nbpf\n\n@@empty\n\n@@end\n';
    const p = parseProbe(out);
    assert.equal(p.get('release'), '6.1.0');
    assert.equal(p.get('lsm'), 'bpf');
    assert.equal(p.get('empty'), '');
    assert.ok(p.has('end'));
  });

  it('the probe script runs on this machine and reaches its end', () => {
    const r = spawnSync('sh', ['-s'], { input: PROBE_SCRIPT, encoding: 'utf8' });
    const p = parseProbe(r.stdout);
    assert.ok(p.has('end'), r.stderr);
    assert.equal(p.get('release'), spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim());
  });

  it('passes a ready kernel', () => {
    const r = evaluateProbe(probe({}), ctx);
    assert.equal(r.ok, true, formatReport(r));
    assert.deepEqual(r.lsm, ['lockdown', 'capability', 'landlock', 'yama', 'apparmor', 'bpf']);
    assert.equal(r.checks.find((c) => c.id === 'libbpf')!.detail, '1.1.2');
  });

  it('without bpf in the LSM list: the exact lsm= to add, keeping the active LSMs', () => {
    const r = evaluateProbe(probe({ lsm: 'lockdown,capability,landlock,yama,apparmor' }), ctx);
    const c = r.checks.find((x) => x.id === 'lsm')!;
    assert.equal(r.ok, false);
    assert.equal(c.status, 'fail');
    assert.match(c.remedy!, /Add lsm=lockdown,landlock,yama,apparmor,bpf on the kernel command line/);
    assert.match(c.remedy!, /update-grub/);
  });

  it('replaces an lsm= already on the command line instead of adding a second one', () => {
    const r = evaluateProbe(probe({ lsm: 'capability,yama', cmdline: 'root=/dev/vda lsm=yama' }), ctx);
    assert.match(r.checks.find((x) => x.id === 'lsm')!.remedy!, /Replace lsm=yama with lsm=yama,bpf/);
    assert.equal(lsmWithBpf(['capability']), 'landlock,lockdown,yama,integrity,apparmor,bpf');
  });

  it('an unreadable LSM list is not taken as ready, and says how to mount securityfs', () => {
    const r = evaluateProbe(probe({ lsm: '!unmounted' }), ctx);
    assert.equal(r.ok, false);
    assert.match(r.checks.find((x) => x.id === 'lsm')!.remedy!, /mount -t securityfs securityfs \/sys\/kernel\/security/);
  });

  it('names the missing kernel options, sudo line and packages', () => {
    const r = evaluateProbe(probe({ config: 'CONFIG_BPF_SYSCALL=y\n# CONFIG_BPF_LSM is not set', btf: '!missing', sudo: '!password', bpftool: '', libbpf: '', node: '' }), {
      ...ctx,
      localSetup: {
        sudoersLine: 'bob ALL=(root) NOPASSWD: /opt/bpf-lsm-studio/0123456789abcdef/node /opt/bpf-lsm-studio/0123456789abcdef/helper.js',
        installCommand: 'sudo /usr/bin/node /h/dist/cli.js install-helper',
        installProblem: 'the helper is not installed in /opt/bpf-lsm-studio/0123456789abcdef',
      },
      hostClang: undefined,
    });
    const by = (id: string) => r.checks.find((c) => c.id === id)!;
    assert.equal(by('config').status, 'fail');
    assert.match(by('config').remedy!, /CONFIG_BPF_LSM=y/);
    assert.match(by('btf').remedy!, /CONFIG_DEBUG_INFO_BTF=y/);
    assert.match(by('privileged').remedy!, /Install the helper once into a folder only root can change: `sudo \/usr\/bin\/node \/h\/dist\/cli\.js install-helper`/);
    assert.match(by('privileged').remedy!, /bob ALL=\(root\) NOPASSWD: \/opt\/bpf-lsm-studio\/0123456789abcdef\/node \/opt\/bpf-lsm-studio\/0123456789abcdef\/helper\.js/);
    assert.equal(by('helperInstall').status, 'warn');
    assert.match(by('helperInstall').detail, /not installed in \/opt\/bpf-lsm-studio/);
    assert.match(by('clang').remedy!, /apt-get install clang/);
    assert.equal(by('bpftool').status, 'warn');
    assert.match(by('libbpf').remedy!, /libbpf1/);
    assert.match(by('node').remedy!, /nodejs/);
    assert.match(by('config').remedy!, /bpf-lsm vm up/);
  });

  it('reports hook counts and an unmeasured attach count honestly', () => {
    const r = evaluateProbe(probe({}), { ...ctx, hooks: { total: 239, refusedByRules: 11, attached: null, attachNote: 'no helper' } });
    assert.match(r.checks.find((c) => c.id === 'hooks')!.detail, /239 hooks in BTF; 228 attachable/);
    const attach = r.checks.find((c) => c.id === 'attach')!;
    assert.equal(attach.status, 'unknown');
    assert.match(attach.detail, /not measured: no helper/);
    const measured = evaluateProbe(probe({}), { ...ctx, hooks: { total: 239, refusedByRules: 11, attached: 228 } });
    assert.equal(measured.checks.find((c) => c.id === 'attach')!.detail, '228 of 239 attached');
  });
});

describe('running target commands', () => {
  it('ends a timed-out command at its timeout even when a child of it keeps the output pipes open', async function () {
    this.timeout(20_000);
    const t = Date.now();
    // The background sleep holds stdout like an ssh master holds a multiplexed command's pipes.
    const err = await runProgram('sh', ['-c', 'sleep 30 & echo started; sleep 30'], { timeoutMs: 500 }).then(
      () => assert.fail('the command outlived its timeout'),
      (e: Error) => e,
    );
    assert.match(err.message, /did not finish within 500 ms/);
    assert.ok(Date.now() - t < 8000, `returned after ${Date.now() - t} ms`);
  });

  it('collects output and the exit status of a command that finishes in time', async () => {
    const r = await runProgram('sh', ['-c', 'echo out; echo err >&2; exit 3'], { timeoutMs: 10_000 });
    assert.deepEqual(r, { stdout: 'out\n', stderr: 'err\n', exitCode: 3 });
  });
});
