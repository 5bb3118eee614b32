// The hook catalog against independent views of the same kernels, for every hook:
//   - bpftool's raw BTF dump (hook set, parameter names, parameter and return type ids);
//   - clang over bpftool's `format c` header (our C spellings must be the kernel's function types);
//   - for the 6.1 kernel, the image's own .BTF_ids sets (sleepable and disabled hooks).
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Btf, BtfKind } from '../../extension/shared/btf/btf';
import { elfSection } from '../../extension/shared/btf/elf';
import { catalogFromBuffer, catalogFromFile, HookCatalog, hookSignature, KNOWN_PLUMBING } from '../../extension/shared/hooks/catalog';
import { hookCategory } from '../../extension/shared/hooks/categories';
import { kernelVersionFromBanner, kv } from '../../extension/shared/hooks/kernelVersion';
import { DISABLED_RULES, ruleFor, SLEEPABLE_RULES, VersionRule } from '../../extension/shared/hooks/rules';
import { BtfBuilder } from '../fixtures/btfBuilder';
import { debian612Vmlinux, debian61Vmlinux, HOST_BTF } from '../fixtures/kernels';

interface RawType {
  kind: string;
  name: string;
  attrs: string;
  members: Array<{ name: string; type: number }>;
}

/** bpftool's raw dump, as a map from type id. */
function bpftoolDump(path: string): Map<number, RawType> {
  let out: string;
  try {
    out = execFileSync('bpftool', ['btf', 'dump', 'file', path], { encoding: 'utf8', maxBuffer: 1 << 30 });
  } catch (err) {
    throw new Error(`bpftool btf dump failed (install the Debian package bpftool): ${(err as Error).message}`);
  }
  const types = new Map<number, RawType>();
  let cur: RawType | undefined;
  for (const line of out.split('\n')) {
    const head = /^\[(\d+)\] (\S+) '([^']*)'(.*)$/.exec(line);
    if (head) {
      cur = { kind: head[2], name: head[3], attrs: head[4], members: [] };
      types.set(Number(head[1]), cur);
      continue;
    }
    const member = /^\s+'([^']*)' type_id=(\d+)/.exec(line);
    if (member && cur) cur.members.push({ name: member[1] === '(anon)' ? '' : member[1], type: Number(member[2]) });
  }
  return types;
}

function attr(t: RawType, key: string): number {
  const m = new RegExp(`\\b${key}=(\\d+)`).exec(t.attrs);
  if (!m) throw new Error(`bpftool line has no ${key}: ${t.attrs}`);
  return Number(m[1]);
}

/** The hooks as bpftool sees them, by the catalog's rule (bpf_lsm_X with X in union security_list_options). */
function oracleHooks(types: Map<number, RawType>): Map<string, { ret: number; params: Array<{ name: string; type: number }>; funcId: number }> {
  const union = [...types.values()].find((t) => t.kind === 'UNION' && t.name === 'security_list_options');
  assert.ok(union, 'bpftool shows no union security_list_options');
  const members = new Set(union.members.map((m) => m.name));
  const hooks = new Map<string, { ret: number; params: Array<{ name: string; type: number }>; funcId: number }>();
  for (const [id, t] of types) {
    if (t.kind !== 'FUNC' || !t.name.startsWith('bpf_lsm_')) continue;
    const name = t.name.slice('bpf_lsm_'.length);
    if (!members.has(name)) continue;
    const proto = types.get(attr(t, 'type_id'))!;
    hooks.set(name, { ret: attr(proto, 'ret_type_id'), params: proto.members, funcId: id });
  }
  return hooks;
}

function compareWithBpftool(catalog: HookCatalog, path: string): void {
  const oracle = oracleHooks(bpftoolDump(path));
  assert.deepEqual(catalog.hooks.map((h) => h.name), [...oracle.keys()].sort());
  for (const h of catalog.hooks) {
    const o = oracle.get(h.name)!;
    assert.equal(h.btfId, o.funcId, `${h.name}: FUNC id`);
    assert.equal(h.returnRule === 'void', o.ret === 0, `${h.name}: void return`);
    assert.deepEqual(h.params.map((p) => p.name), o.params.map((p) => p.name), `${h.name}: parameter names`);
    assert.deepEqual(h.params.map((p) => p.typeId), o.params.map((p) => p.type), `${h.name}: parameter type ids`);
  }
}

/**
 * clang checks our spelling of every hook against the kernel's own function-pointer type in
 * `union security_list_options`, as bpftool prints it in vmlinux.h.
 */
