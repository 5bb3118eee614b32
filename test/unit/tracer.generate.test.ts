// The generated all-hooks tracer for two real kernels (this host's 6.18 BTF and Debian's 6.1, which the
// VM runs): coverage of the catalog, every skip explained, the C compiles with clang against each
// kernel's vmlinux.h, libbpf sees one lsm program per generated hook, and the record layouts in the
// compiled object's BTF are exactly the offsets the decoder tables carry.
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Btf, BtfKind } from '../../extension/shared/btf/btf';
import { objectGlobals } from '../../extension/shared/btf/describe';
import { catalogFromFile, Hook, HookCatalog } from '../../extension/shared/hooks/catalog';
import { buildTracer, compileTracer, CompiledTracer, hostSyscallTable } from '../../extension/shared/tracer/compile';
import { decodeTracedValue, hasMaybeFlag, KNOBS, MAYBE_MAP, maybeFlag, NO_FLAG, sumCounters, tracedKey, tracedValue, TRACED_MAP, EVENTS_MAP, COUNTERS_MAP, RINGS_MAP } from '../../extension/shared/tracer/control';
import { TR_TGID_FLAGS } from '../../extension/shared/tracer/layout';
import { FIXED_PROGRAMS, generateTracer, threadSizeLines, TracerGeneration } from '../../extension/shared/tracer/generate';
import { FIXED_STRUCTS, HDR } from '../../extension/shared/tracer/layout';
import { parseSyscallDefines } from '../../extension/shared/tracer/syscalls';
import { loadNative } from '../../native/index';
import { BtfBuilder } from '../fixtures/btfBuilder';
import { debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';

const root = join(__dirname, '..', '..', '..');
const headersDir = join(root, 'bpf', 'tracer');
const cacheDir = join(root, '.cache', 'tracer');

/** Members of a struct in an object's BTF: name -> byte offset, and its size. */
function btfStruct(btf: Btf, name: string): { size: number; offsets: Map<string, number> } {
  const id = btf.find(BtfKind.Struct, name);
  assert.ok(id !== undefined, `struct ${name} is not in the object's BTF`);
  return { size: btf.sizeOrType(id), offsets: new Map(btf.members(id).map((m) => [m.name, (m.bitOffset ?? 0) / 8])) };
}

describe('syscall names from the kernel headers', () => {
  it('parses #define __NR_ lines and ignores __NR_syscalls', () => {
    const t = parseSyscallDefines('#define __NR_read 0\n#define __NR_openat 257\n#define __NR_syscalls 460\n#define __X 3\n');
    assert.deepEqual(t, { 0: 'read', 257: 'openat' });
  });

  it('reads the x86_64 table through clang', () => {
    const t = hostSyscallTable();
    assert.equal(t[0], 'read');
    assert.equal(t[59], 'execve');
    assert.equal(t[257], 'openat');
    assert.equal(t[322], 'execveat');
    assert.ok(Object.keys(t).length > 330);
  });
});

for (const kernel of ['host 6.18', 'Debian 6.1'] as const) {
  describe(`generated tracer for ${kernel}`, function () {
    this.timeout(120_000);
    let catalog: HookCatalog;
    let gen: TracerGeneration;
    let compiled: CompiledTracer;
    let objBtf: Btf;

    before(() => {
      const btfPath = kernel === 'host 6.18' ? HOST_BTF : debian61Vmlinux();
      catalog = kernel === 'host 6.18' ? catalogFromFile(btfPath) : catalogFromFile(btfPath, { kernel: '6.1.192' });
      gen = generateTracer(catalog, { syscalls: hostSyscallTable() });
      compiled = compileTracer(gen, { btfPath, headersDir, cacheDir });
      objBtf = Btf.fromBuffer(compiled.object, 'tracer.bpf.o');
    });

    it('generates at least 95% of the attachable hooks and gives a reason for every other one', () => {
      const attachable = catalog.hooks.filter((h) => !h.disabled);
      assert.ok(gen.hooks.length >= Math.ceil(attachable.length * 0.95), `${gen.hooks.length} of ${attachable.length} attachable hooks generated`);
      assert.equal(gen.hooks.length + gen.skipped.length, catalog.hooks.length, 'every hook is generated or listed as skipped');
      for (const s of gen.skipped) assert.ok(s.reason.length > 10, `${s.hook}: ${s.reason}`);
      for (const h of catalog.hooks.filter((x) => x.disabled)) {
        assert.match(gen.skipped.find((s) => s.hook === h.name)?.reason ?? '', /refuses BPF programs/, h.name);
      }
      assert.deepEqual(gen.degraded, [], 'every value type has its fields in this kernel');
      // Ids are dense and match the tables the decoder gets.
      assert.deepEqual(gen.hooks.map((h) => h.id), gen.hooks.map((_, i) => i));
      assert.deepEqual(gen.tables.hooks.map((h) => h.name), gen.hooks.map((h) => h.name));
    });

    it('reads arguments by type and explains the ones it cannot read', () => {
      const fileOpen = gen.hooks.find((h) => h.name === 'file_open')!;
      assert.deepEqual(fileOpen.params.map((p) => p.decode), ['value']);
      assert.equal(fileOpen.dpath, true, 'file_open is on the bpf_d_path allow-list (a sleepable hook)');
      const perm = gen.hooks.find((h) => h.name === 'file_permission')!;
      assert.equal(perm.dpath, false);
      assert.deepEqual(perm.params.map((p) => p.decode), ['value', 'scalar']);
      const mask = gen.tables.hooks.find((h) => h.name === 'file_permission')!.args[1];
      assert.equal(mask.how === 'scalar' && mask.fmt, 'may');
      for (const h of gen.hooks) for (const p of h.params) if (p.decode === 'unread') assert.ok(p.reason, `${h.name}.${p.name}`);
      // d_path only where the kernel allows it: sleepable hooks, never the others.
      for (const h of gen.hooks) {
        const m = new RegExp(`int tr_${h.name}\\(unsigned long long \\*ctx\\)\\n\\{[^}]*\\}`).exec(gen.bpfSource);
        assert.ok(m, `program of ${h.name} in the source`);
        const table = gen.tables.hooks.find((t) => t.name === h.name)!;
        const hasPath = table.args.some((a) => a.how === 'value' && (a.value === 'file' || a.value === 'path'));
        assert.equal(/_dpath\(/.test(m[0]), h.dpath && hasPath, h.name);
        if (!catalog.get(h.name)!.sleepable) assert.doesNotMatch(m[0], /_dpath\(/, h.name);
        assert.match(m[0], /return 0;\n\}$/, `${h.name} never denies`);
        // Written in place in the ring exactly when no argument appends a string to the record's tail.
        const tail = table.args.some((a) => a.how === 'string' || (a.how === 'value' && gen.tables.values[a.value].fields.some((f) => f.store === 'str')));
        assert.match(m[0], tail ? /tr_begin\(&c,[^]*tr_end\(&c\);/ : /tr_begin_fixed\(&c,[^]*tr_end_fixed\(&c\);/, h.name);
      }
      const fixed = gen.hooks.filter((h) => gen.bpfSource.includes(`int tr_${h.name}(unsigned long long *ctx)\n{\n\tstruct tr_ctx c;\n\tstruct tr_h_${h.name} *r;\n\n\tif (!tr_begin_fixed(`));
      assert.ok(fixed.some((h) => h.name === 'inode_permission') && !fixed.some((h) => h.name === 'file_open'), 'inode_permission in place, file_open (a path) through the scratch buffer');
    });

    it('compiles with clang against the kernel\'s own vmlinux.h', () => {
      assert.ok(compiled.object.length > 10_000);
      assert.equal(compiled.object.readUInt32BE(0), 0x7f454c46);
      const again = compileTracer(gen, { btfPath: kernel === 'host 6.18' ? HOST_BTF : debian61Vmlinux(), headersDir, cacheDir });
      assert.equal(again.fromCache, true);
      assert.equal(again.cacheKey, compiled.cacheKey);
    });

    it('refers to no kernel variable (ksym): the 6.1 verifier scans all of the kernel\'s BTF for each program that does', () => {
      // A __ksym variable lands in the object's .ksyms section; the verifier then looks up the per-CPU data
      // section by a linear scan of ~100k types at every program load (0.45 s of the cold load on 6.1).
      const ksyms = objBtf.find(BtfKind.Datasec, '.ksyms');
      const vars = ksyms === undefined ? [] : objBtf.datasecVars(ksyms).filter((v) => objBtf.kind(v.type) === BtfKind.Var);
      assert.deepEqual(vars.map((v) => objBtf.name(v.type)), []);
      // This kernel is not a KASAN one: the tracer's interrupt test keeps its default task stack size.
      assert.equal(catalog.btf.find(BtfKind.Func, 'kasan_report'), undefined);
      assert.doesNotMatch(gen.bpfSource, /TR_THREAD_SIZE/);
    });

    it('libbpf sees one program per generated hook (fentry on its bpf_lsm_ function, lsm where bpf_d_path resolves paths), plus the syscall/fork/exit programs', () => {
      const native = loadNative();
      const obj = native.BpfObject.openBuffer(compiled.object, 'tracer');
      try {
        const programs = obj.programs();
        const byName = new Map(programs.map((p) => [p.name, p]));
        const hooks = gen.hooks.map((h) => ({ h, p: byName.get(h.program) }));
        for (const { h, p } of hooks) {
          assert.ok(p, `program ${h.program}`);
          assert.equal(p.section, h.section);
          if (h.dpath) {
            assert.equal(p.section, `lsm/${h.name}`);
            assert.equal(p.type, 'lsm');
            assert.equal(p.attachTarget, h.name);
          } else {
            assert.equal(p.section, `fentry/bpf_lsm_${h.name}`);
            assert.equal(p.type, 'tracing');
            assert.equal(p.attachType, 'trace_fentry');
          }
        }
        // Only hooks that call bpf_d_path stay LSM programs; file_open is one, inode_permission (no path) is not.
        const lsm = gen.hooks.filter((h) => h.dpath);
        assert.ok(lsm.length >= 10 && lsm.length < gen.hooks.length / 5, `${lsm.length} lsm programs`);
        assert.ok(lsm.every((h) => gen.bpfSource.split(`int ${h.program}(`)[1].split('\n}')[0].includes('_dpath(')), 'every lsm program resolves a path with bpf_d_path');
        assert.equal(byName.get('tr_file_open')?.type, 'lsm');
        assert.equal(byName.get('tr_inode_permission')?.type, 'tracing');
        // An fentry program's context has no return value slot: its records carry 0, as LSM ones before any other program do.
        assert.match(gen.bpfSource, /SEC\("fentry\/bpf_lsm_inode_permission"\)\nint tr_inode_permission\(unsigned long long \*ctx\)\n\{[^}]*tr_begin_fixed\(&c, \d+, 0, sizeof\(\*r\)\)/);
        for (const f of FIXED_PROGRAMS) assert.equal(byName.get(f)?.type, 'tracing', f);
        assert.equal(programs.length, gen.hooks.length + FIXED_PROGRAMS.length);
        const maps = new Map(obj.maps().map((m) => [m.name, m]));
        assert.equal(maps.get('tr_events')?.type, 'ringbuf');
        assert.equal(maps.get('tr_traced')?.keySize, 4);
        // Programs stay small: the shared work is in subprograms, so ~230 of them verify quickly.
        const sizes = hooks.map(({ p }) => p!.instructions).sort((a, b) => a - b);
        assert.ok(sizes[sizes.length - 1] < 2000, `largest hook program has ${sizes[sizes.length - 1]} instructions`);
      } finally {
        void obj.close();
      }
    });

    it('with attach "fexit", has one fexit program per hook on its bpf_lsm_ function, without bpf_d_path', () => {
      const hooks = ['file_open', 'bprm_check_security', 'socket_connect'];
      const fx = generateTracer(catalog, { syscalls: hostSyscallTable(), hooks, attach: 'fexit' });
      assert.deepEqual(fx.hooks.map((h) => h.name).sort(), [...hooks].sort());
      for (const h of fx.hooks) assert.equal(h.dpath, false, h.name);
      assert.doesNotMatch(fx.bpfSource, /_dpath\(|SEC\("lsm\//);
      const c = compileTracer(fx, { btfPath: kernel === 'host 6.18' ? HOST_BTF : debian61Vmlinux(), headersDir, cacheDir });
      const obj = loadNative().BpfObject.openBuffer(c.object, 'tracer');
      try {
        const byName = new Map(obj.programs().map((p) => [p.name, p]));
        for (const h of fx.hooks) {
          assert.equal(byName.get(h.program)?.section, `fexit/bpf_lsm_${h.name}`);
          assert.equal(byName.get(h.program)?.type, 'tracing');
        }
      } finally {
        void obj.close();
      }
    });

    it('has the header and fixed records at the offsets the decoder uses (object BTF)', () => {
      for (const s of FIXED_STRUCTS) {
        const b = btfStruct(objBtf, s.name);
        assert.equal(b.size, s.size, `sizeof(struct ${s.name})`);
        for (const [m, off] of Object.entries(s.offsets)) assert.equal(b.offsets.get(m), off, `${s.name}.${m}`);
      }
    });

    it('has every value struct and every hook record at the offsets of the decoder tables (object BTF)', () => {
      for (const [key, v] of Object.entries(gen.tables.values)) {
        const b = btfStruct(objBtf, `tr_v_${key}`);
        assert.equal(b.size, v.size, `sizeof(struct tr_v_${key})`);
        assert.equal(b.offsets.get('present'), v.present, `tr_v_${key}.present`);
        for (const f of v.fields) assert.equal(b.offsets.get(f.name), f.offset, `tr_v_${key}.${f.name}`);
      }
      for (const h of gen.tables.hooks) {
        const b = btfStruct(objBtf, `tr_h_${h.name}`);
        assert.equal(b.size, h.size, `sizeof(struct tr_h_${h.name})`);
        assert.equal(b.offsets.get('hdr'), 0);
        for (const a of h.args) {
          if (a.how === 'unread') assert.equal(b.offsets.has(a.name), false);
          else assert.equal(b.offsets.get(a.name), a.offset, `tr_h_${h.name}.${a.name}`);
        }
      }
      assert.equal(btfStruct(objBtf, 'tr_hdr').size, HDR.size);
    });

    it('takes enum names for the records from the kernel\'s BTF', () => {
      assert.equal(gen.tables.enums.bpf_cmd?.['5'], 'BPF_PROG_LOAD');
      assert.equal(gen.tables.enums.bpf_prog_type?.['29'], 'BPF_PROG_TYPE_LSM');
      assert.equal(gen.tables.syscalls['257'], 'openat');
    });
  });
}

describe('generated tracer limits', () => {
  it('skips a hook with more argument registers than the kernel\'s trampolines take, saying why', () => {
    const real = catalogFromFile(HOST_BTF);
    const base = real.get('file_permission')!;
    const wide: Hook = { ...base, name: 'file_permission', params: [...base.params, ...base.params, ...base.params, base.params[0]].map((p, i) => ({ ...p, name: `a${i}` })) };
    const at61 = new HookCatalog([wide], { version: { major: 6, minor: 1, patch: 192 }, versionSource: 'given' }, 'security_list_options', real.btf);
    const gen61 = generateTracer(at61);
    assert.deepEqual(gen61.hooks, []);
    assert.match(gen61.skipped[0].reason, /7 argument registers; BPF trampolines on 6\.1\.192 take at most 6/);
    const at618 = new HookCatalog([wide], { version: { major: 6, minor: 18, patch: 0 }, versionSource: 'given' }, 'security_list_options', real.btf);
    assert.equal(generateTracer(at618).hooks.length, 1, '6.6+ trampolines take 12');
  });
});

describe('generated tracer: the task stack size of its interrupt test', () => {
  it('doubles it for a KASAN kernel, told by kasan_report in its BTF, and keeps the default otherwise', () => {
    const kernel = (fn: string) =>
      new Btf(
        new BtfBuilder()
          .add(BtfKind.Int, 'int', 0, 4, [(1 << 24) | 32])
          .add(BtfKind.FuncProto, '', 0, 1)
          .add(BtfKind.Func, fn, 1, 2)
          .build(),
      );
    assert.ok(threadSizeLines(kernel('kasan_report')).includes('#define TR_THREAD_SIZE 32768'));
    assert.deepEqual(threadSizeLines(kernel('kasan_reporter')), []);
    // The header's default is the x86_64 THREAD_SIZE without KASAN.
    assert.match(readFileSync(join(headersDir, 'tracer_core.h'), 'utf8'), /#define TR_THREAD_SIZE 16384\n/);
  });
});

describe('generated tracer options', () => {
  it('generates only the selected hooks and lists the rest as not selected', () => {
    const catalog = catalogFromFile(HOST_BTF);
    const gen = generateTracer(catalog, { hooks: ['file_open', 'bprm_check_security'] });
    assert.deepEqual(gen.hooks.map((h) => h.name), ['bprm_check_security', 'file_open']);
    assert.equal(gen.skipped.filter((s) => s.reason === 'not selected').length, catalog.hooks.length - 2 - catalog.hooks.filter((h) => h.disabled && ['file_open', 'bprm_check_security'].includes(h.name)).length);
    assert.match(gen.bpfSource, /SEC\("lsm\/file_open"\)/);
    assert.doesNotMatch(gen.bpfSource, /SEC\("lsm\/file_permission"\)/);
    // The header layout is asserted in the C itself, so a drift does not even compile.
    assert.match(gen.bpfSource, /_Static_assert\(__builtin_offsetof\(struct tr_hdr, comm\) == 32/);
    assert.ok(readFileSync(join(headersDir, 'tracer.h'), 'utf8').includes('struct tr_hdr'));
  });
});

describe('tracer object controls', function () {
  this.timeout(120_000);

  it('builds from a BTF path in one call and exposes the maps, knobs and counters the session uses', () => {
    const { generation, compiled } = buildTracer({ btfPath: HOST_BTF, headersDir, cacheDir, hooks: ['file_open'] });
    assert.deepEqual(generation.hooks.map((h) => h.program), ['tr_file_open']);
    const native = loadNative();
    const obj = native.BpfObject.openBuffer(compiled.object, 'tracer');
    const mapsOnly = native.BpfObject.openBuffer(compiled.mapsObject, 'tracer-maps');
    try {
      const maps = new Map(obj.maps().map((m) => [m.name, m]));
      assert.equal(maps.get(EVENTS_MAP)?.type, 'ringbuf');
      assert.equal(maps.get(RINGS_MAP)?.type, 'array_of_maps');
      assert.equal(maps.get(TRACED_MAP)?.valueSize, tracedValue(1).length);
      assert.equal(maps.get(COUNTERS_MAP)?.valueSize, 64 * 32);
      assert.equal(sumCounters(new Uint8Array(maps.get(COUNTERS_MAP)!.valueSize)).records, 0);
      // The filter's fast path: one flag byte per tgid below TR_TGID_FLAGS, keyed like tr_traced.
      assert.equal(maps.get(MAYBE_MAP)?.type, 'array');
      assert.equal(maps.get(MAYBE_MAP)?.keySize, tracedKey(1).length);
      assert.equal(maps.get(MAYBE_MAP)?.valueSize, 1);
      assert.equal(maps.get(MAYBE_MAP)?.maxEntries, TR_TGID_FLAGS);
      // The maps-only object declares the shared maps in the very shape of the tracer's (libbpf reuses a
      // pinned map only when type, sizes, entries and flags match) and has no program.
      assert.equal(mapsOnly.programs().length, 0);
      for (const name of [EVENTS_MAP, RINGS_MAP, TRACED_MAP, MAYBE_MAP, COUNTERS_MAP]) {
        const a = maps.get(name)!;
        const b = mapsOnly.maps().find((m) => m.name === name);
        assert.ok(b, `${name} is missing from the maps object`);
        for (const f of ['type', 'keySize', 'valueSize', 'maxEntries', 'flags'] as const) assert.equal(b[f], a[f], `${name}.${f}`);
      }
      const globals = objectGlobals(new Btf(obj.btf()), obj.maps());
      for (const knob of Object.values(KNOBS)) assert.equal(globals.find((g) => g.name === knob)?.size, 1, knob);
      // Knobs are set before load; the value must be what the C reads as a bool.
      obj.setGlobal(KNOBS.followForks, Buffer.from([0]));
      assert.deepEqual([...obj.getGlobal(KNOBS.followForks)], [0]);
    } finally {
      void obj.close();
      void mapsOnly.close();
    }
  });

  it('encodes traced-map keys and values and sums one slot\'s per-CPU counters', () => {
    assert.deepEqual([...tracedKey(0x01020304)], [4, 3, 2, 1]);
    assert.deepEqual(decodeTracedValue(tracedValue(1234, 5, 2)), { root: 1234, depth: 2, slot: 5 });
    assert.throws(() => tracedValue(1, 8), /out of range/);
    assert.ok(hasMaybeFlag(1) && hasMaybeFlag(TR_TGID_FLAGS - 1));
    assert.ok(!hasMaybeFlag(TR_TGID_FLAGS) && !hasMaybeFlag(-1) && !hasMaybeFlag(1.5));
    // The filter's flag is the slot + 1 (0: not traced), so that slot 0 is not the absent value.
    assert.deepEqual([...maybeFlag(0)], [1]);
    assert.deepEqual([...maybeFlag(7)], [8]);
    assert.deepEqual([...NO_FLAG], [0]);
    assert.throws(() => maybeFlag(8), /out of range/);
    assert.throws(() => maybeFlag(-1), /out of range/);
    const bytes = new Uint8Array(64 * 32);
    const dv = new DataView(bytes.buffer);
    dv.setUint32(0, 10, true);
    dv.setUint32(32 + 8, 3, true);
    dv.setUint32(63 * 32 + 24, 1, true);
    dv.setUint32(5 * 32 + 16 + 4, 1, true);
    assert.deepEqual(sumCounters(bytes), { records: 10, ringbufFull: 3, truncated: 2 ** 32, nested: 1 });
    assert.throws(() => sumCounters(new Uint8Array(32)), /expected 2048/);
  });
});
