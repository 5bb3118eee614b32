// Build + load in the BPF-LSM VM: probes with deliberate verifier errors, compiled on the host against the
// VM kernel's BTF, are rejected by the real verifier and the rejection lands on the exact offending line;
// a good probe loads, attaches (bpftool sees it) and detaches; fentry programs load beside LSM ones.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HelperClient } from '../../extension/core/helperClient';
import { vmTarget } from '../../extension/core/targets/vm';
import { buildForTarget, connectForBuild } from '../../extension/core/probes/target';
import { loadProbe } from '../../extension/core/probes/load';
import { vmBefore } from './wedge';

const root = join(__dirname, '..', '..', '..');
const probes = join(root, 'test', 'fixtures', 'probes');

function expectLine(name: string): number {
  return readFileSync(join(probes, `${name}.bpf.c`), 'utf8').split('\n').findIndex((l) => l.includes('EXPECT: ')) + 1;
}

describe('probe build and load in the BPF-LSM VM', function () {
  this.timeout(180_000);
  const vm = vmTarget();
  let client: HelperClient;
  let btfPath: string;

  vmBefore(async () => {
    ({ client, btfPath } = await connectForBuild(vm, 'vm-test probe'));
  });
  after(async () => client?.close());

  for (const [name, problem] of [
    ['null_check', 'null-check'],
    ['map_bounds', 'out-of-bounds'],
    ['stack_align', 'misaligned-stack'],
    ['spin_loop', 'unbounded-loop'],
    ['ctx_offset', 'ctx-arithmetic'],
  ] as const) {
    it(`${name}: the verifier's rejection is a diagnostic on the offending line`, async () => {
      const b = await buildForTarget(join(probes, `${name}.bpf.c`), btfPath, { output: join(root, 'out', 'probes', `${name}.bpf.o`) });
      assert.ok(b.ok, b.output);
      const r = await loadProbe(client, b.objectPath, { name });
      assert.equal(r.ok, false);
      assert.ok(!r.ok && r.rejected, JSON.stringify(r));
      const d = r.diagnostic!;
      assert.equal(d.file, join(probes, `${name}.bpf.c`));
      assert.equal(d.line, expectLine(name), `${d.failure.message} at ${d.line}, log:\n${r.log}`);
      assert.equal(d.failure.problem, problem);
      assert.match(r.log, /processed \d+ insns/);
    });
  }

  it('a good probe loads and attaches; bpftool sees its link until it is detached', async () => {
    const b = await buildForTarget(join(probes, 'good.bpf.c'), btfPath, { output: join(root, 'out', 'probes', 'good.bpf.o') });
    assert.ok(b.ok, b.output);
    const r = await loadProbe(client, b.objectPath, { name: 'good' });
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.attach.map((a) => [a.program, a.ok]), [['gfx_count_open', true]]);
    const linked = async () => {
      const progs = JSON.parse((await vm.exec('bpftool', ['--json', 'prog', 'show'])).stdout) as Array<{ id: number; name?: string }>;
      const ids = new Set(progs.filter((p) => p.name === 'gfx_count_open').map((p) => p.id));
      const links = JSON.parse((await vm.exec('bpftool', ['--json', 'link', 'show'])).stdout || '[]') as Array<{ prog_id?: number }>;
      return { progs: ids.size, links: links.filter((l) => l.prog_id !== undefined && ids.has(l.prog_id)).length };
    };
    assert.deepEqual(await linked(), { progs: 1, links: 1 });
    const d = await client.call('detach', { objectId: r.object.objectId });
    assert.ok(d.results.every((x) => x.ok));
    assert.deepEqual(await linked(), { progs: 1, links: 0 });
    await client.call('unloadObject', { objectId: r.object.objectId });
    assert.deepEqual(await linked(), { progs: 0, links: 0 });
  });

  it('fentry programs load beside LSM ones, on a kernel function and on a hook\'s bpf_lsm_ function, and run', async () => {
    const b = await buildForTarget(join(probes, 'fentry_mixed.bpf.c'), btfPath, { output: join(root, 'out', 'probes', 'fentry_mixed.bpf.o') });
    assert.ok(b.ok, b.output);
    const r = await loadProbe(client, b.objectPath, { name: 'fentry_mixed' });
    assert.ok(r.ok, JSON.stringify(r));
    try {
      assert.deepEqual(r.attach.map((a) => [a.program, a.ok]).sort(), [['fxm_do_unlinkat', true], ['fxm_inode_unlink', true], ['fxm_lsm_unlink', true]]);
      const types = new Map(r.object.programs.map((p) => [p.name, `${p.type} ${p.attachType}`]));
      assert.equal(types.get('fxm_do_unlinkat'), 'tracing trace_fentry');
      assert.equal(types.get('fxm_inode_unlink'), 'tracing trace_fentry');
      assert.equal(types.get('fxm_lsm_unlink'), 'lsm lsm_mac');
      assert.equal((await vm.exec('sh', ['-c', 'touch /tmp/bls-fxm && rm /tmp/bls-fxm'])).exitCode, 0);
      const seen = JSON.parse((await vm.exec('bpftool', ['--json', 'map', 'dump', 'name', 'fxm_seen'])).stdout) as Array<{ formatted: { key: number; value: number } }>;
      assert.deepEqual(seen.map((e) => [e.formatted.key, e.formatted.value > 0]), [[0, true], [1, true], [2, true]], JSON.stringify(seen));
    } finally {
      await client.call('unloadObject', { objectId: r.object.objectId });
    }
  });

  it('an fentry program on a function the kernel lacks fails to load, naming the function', async () => {
    const b = await buildForTarget(join(probes, 'fentry_missing.bpf.c'), btfPath, { output: join(root, 'out', 'probes', 'fentry_missing.bpf.o') });
    assert.ok(b.ok, b.output);
    const r = await loadProbe(client, b.objectPath, { name: 'fentry_missing' });
    assert.equal(r.ok, false);
    assert.match(JSON.stringify(r), /no function bls_no_such_function in the kernel's or its modules' BTF/);
  });
});