function compileCheckSpellings(catalog: HookCatalog, path: string): void {
  const dir = mkdtempSync(join(tmpdir(), 'bpf-lsm-spell-'));
  try {
    writeFileSync(join(dir, 'vmlinux.h'), execFileSync('bpftool', ['btf', 'dump', 'file', path, 'format', 'c'], { maxBuffer: 1 << 30 }));
    const lines = ['#include "vmlinux.h"'];
    for (const h of catalog.hooks) {
      const params = h.params.length ? h.params.map((p) => p.decl).join(', ') : 'void';
      lines.push(`_Static_assert(__builtin_types_compatible_p(__typeof__(((union security_list_options *)0)->${h.name}), ${h.returns} (*)(${params})), "${h.name}");`);
    }
    writeFileSync(join(dir, 'check.c'), `${lines.join('\n')}\n`);
    const cc = spawnSync('clang', ['-target', 'bpf', '-fsyntax-only', '-ferror-limit=0', '-Wno-everything', join(dir, 'check.c')], { encoding: 'utf8' });
    if (cc.error) throw new Error(`cannot run clang (install clang): ${cc.error.message}`);
    assert.equal(cc.status, 0, `clang rejected our spellings:\n${cc.stderr.split('\n').slice(0, 30).join('\n')}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The kernel's own BTF id sets, found in the image's .BTF_ids section: a set is a count followed by
 * that many ids, recognised here by members it must have. The catalog's version-keyed tables must
 * reproduce them exactly.
 */
function compareWithBtfIds(catalog: HookCatalog, path: string, withBoolSet: boolean): void {
  const ids = elfSection(readFileSync(path), '.BTF_ids');
  assert.ok(ids, 'the image has a .BTF_ids section');
  const words = new Uint32Array(ids.buffer.slice(ids.byteOffset, ids.byteOffset + (ids.byteLength & ~3)));
  const byId = new Map(catalog.hooks.map((h) => [h.btfId, h.name]));
  const sets: string[][] = [];
  for (let i = 0; i < words.length; i++) {
    const n = words[i];
    if (n === 0 || n > 400 || i + n >= words.length) continue;
    const names = Array.from(words.subarray(i + 1, i + 1 + n), (id) => byId.get(id));
    if (names.every((x) => x !== undefined)) sets.push(names as string[]);
  }
  const disabled = sets.find((s) => s.includes('vm_enough_memory') && s.length < 20);
  const sleepable = sets.find((s) => s.includes('bprm_check_security') && s.includes('file_open') && s.length < catalog.hooks.length);
  assert.ok(disabled && sleepable, 'found the disabled and sleepable sets in .BTF_ids');
  assert.deepEqual(catalog.hooks.filter((h) => h.disabled).map((h) => h.name), [...disabled].sort());
  assert.deepEqual(catalog.hooks.filter((h) => h.sleepable).map((h) => h.name), [...sleepable].sort());
  if (withBoolSet) {
    const bool = sets.find((s) => s.includes('inode_xattr_skipcap') && s.length < 10);
    assert.ok(bool, 'found the bool_lsm_hooks set');
    assert.deepEqual(catalog.hooks.filter((h) => h.returnRule === 'bool').map((h) => h.name), [...bool].sort());
  }
}

describe('catalog: host kernel BTF (6.18) vs bpftool', function () {
  this.timeout(120_000);
  let catalog: HookCatalog;
  before(() => {
    catalog = catalogFromFile(HOST_BTF);
  });

  it('has 271 hooks, 217 int and 54 void, found by the security_list_options rule', () => {
    assert.equal(catalog.hookRule, 'security_list_options');
    assert.equal(catalog.hooks.length, 271);
    assert.equal(catalog.hooks.filter((h) => h.returns === 'int').length, 217);
    assert.equal(catalog.hooks.filter((h) => h.returns === 'void').length, 54);
  });

  it('excludes the BPF-LSM plumbing functions that are not hooks', () => {
    const btf = Btf.fromFile(HOST_BTF);
    const all = btf.funcsWithPrefix('bpf_lsm_').map((id) => btf.name(id).slice(8));
    const excluded = all.filter((n) => !catalog.has(n)).sort();
    assert.deepEqual(excluded, ['find_cgroup_shim', 'func_proto', 'get_retval_range', 'has_d_inode_locked', 'hook_returns_errno', 'init', 'is_sleepable_hook', 'is_trusted', 'verify_prog']);
    // The fallback list (for BTF without the union) agrees with the rule on this kernel.
    for (const n of excluded) assert.ok(KNOWN_PLUMBING.has(n), n);
  });

  it('matches bpftool for every hook: names, parameter names and type ids', () => compareWithBpftool(catalog, HOST_BTF));

  it('spells every signature as the kernel declares it (clang over bpftool format c)', () => compileCheckSpellings(catalog, HOST_BTF));

  it('spells common types the way C programmers write them', () => {
    assert.equal(hookSignature(catalog.get('file_open')!), 'int file_open(struct file *file)');
    assert.equal(hookSignature(catalog.get('bprm_check_security')!), 'int bprm_check_security(struct linux_binprm *bprm)');
    assert.equal(catalog.get('capable')!.params[0].type, 'const struct cred *');
    assert.equal(catalog.get('task_prctl')!.params[1].type, 'unsigned long');
    assert.equal(catalog.get('task_free')!.returns, 'void');
  });

  it('knows the kernel version from /proc/version and applies its rules', () => {
    const v = kernelVersionFromBanner(readFileSync('/proc/version', 'utf8'))!;
    assert.equal(catalog.kernel.version?.major, v.major);
    assert.equal(catalog.kernel.version?.minor, v.minor);
    assert.ok(catalog.get('file_open')!.sleepable);
    assert.ok(!catalog.get('task_free')!.sleepable);
    assert.ok(catalog.get('vm_enough_memory')!.disabled);
    assert.ok(catalog.get('getselfattr')!.disabled, 'getselfattr is disabled from 6.8');
    assert.ok(!catalog.get('file_open')!.disabled);
    assert.equal(catalog.get('inode_xattr_skipcap')!.returnRule, 'bool');
  });

  it('reads the same catalog from a Buffer as from the path', () => {
    const fromBuffer = catalogFromBuffer(readFileSync(HOST_BTF), { kernel: readFileSync('/proc/version', 'utf8') });
    assert.deepEqual(fromBuffer.toJson(), catalog.toJson());
  });

  it('puts every hook in a category', () => {
    const misc = catalog.hooks.filter((h) => h.category === 'misc').map((h) => h.name);
    assert.ok(misc.length < 15, `too many uncategorised hooks: ${misc.join(' ')}`);
    assert.equal(hookCategory('msg_queue_msgsnd'), 'msg');
    assert.equal(hookCategory('sk_alloc_security'), 'sk');
    assert.equal(hookCategory('socket_connect'), 'socket');
    assert.equal(hookCategory('bpf_prog_load'), 'bpf');
  });
});

describe('catalog: Debian 6.1 kernel (VM target) vs bpftool and its .BTF_ids', function () {
  this.timeout(300_000);
  let path: string;
  let catalog: HookCatalog;
  before(() => {
    path = debian61Vmlinux();
    catalog = catalogFromFile(path);
  });

  it('reads BTF out of the ELF image and the version from its banner', () => {
    assert.equal(catalog.kernel.versionSource, 'banner');
    assert.equal(catalog.kernel.version?.major, 6);
    assert.equal(catalog.kernel.version?.minor, 1);
    assert.ok((catalog.kernel.version?.patch ?? 0) > 0, `stable level from "Debian 6.1.x" in the banner: ${catalog.kernel.description}`);
  });

  it('has about 244 bpf_lsm functions and all but the plumbing are hooks', () => {
    const btf = Btf.fromFile(path);
    const all = btf.funcsWithPrefix('bpf_lsm_');
    assert.ok(all.length >= 235 && all.length <= 255, `bpf_lsm_* functions: ${all.length}`);
    assert.equal(all.length - catalog.hooks.length, 5);
  });

  it('matches bpftool for every hook: names, parameter names and type ids', () => compareWithBpftool(catalog, path));

  it('spells every signature as the kernel declares it (clang over bpftool format c)', () => compileCheckSpellings(catalog, path));

  it('has the 6.1 types where they differ from 6.18', () => {
    // 6.3 replaced struct user_namespace *mnt_userns with struct mnt_idmap *idmap.
    assert.equal(catalog.get('inode_getsecurity')!.params[0].decl, 'struct user_namespace *mnt_userns');
    assert.ok(catalog.has('bpf_map_alloc_security'));
    assert.ok(!catalog.has('bpf_map_create'));
  });

  it('sleepable and disabled flags equal the sets compiled into the image (.BTF_ids)', () => compareWithBtfIds(catalog, path, false));

  it('parses a section-less raw copy of the same BTF identically, given the version', () => {
    const raw = elfSection(readFileSync(path), '.BTF')!;
    const fromRaw = catalogFromBuffer(raw, { kernel: catalog.kernel.description });
    assert.deepEqual(fromRaw.toJson(), catalog.toJson());
    assert.equal(Btf.fromBuffer(raw).kind(catalog.get('file_open')!.btfId), BtfKind.Func);
  });
});

describe('catalog: Debian 6.12 kernel vs bpftool and its .BTF_ids', function () {
  this.timeout(300_000);
  let path: string;
  let catalog: HookCatalog;
  before(() => {
    path = debian612Vmlinux();
    catalog = catalogFromFile(path);
  });

  it('reads the zstd-packed image and its version', () => {
    assert.equal(catalog.kernel.version?.major, 6);
    assert.equal(catalog.kernel.version?.minor, 12);
  });

  it('matches bpftool for every hook: names, parameter names and type ids', () => compareWithBpftool(catalog, path));

  it('sleepable, disabled and bool flags equal the sets compiled into the image (.BTF_ids)', () => compareWithBtfIds(catalog, path, true));
});

describe('catalog: version rules', () => {
  it('reads the upstream version from distribution banners', () => {
    const debian =
      'Linux version 6.1.0-56-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-2 (2026-11-16)';
    assert.deepEqual(kernelVersionFromBanner(debian), { major: 6, minor: 1, patch: 192 });
    const ubuntu = 'Linux version 6.8.0-45-generic (buildd@lcy02-amd64-115) (x86_64-linux-gnu-gcc-13 (Ubuntu 13.2.0-23ubuntu4) 13.2.0) #45-Ubuntu SMP PREEMPT_DYNAMIC (Ubuntu 6.8.0-45.45-generic 6.8.12)';
    assert.deepEqual(kernelVersionFromBanner(ubuntu), { major: 6, minor: 8, patch: 12 });
    assert.deepEqual(kernelVersionFromBanner('Linux version 6.18.44-fc-v769 (builder@x) #1 SMP'), { major: 6, minor: 18, patch: 44 });
  });

  it('applies since, until, stable backports and stable removals', () => {
    const at = (v: string, table: readonly VersionRule[], hook: string): boolean => ruleFor(table, hook, kv(v)) !== undefined;
    assert.ok(!at('6.0', DISABLED_RULES, 'vm_enough_memory'));
    assert.ok(at('6.1', DISABLED_RULES, 'vm_enough_memory'));
    assert.ok(!at('6.1.100', DISABLED_RULES, 'xfrm_decode_session'), 'before the 6.1.y backport');
    assert.ok(at('6.1.192', DISABLED_RULES, 'xfrm_decode_session'), 'with the 6.1.y backport');
    assert.ok(!at('6.6', DISABLED_RULES, 'xfrm_decode_session'), 'a series without the backport waits for mainline');
    assert.ok(at('6.18', DISABLED_RULES, 'xfrm_decode_session'));
    assert.ok(at('6.0', SLEEPABLE_RULES, 'task_to_inode'));
    assert.ok(at('6.1.10', SLEEPABLE_RULES, 'task_to_inode'));
    assert.ok(!at('6.1.192', SLEEPABLE_RULES, 'task_to_inode'), 'removed in 6.1.y');
    assert.ok(!at('6.18', SLEEPABLE_RULES, 'task_to_inode'));
    assert.ok(!at('6.11', SLEEPABLE_RULES, 'path_unlink'));
    assert.ok(at('6.12', SLEEPABLE_RULES, 'path_unlink'));
  });

  it('assumes the newest rules when the version is unknown, and says so', () => {
    assert.ok(ruleFor(DISABLED_RULES, 'getselfattr', undefined));
    assert.equal(ruleFor(SLEEPABLE_RULES, 'task_to_inode', undefined), undefined);
    const raw = elfSection(readFileSync(debian61Vmlinux()), '.BTF')!;
    const unknown = catalogFromBuffer(raw);
    assert.equal(unknown.kernel.versionSource, 'unknown');
    assert.equal(unknown.kernelLabel, 'unknown kernel');
  });

  it('names the source of every sleepable and disabled fact', () => {
    for (const r of [...SLEEPABLE_RULES, ...DISABLED_RULES]) assert.ok(r.source.length > 10, r.hook);
  });
});

describe('catalog: bpf-lsm hooks CLI', function () {
  this.timeout(60_000);
  const cli = join(__dirname, '..', '..', '..', 'dist', 'cli.js');

  it('prints the catalog as JSON with the documented shape', () => {
    const out = execFileSync(process.execPath, [cli, 'hooks', '--json', '--kernel-source', join(__dirname, '..', '..', '..', 'test', 'fixtures', 'kernel-src-6.4')], { encoding: 'utf8' });
    const hooks = JSON.parse(out) as Array<Record<string, unknown>>;
    assert.equal(hooks.length, 271);
    for (const h of hooks) {
      const keys = Object.keys(h).filter((k) => k !== 'doc');
      assert.deepEqual(keys, ['name', 'returns', 'params', 'sleepable', 'disabled', 'category']);
    }
    const fileOpen = hooks.find((h) => h.name === 'file_open')!;
    assert.deepEqual(fileOpen.params, [{ name: 'file', type: 'struct file *' }]);
    assert.equal(fileOpen.sleepable, true);
    assert.match(String(fileOpen.doc), /Fixture summary of the open check/);
  });

  it('reads --btf from a kernel image and prints a table', () => {
    const out = execFileSync(process.execPath, [cli, 'hooks', '--btf', debian61Vmlinux(), '--no-docs'], { encoding: 'utf8' });
    assert.match(out, /^# 239 LSM hooks \(196 int, 43 void\) on 6\.1\.192/);
    assert.match(out, /\nsD inode +int inode_need_killpriv\(struct dentry \*dentry\)\n/);
  });

  // Over 64 KiB (a pipe's buffer on Linux): what did not fit was lost when the CLI exited before a slow reader
  // came back for it (bpf-lsm trace ... | less).
  it('gets all of a long output to a reader that comes late, and stops quietly when the reader goes', () => {
    const command = `'${process.execPath}' '${cli}' hooks --json --no-docs`;
    const whole = execFileSync('bash', ['-c', command], { encoding: 'utf8', maxBuffer: 1 << 24 });
    assert.ok(whole.length > 65536, `${whole.length} bytes`);
    // The pipe holds 64 KiB until its reader wakes up; the CLI is done writing long before.
    assert.equal(execFileSync('bash', ['-c', `${command} | (sleep 2; cat)`], { encoding: 'utf8', maxBuffer: 1 << 24 }), whole);
    const gone = spawnSync('bash', ['-c', `${command} | head -c 100 >/dev/null; echo "status \${PIPESTATUS[0]}" >&2`], { encoding: 'utf8' });
    assert.match(gone.stderr, /status 141\n$/);
    assert.doesNotMatch(gone.stderr, /EPIPE|Unhandled/);
  });

  it('fails with the reason and a remedy when the BTF cannot be read', () => {
    const r = spawnSync(process.execPath, [cli, 'hooks', '--btf', '/nonexistent/btf'], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot read BTF from \/nonexistent\/btf: ENOENT.*--btf/);
  });
});

describe('catalog: BTF without union security_list_options', () => {
  it('falls back to excluding the known BPF-LSM plumbing functions, and says which rule it used', () => {
    const b = new BtfBuilder()
      .add(BtfKind.Int, 'int', 0, 4, [(1 << 24) | 32]) // 1
      .add(BtfKind.Struct, 'file', 0, 0) // 2
      .add(BtfKind.Ptr, '', 0, 2) // 3
      .add(BtfKind.FuncProto, '', 1, 1, ['file', 3]) // 4 int (struct file *file)
      .add(BtfKind.Func, 'bpf_lsm_file_open', 0, 4) // 5
      .add(BtfKind.FuncProto, '', 0, 1) // 6 int (void)
      .add(BtfKind.Func, 'bpf_lsm_verify_prog', 0, 6) // 7
      .add(BtfKind.Func, 'bpf_lsm_init', 0, 6) // 8
      .add(BtfKind.Func, 'bpf_lsm_tun_dev_create', 0, 6); // 9
    const catalog = catalogFromBuffer(b.build(), { kernel: '6.1.192' });
    assert.equal(catalog.hookRule, 'known-plumbing-names');
    assert.deepEqual(catalog.hooks.map((h) => h.name), ['file_open', 'tun_dev_create']);
    assert.equal(hookSignature(catalog.get('tun_dev_create')!), 'int tun_dev_create(void)');
    assert.equal(catalog.get('file_open')!.sleepable, true);
  });
});
