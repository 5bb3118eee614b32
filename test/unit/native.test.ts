// The libbpf binding without privileges: open the test probe from a file and from a Buffer, list its
// programs and maps, describe its globals and map types through the object's BTF, set .rodata before load,
// and fail cleanly on bad input. Loading is only checked for a well-formed outcome: this host's kernel may
// refuse LSM programs (the VM tier loads them for real).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bpfObjectWithPrograms } from '../fixtures/malformed/elf';
import { loadNative, type NativeBinding, type LoadError } from '../../native/index';
import type { GlobalInfo } from '../../extension/shared/helperProtocol';
import { Btf } from '../../extension/shared/btf/btf';
import { mapTypes, objectGlobals } from '../../extension/shared/btf/describe';
import { decodeValue } from '../../extension/shared/helperValues';

const root = join(__dirname, '..', '..', '..');
const probe = join(root, 'dist', 'bpf', 'helper_test.bpf.o');

describe('native libbpf binding (unprivileged)', () => {
  let native: NativeBinding;
  before(() => {
    native = loadNative();
  });

  it('reports the system libbpf version and where it was loaded from', () => {
    assert.match(native.libbpfVersion, /^1\.\d+$/);
    assert.match(native.path, /bpflsm\.node$/);
    assert.equal(native.recordHeaderSize, 8);
  });

  it('explains an unusable addon file instead of crashing', () => {
    const loader = join(root, 'native', 'index.js');
    const script = `try { require(${JSON.stringify(loader)}).loadNative(); } catch (e) { console.log(e.code + ': ' + e.message); }`;
    const out = execFileSync(process.execPath, ['-e', script], { env: { ...process.env, BPF_LSM_NATIVE_ADDON: loader }, encoding: 'utf8' });
    assert.match(out, /^NATIVE_ADDON_UNUSABLE: the libbpf binding \(.*index\.js\) could not be loaded: /);
  });

  it('lists programs with section, type and LSM hook, and the maps with their kinds', async () => {
    const o = native.BpfObject.openFile(probe);
    try {
      assert.equal(o.name, 'helper_test');
      assert.equal(o.loaded, false);
      const programs = o.programs();
      assert.deepEqual(
        programs.map((p) => [p.name, p.section, p.type, p.attachTarget, p.autoload, p.loaded, p.attached]),
        [
          ['hlpt_file_open', 'lsm/file_open', 'lsm', 'file_open', true, false, false],
          ['hlpt_bprm_check', 'lsm/bprm_check_security', 'lsm', 'bprm_check_security', true, false, false],
        ],
      );
      assert.ok(programs.every((p) => p.instructions > 10));
      const maps = Object.fromEntries(o.maps().map((m) => [m.name, m]));
      assert.equal(maps.helper_test_events.type, 'ringbuf');
      assert.equal(maps.helper_test_events.maxEntries, 256 * 1024);
      assert.equal(maps.helper_test_watch.type, 'hash');
      assert.equal(maps.helper_test_watch.keySize, 4);
      assert.equal(maps.helper_test_watch.valueSize, 16);
      assert.ok(Object.values(maps).some((m) => m.internal && m.name.endsWith('.rodata')));
    } finally {
      await o.close();
    }
  });

  it('describes globals and map types from the object BTF, including the event anchor', async () => {
    const o = native.BpfObject.openBuffer(readFileSync(probe), 'helper_test');
    try {
      const btf = new Btf(o.btf());
      const globals = objectGlobals(btf, o.maps());
      const byName = Object.fromEntries(globals.map((g) => [g.name, g]));
      assert.equal(byName.filter_tgid.section, '.rodata');
      assert.deepEqual(byName.filter_tgid.type, { kind: 'int', name: 'unsigned int', size: 4, signed: false, bool: false, char: false });
      assert.equal(byName.dropped.section, '.bss');
      const anchor = byName.helper_test_event_anchor.type;
      assert.equal(anchor.kind, 'struct');
      assert.deepEqual(anchor.kind === 'struct' && anchor.members.map((m) => [m.name, m.offset]), [['cookie', 0], ['seq', 8], ['tgid', 16], ['hook', 20], ['comm', 24]]);
      const types = mapTypes(btf, o.maps().find((m) => m.name === 'helper_test_watch')!) as { key: { size: number }; value: { members: Array<{ name: string }> } };
      assert.equal(types.key.size, 4);
      assert.deepEqual(types.value.members.map((m: { name: string }) => m.name), ['hits', 'deny', 'flags']);
      const raw = o.btf();
      assert.equal(raw.readUInt16LE(0), 0xeb9f, 'BTF magic');
    } finally {
      await o.close();
    }
  });

  it('sets .rodata globals before load and checks their size', async () => {
    const o = native.BpfObject.openFile(probe);
    try {
      const v = Buffer.alloc(8);
      v.writeBigUInt64LE(0x1122334455667788n);
      o.setGlobal('cookie', v);
      const globals = objectGlobals(new Btf(o.btf()), o.maps());
      const cookie = globals.find((g) => g.name === 'cookie') as GlobalInfo;
      assert.equal(decodeValue(cookie.type, o.getGlobal('cookie')), '1234605616436508552');
      assert.throws(() => o.setGlobal('cookie', Buffer.alloc(3)), (e: Error & { code: string }) => e.code === 'EINVAL' && /8 bytes, got 3/.test(e.message));
      assert.throws(() => o.setGlobal('nope', Buffer.alloc(4)), (e: Error & { code: string }) => e.code === 'ENOENT');
    } finally {
      await o.close();
    }
  });

  it('fails cleanly on garbage, missing files, wrong argument types and use before load', async () => {
    assert.throws(() => native.BpfObject.openBuffer(Buffer.from('not an ELF file'), 'junk'), (e: Error & { code: string }) => typeof e.code === 'string' && /cannot open BPF object junk/.test(e.message));
    assert.throws(() => native.BpfObject.openFile('/nonexistent/x.bpf.o'), (e: Error & { code: string }) => e.code === 'ENOENT');
    assert.throws(() => native.BpfObject.openFile(42 as unknown as string), TypeError);
    const o = native.BpfObject.openFile(probe);
    try {
      assert.throws(() => new native.RingConsumer(o, ['helper_test_events']), /load the object first/);
      assert.throws(() => o.mapLookup('helper_test_watch', Buffer.alloc(4)), /load the object first/);
      assert.throws(() => o.mapLookup('nope', Buffer.alloc(4)), /no map named "nope"/);
      const results = await o.attach(['hlpt_file_open', 'missing']);
      assert.deepEqual(results.map((r) => [r.program, r.ok, r.code]), [
        ['hlpt_file_open', false, 'ENOEXEC'],
        ['missing', false, 'ENOENT'],
      ]);
      assert.throws(() => o.load(0, 10), RangeError);
    } finally {
      await o.close();
    }
    assert.throws(() => o.programs(), /closed/);
  });

  it('finds an LSM program\'s hook in its index of the kernel\'s BTF, and names a hook this kernel lacks', async function () {
    this.timeout(60000);
    assert.ok((await native.indexLsmHooks()) > 200, 'this kernel has over 200 LSM hooks');
    const outcome = async (section: string) => {
      const o = native.BpfObject.openBuffer(bpfObjectWithPrograms(1, { section }), 'lsm_index');
      try {
        return await o.load(0, 1 << 16).then(
          () => undefined,
          (e: LoadError) => e,
        );
      } finally {
        await o.close();
      }
    };
    const missing = await outcome('lsm/no_such_hook_7f3a');
    assert.equal(missing?.code, 'ESRCH');
    assert.match(missing!.message, /this kernel has no LSM hook no_such_hook_7f3a \(no function bpf_lsm_no_such_hook_7f3a in its BTF\)/);
    // A hook the kernel has gets past the lookup: it loads, or the kernel itself refuses it (this host does).
    for (const section of ['lsm/file_open', 'lsm.s/bprm_check_security']) {
      const found = await outcome(section);
      assert.ok(found === undefined || !/has no LSM hook|names no LSM hook/.test(found.message), found?.message);
    }
    assert.match((await outcome('lsm/'))?.message ?? '', /SEC\("lsm\/"\) names no LSM hook/);
  });

  it('load either succeeds or rejects with an errno, a message naming the object and a log field', async function () {
    this.timeout(60000);
    const o = native.BpfObject.openFile(probe);
    try {
      const outcome = await o.load(0, 1 << 16).then(
        () => undefined,
        (e: LoadError) => e,
      );
      if (outcome === undefined) {
        assert.ok(o.programs().every((p) => p.loaded));
      } else {
        assert.match(outcome.code, /^E[A-Z0-9]+$/);
        assert.match(outcome.message, /loading helper_test failed/);
        assert.equal(typeof outcome.log, 'string');
        assert.ok(outcome.program === null || outcome.program.startsWith('hlpt_'));
        assert.equal(o.loaded, false);
      }
    } finally {
      await o.close();
    }
  });

  // Run in a child under an address-space limit: what is measured is whether the root helper's memory for
  // verifier logs is bounded, and whether the Promise settles when the work cannot allocate.
  function loadInChild(programs: number, logLevel: number, logSize: number, limitMiB: number): { settled?: string; message?: string; peakMiB?: number } {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-native-'));
    try {
      const object = join(dir, 'many.bpf.o');
      writeFileSync(object, bpfObjectWithPrograms(programs));
      const script = `
        const o = require(${JSON.stringify(join(root, 'native', 'index.js'))}).loadNative().BpfObject.openFile(${JSON.stringify(object)});
        const peak = () => Math.round(Number(/VmHWM:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024);
        o.load(${logLevel}, ${logSize}).then(
          () => console.log(JSON.stringify({ settled: 'resolved', peakMiB: peak() })),
          (e) => console.log(JSON.stringify({ settled: 'rejected', message: e.message.split('\\n')[0], peakMiB: peak() })));`;
      const out = execFileSync('prlimit', [`--as=${limitMiB << 20}`, process.execPath, '-e', script], { encoding: 'utf8', timeout: 60_000 });
      return out.trim() ? JSON.parse(out.trim().split('\n').pop()!) : {};
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('caps verifier log memory in total: 64 programs at level 1 with 256 MiB logs each fit in a 2 GiB address space', function () {
    this.timeout(120_000);
    const r = loadInChild(64, 1, 256 << 20, 2048);
    assert.ok(r.settled, 'the load settled (64 x 256 MiB = 16 GiB of log buffers would not fit)');
    assert.ok(r.peakMiB! < 1024, `peak ${r.peakMiB} MiB`);
    console.log(`      load of 64 programs, log level 1, 256 MiB each: ${r.settled}, peak RSS ${r.peakMiB} MiB`);
  });

  it('settles the Promise when the work cannot allocate (1 GiB log in a 1.5 GiB address space)', function () {
    this.timeout(120_000);
    const r = loadInChild(1, 0, 1 << 30, 1536);
    assert.equal(r.settled, 'rejected', 'a job that throws rejects instead of never settling');
    assert.match(r.message ?? '', /alloc/);
  });
});

