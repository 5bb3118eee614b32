// The BTF reader and C spelling on hand-built BTF (every declarator shape), on clang's BTF inside an
// ELF object, and on malformed input (errors must say what is wrong).
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, BtfError, BtfKind } from '../../extension/shared/btf/btf';
import { cDecl, cType, cTypeExpanded } from '../../extension/shared/btf/cdecl';
import { elfSections, ElfError } from '../../extension/shared/btf/elf';
import { BtfBuilder } from '../fixtures/btfBuilder';

const INT_SIGNED = 1 << 24;

function sample(): Btf {
  const b = new BtfBuilder()
    .add(BtfKind.Int, 'int', 0, 4, [INT_SIGNED | 32]) // 1
    .add(BtfKind.Int, 'long unsigned int', 0, 8, [64]) // 2
    .add(BtfKind.Struct, 'file', 0, 0) // 3
    .add(BtfKind.Ptr, '', 0, 3) // 4  struct file *
    .add(BtfKind.Const, '', 0, 3) // 5  const struct file
    .add(BtfKind.Ptr, '', 0, 5) // 6  const struct file *
    .add(BtfKind.Int, 'char', 0, 1, [8]) // 7
    .add(BtfKind.Ptr, '', 0, 7) // 8  char *
    .add(BtfKind.Const, '', 0, 8) // 9  char *const
    .add(BtfKind.Array, '', 0, 0, [8, 1, 4]) // 10 char *[4]
    .add(BtfKind.FuncProto, '', 1, 1, ['', 8]) // 11 int (char *)
    .add(BtfKind.Ptr, '', 0, 11) // 12 int (*)(char *)
    .add(BtfKind.Typedef, 'umode_t', 0, 14) // 13
    .add(BtfKind.Int, 'short unsigned int', 0, 2, [16]) // 14
    .add(BtfKind.Fwd, 'u', 0, 0, [], true) // 15 union u (forward)
    .add(BtfKind.FuncProto, '', 2, 1, ['a', 1, '', 0]) // 16 int (int a, ...)
    .add(BtfKind.Func, 'bpf_lsm_x', 1, 16) // 17
    .add(BtfKind.Ptr, '', 0, 10) // 18 char *(*)[4]
    .add(BtfKind.Struct, 'pair', 2, 16, ['first', 1, 0, 'second', 2, 64]) // 19
    .add(BtfKind.FuncProto, '', 0, 0) // 20 void (void)
    .add(BtfKind.TypeTag, 'user', 0, 7) // 21 char __user
    .add(BtfKind.Ptr, '', 0, 21) // 22 char __user *
    .add(BtfKind.Func, 'bpf_lsm_y', 1, 20); // 23
  return Btf.fromBuffer(b.build());
}

describe('btf: reader', () => {
  const btf = sample();

  it('indexes every type, with kinds, names and references', () => {
    assert.equal(btf.typeCount, 24);
    assert.equal(btf.kind(0), BtfKind.Unknown);
    assert.equal(btf.kind(19), BtfKind.Struct);
    assert.equal(btf.name(19), 'pair');
    assert.deepEqual(btf.members(19), [
      { name: 'first', type: 1, bitOffset: 0 },
      { name: 'second', type: 2, bitOffset: 64 },
    ]);
    assert.deepEqual(btf.arrayInfo(10), { type: 8, indexType: 1, count: 4 });
    assert.equal(btf.intInfo(1).signed, true);
    assert.equal(btf.resolve(13), 14);
  });

  it('finds functions by prefix and types by kind and name', () => {
    assert.deepEqual(btf.funcsWithPrefix('bpf_lsm_'), [17, 23]);
    assert.deepEqual(btf.funcsWithPrefix('bpf_lsm_y'), [23]);
    assert.equal(btf.find(BtfKind.Struct, 'pair'), 19);
    assert.equal(btf.find(BtfKind.Struct, 'pai'), undefined);
    assert.equal(btf.find(BtfKind.Func, 'bpf_lsm_x'), 17);
  });

  it('reads big-endian BTF the same way', () => {
    const b = new BtfBuilder()
      .add(BtfKind.Int, 'int', 0, 4, [INT_SIGNED | 32])
      .add(BtfKind.Struct, 'file', 0, 0)
      .add(BtfKind.Ptr, '', 0, 2)
      .add(BtfKind.FuncProto, '', 1, 1, ['file', 3])
      .add(BtfKind.Func, 'bpf_lsm_file_open', 0, 4);
    for (const be of [false, true]) {
      const t = Btf.fromBuffer(b.build(be));
      assert.deepEqual(t.funcsWithPrefix('bpf_lsm_'), [5]);
      assert.equal(cDecl(t, 5), 'int bpf_lsm_file_open(struct file *file)');
    }
  });

  it('reports bad input with what is wrong', () => {
    const good = new BtfBuilder().add(BtfKind.Int, 'int', 0, 4, [32]).build();
    const badMagic = Buffer.from(good);
    badMagic.writeUInt16LE(0x1234, 0);
    assert.throws(() => Btf.fromBuffer(badMagic, 'x.btf'), (e: Error) => e instanceof BtfError && /x\.btf is not BTF: bad magic 0x1234/.test(e.message));
    assert.throws(() => Btf.fromBuffer(good.subarray(0, good.length - 4), 'cut.btf'), /cut\.btf is truncated/);
    assert.throws(() => Btf.fromBuffer(Buffer.alloc(8)), /too short to be BTF/);
    const unknownKind = new BtfBuilder().add(31 as BtfKind, 'x', 0, 0).build();
    assert.throws(() => Btf.fromBuffer(unknownKind), /unknown BTF kind 31; this BTF is newer than this reader/);
    assert.throws(() => btf.kind(99), /out of range/);
  });
});

