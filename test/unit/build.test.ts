// Build Probe: clang's diagnostics on the right lines, the object on success, vmlinux.h per BTF digest.
import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { buildProbe, parseClangDiagnostics } from '../../extension/core/probes/probe';
import { checkSections } from '../../extension/core/probes/load';
import { catalogFromFile } from '../../extension/shared/hooks/catalog';
import { LocalTarget } from '../../extension/core/targets/local';
import type { Target } from '../../extension/core/target';

const root = join(__dirname, '..', '..', '..');
const probes = join(root, 'test', 'fixtures', 'probes');

describe('probe build', function () {
  this.timeout(60_000);
  let cache: string;
  before(() => (cache = mkdtempSync(join(tmpdir(), 'bpf-lsm-build-'))));
  after(() => rmSync(cache, { recursive: true, force: true }));

  it('parses clang diagnostics, fatal errors and notes included', () => {
    const d = parseClangDiagnostics(
      ['/w/a.bpf.c:14:9: error: use of undeclared identifier \'x\'', 'junk', '/w/a.h:3:1: note: expanded from macro', 'b.c:1:2: fatal error: \'vmlinux.h\' file not found', '/w/a.bpf.c:5:3: warning: unused variable'].join('\n'),
    );
    assert.deepEqual(d.map((x) => [x.file, x.line, x.column, x.severity]), [
      ['/w/a.bpf.c', 14, 9, 'error'],
      ['/w/a.h', 3, 1, 'note'],
      ['b.c', 1, 2, 'error'],
      ['/w/a.bpf.c', 5, 3, 'warning'],
    ]);
  });

  it('reports a compile error on its line and writes no object', async () => {
    const out = join(cache, 'bad.bpf.o');
    const b = await buildProbe({ source: join(probes, 'compile_error.bpf.c'), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: out });
    assert.equal(b.ok, false);
    const line = readFileSync(join(probes, 'compile_error.bpf.c'), 'utf8').split('\n').findIndex((l) => l.includes('EXPECT')) + 1;
    const errors = b.diagnostics.filter((d) => d.severity === 'error');
    assert.ok(errors.some((e) => e.line === line && /undeclared_thing/.test(e.message) && e.file === join(probes, 'compile_error.bpf.c')), JSON.stringify(errors));
    assert.equal(existsSync(out), false);
    assert.ok(b.command.includes('-D__TARGET_ARCH_x86') && b.command.includes('-g'));
  });

  it('builds a good probe into a BPF object, with one vmlinux.h per BTF', async () => {
    const out = join(cache, 'good.bpf.o');
    const b = await buildProbe({ source: join(probes, 'good.bpf.c'), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: out });
    assert.ok(b.ok, b.output);
    assert.equal(readFileSync(out).readUInt16LE(18), 247, 'EM_BPF');
    const again = await buildProbe({ source: join(probes, 'good.bpf.c'), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: out });
    assert.equal(again.vmlinuxDir, b.vmlinuxDir);
    assert.equal(readdirSync(cache).filter((f) => f.startsWith('vmlinux-')).length, 1);
  });

  it('builds on the target when this machine has no clang (this machine acting as the target)', async () => {
    const target = new LocalTarget();
    const noClang = 'clang-that-is-not-installed';
    const good = await buildProbe({ source: join(probes, 'good.bpf.c'), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: join(cache, 'remote-good.bpf.o'), clang: noClang, fallbackTarget: target });
    assert.ok(good.ok, good.output);
    assert.match(good.vmlinuxDir, /\/bpf-lsm-build\.[A-Za-z0-9]{10}$/, 'built in a folder of its own');
    assert.equal(existsSync(good.vmlinuxDir), false, 'the build folder is removed after the build');
    assert.equal(readFileSync(join(cache, 'remote-good.bpf.o')).readUInt16LE(18), 247, 'the object came back intact');
    const bad = await buildProbe({ source: join(probes, 'compile_error.bpf.c'), btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: join(cache, 'remote-bad.bpf.o'), clang: noClang, fallbackTarget: target });
    assert.equal(bad.ok, false);
    const line = readFileSync(join(probes, 'compile_error.bpf.c'), 'utf8').split('\n').findIndex((l) => l.includes('EXPECT')) + 1;
    assert.ok(bad.diagnostics.some((d) => d.severity === 'error' && d.line === line && d.file === join(probes, 'compile_error.bpf.c')), JSON.stringify(bad.diagnostics));
    assert.equal(existsSync(bad.vmlinuxDir), false, 'a failed build removes its folder too');
  });

  it('builds on the target in a private folder a planted header in /tmp cannot reach', async () => {
    // Another user of the target prepares the folder the old build used and a bpf/bpf_helpers.h in it.
    const source = join(probes, 'good.bpf.c');
    const shared = `/tmp/bpf-lsm-build/${createHash('sha256').update(source).digest('hex').slice(0, 16)}`;
    mkdirSync(join(shared, 'bpf'), { recursive: true, mode: 0o777 });
    writeFileSync(join(shared, 'bpf', 'bpf_helpers.h'), '#error planted header reached the build\n');
    const seen: Array<{ dir: string; mode: number; uid: number }> = [];
    const local = new LocalTarget();
    const target: Target = Object.assign(Object.create(local) as LocalTarget, {
      copyTo: async (files: ReadonlyArray<{ local: string; remote: string }>) => {
        for (const f of files) {
          const st = statSync(dirname(f.remote));
          seen.push({ dir: dirname(f.remote), mode: st.mode & 0o777, uid: st.uid });
        }
        await local.copyTo(files);
      },
    });
    try {
      const b = await buildProbe({ source, btfPath: '/sys/kernel/btf/vmlinux', cacheDir: cache, output: join(cache, 'planted.bpf.o'), clang: 'clang-that-is-not-installed', fallbackTarget: target });
      assert.ok(b.ok, `the planted header was used: ${b.output}`);
      assert.ok(seen.length > 0);
      for (const s of seen) {
        assert.notEqual(s.dir, shared);
        assert.deepEqual([s.mode.toString(8), s.uid], ['700', process.getuid!()], `${s.dir} is private to the build's user`);
      }
      assert.equal(existsSync(seen[0].dir), false, 'removed after the build');
    } finally {
      rmSync('/tmp/bpf-lsm-build', { recursive: true, force: true });
    }
  });

  it('warns about sections naming hooks the kernel lacks or misuses, before any load', () => {
    const catalog = catalogFromFile('/sys/kernel/btf/vmlinux');
    const plain = catalog.hooks.find((h) => !h.sleepable && !h.disabled)!.name;
    const src = ['SEC("lsm/file_open")', 'SEC("lsm/no_such_hook")', `SEC("lsm.s/${plain}")`, 'SEC("lsm.s/bprm_check_security")'].join('\n');
    const w = checkSections(src, catalog);
    assert.deepEqual(w.map((x) => [x.line, x.hook]), [[2, 'no_such_hook'], [3, plain]]);
    assert.match(w[0].message, /has no LSM hook "no_such_hook"/);
  });
});
