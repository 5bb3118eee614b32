// Reading a target kernel's BTF over an exec channel: here the channel is a local shell, so the bytes
// must equal /sys/kernel/btf/vmlinux and the banner /proc/version.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { catalogFromBuffer } from '../../extension/shared/hooks/catalog';
import { ExecFn, fetchTargetBtf } from '../../extension/shared/hooks/targetBtf';
import { HOST_BTF } from '../fixtures/kernels';

const localExec: ExecFn = async (program, args) => {
  const r = spawnSync(program, [...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  return { stdout: r.stdout, stderr: r.stderr, exitCode: r.status ?? 128 };
};

describe('catalog: BTF fetched from a target', function () {
  this.timeout(60_000);

  it('transfers the BTF bytes and the banner intact', async () => {
    const got = await fetchTargetBtf(localExec, 'this machine');
    assert.ok(got.btf.equals(readFileSync(HOST_BTF)), 'same bytes as /sys/kernel/btf/vmlinux');
    assert.equal(got.banner, readFileSync('/proc/version', 'utf8').trim());
    const catalog = catalogFromBuffer(got.btf, { kernel: got.banner });
    assert.equal(catalog.hooks.length, 271);
    assert.equal(catalog.kernel.versionSource, 'given');
  });

  it('says what failed and what to do when the target has no BTF', async () => {
    const failing: ExecFn = async () => ({ stdout: 'Linux version 6.1.0\n', stderr: "base64: /sys/kernel/btf/vmlinux: No such file or directory\n", exitCode: 1 });
    await assert.rejects(fetchTargetBtf(failing, 'ssh:box'), /cannot read the kernel BTF of ssh:box: base64: .*No such file.*CONFIG_DEBUG_INFO_BTF=y.*bpfLsm\.btfPath/);
  });

  it('rejects bytes that are not BTF', async () => {
    const garbage: ExecFn = async () => ({ stdout: `Linux version 6.1.0\n${Buffer.from('this is plainly not BTF data at all').toString('base64')}`, stderr: '', exitCode: 0 });
    await assert.rejects(fetchTargetBtf(garbage, 'ssh:box'), /BTF of ssh:box is not BTF: bad magic/);
  });
});