describe('btf: C spelling', () => {
  const btf = sample();

  it('spells pointers, qualifiers and integer names as C programmers write them', () => {
    assert.equal(cDecl(btf, 4, 'f'), 'struct file *f');
    assert.equal(cType(btf, 6), 'const struct file *');
    assert.equal(cDecl(btf, 9, 'p'), 'char *const p');
    assert.equal(cType(btf, 9), 'char *const');
    assert.equal(cType(btf, 2), 'unsigned long');
    assert.equal(cType(btf, 0), 'void');
    assert.equal(cType(btf, 15), 'union u');
  });

  it('nests array and function declarators with the parentheses C needs', () => {
    assert.equal(cDecl(btf, 10, 'argv'), 'char *argv[4]');
    assert.equal(cDecl(btf, 12, 'cb'), 'int (*cb)(char *)');
    assert.equal(cType(btf, 12), 'int (*)(char *)');
    assert.equal(cDecl(btf, 18, 'pa'), 'char *(*pa)[4]');
    assert.equal(cDecl(btf, 17), 'int bpf_lsm_x(int a, ...)');
    assert.equal(cDecl(btf, 23), 'void bpf_lsm_y(void)');
  });

  it('keeps typedef names, and expands them on request', () => {
    assert.equal(cDecl(btf, 13, 'mode'), 'umode_t mode');
    assert.equal(cTypeExpanded(btf, 13), 'unsigned short');
  });

  it('drops type tags (__user) from the spelling', () => {
    assert.equal(cDecl(btf, 22, 'buf'), 'char *buf');
  });
});

describe('btf: ELF objects', function () {
  this.timeout(60_000);

  it("reads clang's BTF from a BPF object's .BTF section", () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-btf-'));
    try {
      writeFileSync(join(dir, 'p.c'), 'struct event { unsigned long ino; const char *name; int (*cb)(int); };\nstruct event e;\nint probe(struct event *ev) { return ev->cb(1); }\n');
      execFileSync('clang', ['-target', 'bpf', '-g', '-O2', '-c', join(dir, 'p.c'), '-o', join(dir, 'p.o')]);
      const btf = Btf.fromFile(join(dir, 'p.o'));
      const ev = btf.find(BtfKind.Struct, 'event')!;
      assert.deepEqual(
        btf.members(ev).map((m) => cDecl(btf, m.type, m.name)),
        ['unsigned long ino', 'const char *name', 'int (*cb)(int)'],
      );
      assert.equal(cDecl(btf, btf.find(BtfKind.Func, 'probe')!), 'int probe(struct event *ev)');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('says so when the file is an ELF without BTF, or no ELF at all', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-btf-'));
    try {
      writeFileSync(join(dir, 'p.c'), 'int x;\n');
      execFileSync('clang', ['-target', 'bpf', '-c', join(dir, 'p.c'), '-o', join(dir, 'nobtf.o')]);
      assert.throws(() => Btf.fromFile(join(dir, 'nobtf.o')), /ELF file without a \.BTF section/);
      assert.throws(() => elfSections(Buffer.from('not an elf at all')), (e: Error) => e instanceof ElfError);
      assert.throws(() => Btf.fromFile(join(dir, 'missing')), /cannot read BTF from .*missing: ENOENT/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
