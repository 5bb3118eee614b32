// The language server on the patterns of real BPF-LSM code (test/fixtures/field, written in the style
// of security agents, the kernel's selftests, an init system and tracers): valid programs get no error
// on the 6.1 and 6.18 BTF, with and without a known kernel version; each check of return values and of
// copy-pasted attach points has a true positive and a true negative.
import * as assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Diagnostic, DiagnosticSeverity } from 'vscode-languageserver-protocol/node';
import { elfSection } from '../../extension/shared/btf/elf';
import { cacheDir, debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';
import { LspClient, positionOf } from '../fixtures/lspClient';

const fixtures = join(__dirname, '..', '..', '..', 'test', 'fixtures', 'field');
const HEADER = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n#include <bpf/bpf_tracing.h>\n\n';

let n = 0;
const uri = (): string => `file:///workspace/field-${++n}.bpf.c`;
const msgOf = (d: Diagnostic): string => (typeof d.message === 'string' ? d.message : d.message.value);
const show = (ds: Diagnostic[]): string => ds.map((d) => `${d.severity}:${d.code}: ${msgOf(d)}`).join('\n') || 'none';

function only(ds: Diagnostic[], code: string): Diagnostic[] {
  return ds.filter((d) => d.code === code);
}

function one(ds: Diagnostic[], code: string): Diagnostic {
  const found = only(ds, code);
  assert.equal(found.length, 1, `expected one ${code}, got:\n${show(ds)}`);
  return found[0];
}

/** BTF without a version: the raw .BTF of the 6.1 image, and a copy of this host's (not at /sys, so no /proc/version). */
function rawBtf(): { raw61: string; raw618: string } {
  const dir = join(cacheDir(), 'raw-btf');
  mkdirSync(dir, { recursive: true });
  const raw61 = join(dir, 'btf-6.1.raw');
  writeFileSync(raw61, elfSection(readFileSync(debian61Vmlinux()), '.BTF')!);
  const raw618 = join(dir, 'btf-host.raw');
  copyFileSync(HOST_BTF, raw618);
  return { raw61, raw618 };
}

const kernels: Array<{ label: string; btf: () => string; versioned: boolean }> = [
  { label: '6.1 (Debian image, version from its banner)', btf: debian61Vmlinux, versioned: true },
  { label: '6.18 (this host)', btf: () => HOST_BTF, versioned: true },
  { label: '6.1 raw BTF, no version', btf: () => rawBtf().raw61, versioned: false },
  { label: '6.18 raw BTF, no version', btf: () => rawBtf().raw618, versioned: false },
];

describe('lsp field: valid programs of the field get no error', function () {
  this.timeout(120_000);
  for (const k of kernels) {
    describe(k.label, () => {
      let client: LspClient;
      before(async () => {
        client = await LspClient.start({ btfPath: k.btf() });
      });
      after(async () => client?.stop());

      for (const f of readdirSync(fixtures).filter((x) => x.endsWith('.bpf.c')).sort()) {
        it(`${f}: 0 errors${k.versioned ? ', 0 warnings' : ''}`, async () => {
          const u = uri();
          await client.open(u, readFileSync(join(fixtures, f), 'utf8'));
          const ds = await client.diagnosticsFor(u);
          assert.deepEqual(ds.filter((d) => d.severity === DiagnosticSeverity.Error).map(msgOf), [], show(ds));
          if (k.versioned) assert.deepEqual(ds.filter((d) => d.severity === DiagnosticSeverity.Warning).map(msgOf), [], show(ds));
        });
      }
    });
  }
});

describe('lsp field: the checks on the 6.18 BTF', function () {
  this.timeout(60_000);
  let client: LspClient;
  before(async () => {
    client = await LspClient.start({ btfPath: HOST_BTF });
  });
  after(async () => client?.stop());

  async function check(body: string): Promise<{ u: string; text: string; ds: Diagnostic[] }> {
    const u = uri();
    const text = HEADER + body;
    await client.open(u, text);
    return { u, text, ds: await client.diagnosticsFor(u) };
  }

  it('a macro-built SEC is checked at each use: a misspelt use is flagged there, with the expansion named', async () => {
    const macro = '#define PATH_HOOK(NAME) \\\n\tSEC("lsm/path_" #NAME) \\\n\tint BPF_PROG(p_##NAME, const struct path *dir) { return 0; }\n';
    const { text, ds } = await check(`${macro}PATH_HOOK(rmdir)\nPATH_HOOK(mkdr)\n`);
    const d = one(ds, 'unknown-hook');
    assert.match(msgOf(d), /"path_mkdr" \(from PATH_HOOK\(mkdr\)\).*Did you mean "path_mkdir"/);
    assert.deepEqual(d.range.start, positionOf(text, 'PATH_HOOK(mkdr)', 'PATH_HOOK('.length));
    assert.equal(ds.length, 1, show(ds));
  });

  it('a macro use that cannot be read as text stays silent (no "Unknown LSM hook path_")', async () => {
    const { ds } = await check('#define PATH_HOOK(NAME) SEC("lsm/path_" #NAME) int BPF_PROG(p_##NAME) { return 0; }\n#define TWICE(X) PATH_HOOK(X)\nTWICE(mkdir)\n');
    assert.deepEqual(ds, [], show(ds));
  });

  it('a BPF_PROG list longer than the hook\'s, or a wrong type in a prefix, is flagged', async () => {
    const { ds } = await check(
      'SEC("lsm/file_open")\nint BPF_PROG(a, struct file *file, int ret, int extra)\n{\n\treturn 0;\n}\n' +
        'SEC("lsm/socket_connect")\nint BPF_PROG(b, struct socket *sock, struct file *address)\n{\n\treturn 0;\n}\n',
    );
    assert.match(msgOf(one(ds, 'param-count')), /lists 3 argument\(s\).*passes 1/);
    assert.match(msgOf(one(ds, 'param-type')), /Argument 2 is "struct file \*address".*"struct sockaddr \*address"/);
  });

  it('a struct passed by value in BPF_PROG gets an error whose fix is BPF_PROG2', async () => {
    const { u, ds } = await check('SEC("lsm/path_chown")\nint BPF_PROG(c, const struct path *path, kuid_t uid)\n{\n\treturn 0;\n}\n');
    const d = one(ds, 'by-value');
    assert.equal(d.severity, DiagnosticSeverity.Error);
    assert.match(msgOf(d), /Use BPF_PROG2.*c, const struct path \*, path, kuid_t, uid, kgid_t, gid, int, ret/);
    const [fix] = await client.codeActions(u, [d]);
    assert.equal(fix.edit!.changes![u][0].newText, 'BPF_PROG2(c, const struct path *, path, kuid_t, uid, kgid_t, gid, int, ret');
  });

  it('bpf_d_path in lsm/ on a hook outside the sleepable set is an error; on file_open it is not', async () => {
    const { ds } = await check(
      'SEC("lsm/inode_permission")\nint BPF_PROG(d, struct inode *inode, int mask)\n{\n\tchar b[8];\n\tbpf_d_path(0, b, 8);\n\treturn 0;\n}\n' +
        'SEC("lsm/file_open")\nint BPF_PROG(e, struct file *file)\n{\n\tchar b[8];\n\tbpf_d_path(&file->f_path, b, 8);\n\treturn 0;\n}\n',
    );
    const d = one(ds, 'sleepable-helper');
    assert.match(msgOf(d), /bpf_d_path is only available on hooks of the kernel's sleepable set.*inode_permission is not sleepable/);
  });

  it('return-range: a literal outside [-MAX_ERRNO, 0] is an error on 6.18; 0, -errno and ret are not', async () => {
    const { ds } = await check(
      'SEC("lsm/file_open")\nint BPF_PROG(r1, struct file *file)\n{\n\tif (file)\n\t\treturn 1;\n\treturn -5000;\n}\n' +
        'SEC("lsm/file_open")\nint BPF_PROG(r2, struct file *file, int ret)\n{\n\tif (ret)\n\t\treturn ret;\n\tif (!file)\n\t\treturn -EPERM;\n\treturn (int)-4095;\n}\n',
    );
    const found = only(ds, 'return-range');
    assert.equal(found.length, 2, show(ds));
    for (const d of found) assert.equal(d.severity, DiagnosticSeverity.Error);
    assert.match(msgOf(found[0]), /Returns 1, but a program on file_open must return 0 or a negative errno in \[-4095, 0\]: the verifier of kernel 6\.18\.\d+ rejects/);
    assert.match(msgOf(found[1]), /Returns -5000/);
  });

  it('return-range on a yes/no hook: 0 or 1 only', async () => {
    const { ds } = await check(
      'SEC("lsm/inode_xattr_skipcap")\nint BPF_PROG(s1, const char *name)\n{\n\treturn -1;\n}\n' +
        'SEC("lsm/inode_xattr_skipcap")\nint BPF_PROG(s2, const char *name)\n{\n\treturn 1;\n}\n',
    );
    const d = one(ds, 'return-range');
    assert.match(msgOf(d), /Returns -1, but a program on inode_xattr_skipcap must return 0 or 1/);
  });

  it('return-ignored: a void hook\'s non-zero result is reported as information; 0 is not', async () => {
    const { ds } = await check(
      'SEC("lsm/task_free")\nint BPF_PROG(v1, struct task_struct *task)\n{\n\treturn -EPERM;\n}\n' + 'SEC("lsm/task_free")\nint BPF_PROG(v2, struct task_struct *task)\n{\n\treturn 0;\n}\n',
    );
    const d = one(ds, 'return-ignored');
    assert.equal(d.severity, DiagnosticSeverity.Information);
    assert.match(msgOf(d), /task_free returns void: the kernel ignores/);
  });

  it('return-arg: returning `ret` bound to a bool argument warns; the real verdict does not', async () => {
    const { ds } = await check(
      'SEC("lsm/bpf_prog_load")\nint BPF_PROG(l1, struct bpf_prog *prog, union bpf_attr *attr, struct bpf_token *token, bool ret)\n{\n\treturn ret;\n}\n' +
        'SEC("lsm/bpf_prog_load")\nint BPF_PROG(l2, struct bpf_prog *prog, union bpf_attr *attr, struct bpf_token *token, bool kernel, int ret)\n{\n\treturn ret;\n}\n',
    );
    const d = one(ds, 'return-arg');
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.match(msgOf(d), /"ret" is bound to argument 4 of bpf_prog_load \(bool kernel\)/);
  });

  it('wrong-sec: a program named after another hook with that hook\'s arguments gets a warning and a fix to its SEC', async () => {
    const { u, text, ds } = await check('SEC("lsm/file_open")\nint BPF_PROG(bprm_check_security, struct linux_binprm *bprm, int ret)\n{\n\treturn 0;\n}\n');
    const d = one(ds, 'wrong-sec');
    assert.equal(d.severity, DiagnosticSeverity.Warning);
    assert.match(msgOf(d), /declares the arguments of the hook bprm_check_security.*SEC attaches it to file_open/);
    assert.equal(ds.length, 1, `no parameter errors on top of it:\n${show(ds)}`);
    const [fix] = await client.codeActions(u, [d]);
    const e = fix.edit!.changes![u][0];
    assert.equal(e.newText, 'lsm/bprm_check_security');
    assert.deepEqual(e.range.start, positionOf(text, 'lsm/file_open'));
  });

  it('wrong-sec true negatives: a program name that is no hook, or the SEC\'s own hook, is silent', async () => {
    const { ds } = await check(
      'SEC("lsm/file_open")\nint BPF_PROG(restrict_open, struct file *file, int ret)\n{\n\treturn 0;\n}\n' +
        'SEC("lsm/file_open")\nint BPF_PROG(file_open, struct file *file, int ret)\n{\n\treturn 0;\n}\n' +
        // Named after a hook whose arguments it does not declare: just a name.
        'SEC("lsm/file_open")\nint BPF_PROG(task_free, struct file *file)\n{\n\treturn 0;\n}\n',
    );
    assert.deepEqual(ds, [], show(ds));
  });

  it('after a burst of edits, only the last version\'s diagnostics are published, and they match its text', async () => {
    const u = uri();
    const good = `${HEADER}SEC("lsm/file_open")\nint BPF_PROG(a, struct file *file)\n{\n\treturn 0;\n}\n`;
    await client.open(u, good);
    await client.diagnosticsFor(u);
    const before = client.published.length;
    for (let i = 0; i < 30; i++) await client.change(u, good.replace('file_open', i === 29 ? 'file_opne' : 'file_open'));
    const ds = await client.diagnosticsFor(u);
    assert.match(msgOf(one(ds, 'unknown-hook')), /"file_opne"/);
    const published = client.published.slice(before).filter((p) => p.uri === u).map((p) => p.version);
    assert.deepEqual(published, [31], 'one check, for the last of 30 quick edits (debounced)');
  });

  it('a resolved hook completion carries the hook reference (what hover shows) as its documentation', async () => {
    const u = uri();
    const text = `${HEADER}SEC("lsm/file_open")\nint BPF_PROG(a, struct file *file)\n{\n\treturn 0;\n}\nSEC("lsm/file_o")\n`;
    await client.open(u, text);
    const pos = positionOf(text, 'SEC("lsm/file_o")', 15);
    const item = (await client.complete(u, pos.line, pos.character)).items.find((i) => i.label === 'file_open')!;
    assert.equal(item.documentation, undefined, 'lists stay light: documentation comes with resolve');
    const resolved = (await client.connection.sendRequest('completionItem/resolve', item)) as typeof item;
    const hp = positionOf(text, 'lsm/file_open', 6);
    const hover = ((await client.hover(u, hp.line, hp.character))!.contents as { value: string }).value;
    assert.deepEqual(resolved.documentation, { kind: 'markdown', value: hover });
  });

  it('caps message length: a pasted 5,000-character hook name gives a short message', async () => {
    const { ds } = await check(`SEC("lsm/${'x'.repeat(5000)}")\nint BPF_PROG(big)\n{\n\treturn 0;\n}\n`);
    const d = one(ds, 'unknown-hook');
    assert.ok(msgOf(d).length <= 600, `message of ${msgOf(d).length} characters`);
  });

  it('offers no completion inside comments or strings other than a SEC name', async () => {
    const u = uri();
    const text = `${HEADER}// SEC("lsm/\n/* BPF_PROG(\n */\nconst char *s = "BPF_PROG(";\nSEC("lsm/\n`;
    await client.open(u, text);
    for (const [needle, delta] of [['// SEC("lsm/', 12], ['/* BPF_PROG(', 12], ['"BPF_PROG(', 10]] as const) {
      const pos = positionOf(text, needle, delta);
      const list = await client.complete(u, pos.line, pos.character);
      assert.equal(list.items.length, 0, `completion at ${needle}: ${list.items.slice(0, 3).map((i) => i.label).join(', ')}`);
    }
    const pos = positionOf(text, '\nSEC("lsm/', 10);
    assert.ok((await client.complete(u, pos.line, pos.character)).items.length > 200, 'the SEC name still completes');
  });
});

describe('lsp field: version-dependent facts without a kernel version', function () {
  this.timeout(60_000);
  let client: LspClient;
  before(async () => {
    client = await LspClient.start({ btfPath: rawBtf().raw61 });
  });
  after(async () => client?.stop());

  it('on raw 6.1 BTF: what the BTF proves is an error, what depends on the version a warning that says from when', async () => {
    const u = uri();
    await client.open(
      u,
      HEADER +
        'SEC("lsm/vm_enough_memory")\nint BPF_PROG(a, struct mm_struct *mm, long pages)\n{\n\treturn 0;\n}\n' +
        'SEC("lsm/xfrm_decode_session")\nint BPF_PROG(b)\n{\n\treturn 0;\n}\n' +
        'SEC("lsm.s/path_mkdir")\nint BPF_PROG(c)\n{\n\treturn 0;\n}\n' +
        'SEC("lsm/file_open")\nint BPF_PROG(d)\n{\n\treturn 1;\n}\n',
    );
    const ds = await client.diagnosticsFor(u);
    const disabled = only(ds, 'disabled-hook');
    assert.equal(disabled.length, 2, show(ds));
    assert.equal(disabled[0].severity, DiagnosticSeverity.Error, 'disabled since 6.1, and the BTF proves 6.1 (userns_create)');
    assert.equal(disabled[1].severity, DiagnosticSeverity.Warning);
    assert.match(msgOf(disabled[1]), /refuse BPF programs on "xfrm_decode_session" from 6\.10 on/);
    const sleep = one(ds, 'not-sleepable');
    assert.equal(sleep.severity, DiagnosticSeverity.Warning);
    assert.match(msgOf(sleep), /sleepable programs only from 6\.12 on/);
    const ret = one(ds, 'return-range');
    assert.equal(ret.severity, DiagnosticSeverity.Warning);
    assert.match(msgOf(ret), /this kernel \(its BTF has no return range check\) loads it, but verifiers refuse it from 6\.12 on/);
  });
});
