// The all-hooks tracer generator: from one kernel's hook catalog and the value-type table, the BPF C of
// one program per hook plus the decoder tables with the very same layouts.
//
// Per hook, the record is `struct tr_h_<hook>` = the common header, then one member per argument:
//   - pointers to a struct of the value-type table: that type's `struct tr_v_<key>`, filled by its
//     reader subprogram (CO-RE reads, strings appended to the record tail);
//   - integers, enums and small by-value structs (kuid_t): the integer, formatted by name rules;
//   - char pointers: a string in the tail;
//   - other pointers: a presence byte. Raw kernel addresses never leave the kernel: they would leak
//     KASLR-sensitive values into logs and the UI, and say nothing a user can act on.
// Arguments the 6.1 verifier would refuse to load from the context (pointers to pointers, to typedef'd
// integers, to incomplete structs) are not touched at all and are reported as unread, with the reason.
import { Btf, BtfKind } from '../btf/btf';
import type { Hook, HookCatalog } from '../hooks/catalog';
import { compareKernelVersions, kv } from '../hooks/kernelVersion';
import type { FormatName } from './formats';
import { FIXED_STRUCTS, HEADER_CONSTANTS, HDR, layoutStruct, Store, STORE_ALIGN, STORE_SIZE, storeDecl, TR_REC_MAX } from './layout';
import type { ArgTable, DecoderTables, FieldTable, HookTable, ValueTable } from './tables';
import { ValueType, VALUE_TYPES } from './valueTypes';

/** Bump when the generated C or the tables change shape: it keys the compiled-object cache. */
export const GENERATOR_VERSION = 'tracer-gen-4';

export interface GeneratedHook {
  readonly id: number;
  readonly name: string;
  /** The BPF program's name in the object (what attach/autoload take). */
  readonly program: string;
  readonly category: string;
  readonly params: ReadonlyArray<{ readonly name: string; readonly type: string; readonly decode: ArgTable['how']; readonly reason?: string }>;
  /** Whether file/path arguments get the kernel's full path (bpf_d_path) on this hook. */
  readonly dpath: boolean;
  /** The program's ELF section: `fentry/bpf_lsm_<hook>`, `lsm/<hook>` or `fexit/bpf_lsm_<hook>` (GenerateOptions.attach). */
  readonly section: string;
}

export interface SkippedHook {
  readonly hook: string;
  readonly reason: string;
}

export interface TracerGeneration {
  readonly generator: string;
  readonly kernel: string;
  /** C source: includes vmlinux.h, libbpf headers and bpf/tracer/tracer_core.h. */
  readonly bpfSource: string;
  readonly hooks: readonly GeneratedHook[];
  readonly skipped: readonly SkippedHook[];
  /** Value types the target's BTF cannot feed (their arguments are recorded as presence only). */
  readonly degraded: ReadonlyArray<{ readonly type: string; readonly reason: string }>;
  /** Names of the programs that are not hooks (syscall context, fork following, exit). */
  readonly fixedPrograms: readonly string[];
  readonly tables: DecoderTables;
}

export interface GenerateOptions {
  /** Syscall number -> name of the target's architecture (see syscalls.ts). */
  readonly syscalls?: Readonly<Record<number, string>>;
  /** Only these hooks (all others are skipped with reason "not selected"). Default: every hook. */
  readonly hooks?: readonly string[];
  /**
   * How each hook is traced. `entry` (default): on entry to the hook's bpf_lsm_ function, before every BPF LSM
   * program, so a call a policy denies is still recorded. That is an fentry program, except on hooks whose
   * file or path arguments the kernel resolves with bpf_d_path: tracing programs may not call it on bpf_lsm_
   * functions, so those hooks keep an LSM program (first in the hook's chain unless a program attached later
   * denies first: a trampoline stops at the first non-zero). The trampoline of an LSM program on an int hook
   * also calls the bpf_lsm_ function itself afterwards, with its own save and restore, which fentry's does not:
   * with every hook program attached and no process traced, an untraced open/read/close loop in the 6.1 VM
   * took 1.13x its CPU time with no tracer, against 1.21x with LSM programs (medians of 10 runs each,
   * alternated with 15 without a tracer).
   * Either way `ret` is 0: no BPF program has run before these.
   * `fexit`: a tracing program on the hook's bpf_lsm_ function, which runs after every LSM program whatever
   * they returned, so each call is seen with the BPF verdict as `ret`. File paths are then never resolved
   * with bpf_d_path.
   */
  readonly attach?: 'entry' | 'fexit';
}

export const FIXED_PROGRAMS = ['tr_sys_enter', 'tr_sys_exit', 'tr_fork', 'tr_exec', 'tr_exit'] as const;

// ---------------------------------------------------------------------------------------------------
// BTF questions

/** Kinds that only wrap another type. */
function isWrapper(k: BtfKind): boolean {
  return k === BtfKind.Typedef || k === BtfKind.Const || k === BtfKind.Volatile || k === BtfKind.Restrict || k === BtfKind.TypeTag;
}

/** Typedef names met while resolving `id`, outermost first (`umode_t`, `__u16`). */
function typedefNames(btf: Btf, id: number): string[] {
  const out: string[] = [];
  let cur = id;
  for (let i = 0; i < 32 && isWrapper(btf.kind(cur)); i++) {
    if (btf.kind(cur) === BtfKind.Typedef) out.push(btf.name(cur));
    cur = btf.ref(cur);
  }
  return out;
}

function hasMember(btf: Btf, structId: number, name: string, depth = 0): number | undefined {
  if (depth > 8) return undefined;
  const k = btf.kind(structId);
  if (k !== BtfKind.Struct && k !== BtfKind.Union) return undefined;
  for (const m of btf.members(structId)) {
    if (m.name === name) return m.type;
    if (m.name === '') {
      const inner = btf.resolve(m.type);
      const found = hasMember(btf, inner, name, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

class BtfFacts {
  private readonly structs = new Map<string, number | undefined>();
  constructor(readonly btf: Btf) {}

  aggregate(name: string): number | undefined {
    if (!this.structs.has(name)) {
      const id = this.btf.find(BtfKind.Struct, name) ?? this.btf.find(BtfKind.Union, name);
      this.structs.set(name, id);
    }
    return this.structs.get(name);
  }

  /** `struct.member[.member...]`: undefined when present, else what is missing. */
  missing(need: string): string | undefined {
    const [first, ...path] = need.split('.');
    let id = this.aggregate(first);
    if (id === undefined) return `struct ${first} is not in this kernel's BTF`;
    let where = first;
    for (const m of path) {
      const t = hasMember(this.btf, id, m);
      if (t === undefined) return `${where} has no member ${m} in this kernel's BTF`;
      id = this.btf.resolve(t);
      where = `${where}.${m}`;
    }
    return undefined;
  }

  enumValues(name: string): Record<string, string> | undefined {
    const id = this.btf.find(BtfKind.Enum, name);
    if (id === undefined) return undefined;
    const out: Record<string, string> = {};
    for (const m of this.btf.members(id)) {
      const key = String(m.type | 0);
      if (!(key in out)) out[key] = m.name;
    }
    return out;
  }
}

/**
 * How the verifier lets an LSM program read this argument from its context (btf_ctx_access, as of
 * 6.1): integers, enums and by-value structs as scalars; pointers to void or to a plain (const) int as
 * scalars; pointers to a complete struct/union as PTR_TO_BTF_ID; anything else is refused at load.
 */
type CtxAccess = { kind: 'scalar'; size: number } | { kind: 'struct'; size: number } | { kind: 'btf_ptr'; target: number } | { kind: 'raw_ptr' } | { kind: 'none'; reason: string };

function ctxAccess(btf: Btf, typeId: number): CtxAccess {
  const t = btf.resolve(typeId);
  const k = btf.kind(t);
  if (k === BtfKind.Int) return { kind: 'scalar', size: btf.sizeOrType(t) };
  if (k === BtfKind.Enum || k === BtfKind.Enum64) return { kind: 'scalar', size: btf.sizeOrType(t) };
  if (k === BtfKind.Struct || k === BtfKind.Union) return { kind: 'struct', size: btf.sizeOrType(t) };
  if (k !== BtfKind.Ptr) return { kind: 'none', reason: `a ${btf.kind(t)} argument is not readable from the context` };
  const raw = btf.ref(t);
  if (raw === 0) return { kind: 'raw_ptr' };
  let pointee = raw;
  if (btf.kind(pointee) === BtfKind.Const) pointee = btf.ref(pointee);
  if (btf.kind(pointee) === BtfKind.Int) return { kind: 'raw_ptr' };
  const target = btf.resolve(raw);
  const tk = btf.kind(target);
  if (tk === BtfKind.Struct || tk === BtfKind.Union) return { kind: 'btf_ptr', target };
  if (tk === BtfKind.Fwd) return { kind: 'none', reason: 'points to an incomplete struct, which the verifier refuses to load from the context' };
  if (tk === BtfKind.Ptr) return { kind: 'none', reason: 'a pointer to a pointer (out-parameter), which the 6.1 verifier refuses to load from the context' };
  if (target === 0) return { kind: 'none', reason: 'a qualified void pointer, which the 6.1 verifier refuses to load from the context' };
  return { kind: 'none', reason: 'points to a typedef\'d scalar or function, which the 6.1 verifier refuses to load from the context' };
}

// ---------------------------------------------------------------------------------------------------
// Scalar formats by name

interface ScalarRule {
  readonly hooks?: readonly string[];
  readonly params?: readonly string[];
  readonly typedefs?: readonly string[];
  readonly fmt: FormatName;
}

const SCALAR_RULES: readonly ScalarRule[] = [
  { hooks: ['inode_permission', 'file_permission', 'kernfs_iop_permission'], params: ['mask'], fmt: 'may' },
  { params: ['prot', 'reqprot'], fmt: 'prot' },
  { hooks: ['mmap_file'], params: ['flags'], fmt: 'mmap' },
  { hooks: ['sb_mount'], params: ['flags'], fmt: 'mount' },
  { hooks: ['task_alloc'], params: ['clone_flags'], fmt: 'clone' },
  { hooks: ['ptrace_access_check'], params: ['mode'], fmt: 'ptrace_mode' },
  { hooks: ['capable'], params: ['cap'], fmt: 'cap' },
  { hooks: ['capable'], params: ['opts'], fmt: 'cap_opt' },
  { params: ['sig', 'signum'], fmt: 'signal' },
  { hooks: ['socket_create', 'socket_post_create'], params: ['family'], fmt: 'family' },
  { hooks: ['socket_create', 'socket_post_create'], params: ['type'], fmt: 'socktype' },
  { hooks: ['bpf'], params: ['cmd'], fmt: 'enum:bpf_cmd' },
  { hooks: ['file_ioctl', 'file_ioctl_compat'], params: ['cmd'], fmt: 'hex' },
  { hooks: ['dentry_open', 'file_open'], params: ['flags'], fmt: 'open' },
  { typedefs: ['umode_t'], fmt: 'mode' },
  { typedefs: ['dev_t'], fmt: 'dev' },
  { typedefs: ['fmode_t'], fmt: 'fmode' },
  { typedefs: ['gfp_t'], fmt: 'hex' },
  { params: ['flags'], fmt: 'hex' },
];

function scalarFormat(btf: Btf, hook: string, param: string, typeId: number): FormatName {
  const tds = typedefNames(btf, typeId);
  for (const r of SCALAR_RULES) {
    if (r.hooks && !r.hooks.includes(hook)) continue;
    if (r.params && !r.params.includes(param)) continue;
    if (r.typedefs && !r.typedefs.some((t) => tds.includes(t))) continue;
    return r.fmt;
  }
  const t = btf.resolve(typeId);
  if (btf.kind(t) === BtfKind.Enum && btf.name(t)) return `enum:${btf.name(t)}`;
  if (btf.kind(t) === BtfKind.Int && btf.intInfo(t).bool) return 'bool';
  return 'dec';
}

function scalarStore(btf: Btf, typeId: number, size: number): Store {
  const t = btf.resolve(typeId);
  // Enums and by-value structs count as unsigned; only C integers carry a sign in BTF.
  const signed = btf.kind(t) === BtfKind.Int && btf.intInfo(t).signed;
  if (size === 1) return 'u8';
  if (size === 2) return 'u16';
  if (size <= 4) return signed ? 's32' : 'u32';
  return signed ? 's64' : 'u64';
}

const C_SCALAR: Readonly<Record<string, string>> = { u8: '__u8', u16: '__u16', u32: '__u32', s32: '__s32', u64: '__u64', s64: '__s64' };

// ---------------------------------------------------------------------------------------------------
// Value types: layout and readers

interface LaidValue {
  readonly vt: ValueType;
  readonly size: number;
  readonly align: number;
  /** Memory order (largest alignment first, so structs stay compact), with offsets. */
  readonly memory: ReadonlyArray<{ name: string; store: Store; offset: number }>;
  readonly table: ValueTable;
}

function layValue(vt: ValueType): LaidValue {
  const all = [...vt.fields.map((f) => ({ name: f.name, store: f.store, fmt: f.fmt })), { name: 'present', store: 'u8' as Store, fmt: 'hidden' as FormatName }];
  const sorted = all
    .map((f, i) => ({ ...f, i, size: STORE_SIZE[f.store], align: STORE_ALIGN[f.store] }))
    .sort((a, b) => b.align - a.align || a.i - b.i);
  const laid = layoutStruct(sorted);
  const offsetOf = new Map(laid.items.map((f) => [f.name, f.offset]));
  const fields: FieldTable[] = vt.fields.map((f) => ({ name: f.name, offset: offsetOf.get(f.name)!, store: f.store, fmt: f.fmt }));
  return {
    vt,
    size: laid.size,
    align: laid.align,
    memory: laid.items.map((f) => ({ name: f.name, store: f.store, offset: f.offset })),
    table: { key: vt.key, size: laid.size, present: offsetOf.get('present')!, fields, ...(vt.post ? { post: vt.post } : {}) },
  };
}

function valueStructC(v: LaidValue): string {
  const lines = [`struct tr_v_${v.vt.key} {`, ...v.memory.map((m) => `\t${storeDecl(m.store, m.name)};`), '};'];
  lines.push(`_Static_assert(sizeof(struct tr_v_${v.vt.key}) == ${v.size}, "tr_v_${v.vt.key} size differs from the decoder's");`);
  for (const m of v.memory) {
    lines.push(`_Static_assert(__builtin_offsetof(struct tr_v_${v.vt.key}, ${m.name}) == ${m.offset}, "tr_v_${v.vt.key}.${m.name}");`);
  }
  return lines.join('\n');
}

function readerName(vt: ValueType, dpath: boolean): string {
  return `tr_read_${vt.key}${dpath ? '_dpath' : ''}`;
}

function readerC(vt: ValueType, dpath: boolean): string {
  const vtype = vt.cType === 'void' ? 'const void' : vt.cType;
  const body = vt.fields
    .map((f) => (typeof f.read === 'function' ? f.read({ dpath }) : f.read))
    .filter(Boolean)
    .map((s) => `\t${s}`);
  return [
    `static __noinline void ${readerName(vt, dpath)}(struct tr_ctx *c, struct tr_v_${vt.key} *o, ${vtype} *v, long aux)`,
    '{',
    '\tif (!v)',
    '\t\treturn;',
    '\to->present = 1;',
    ...body,
    '}',
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------------
// Hooks

/** Max register arguments of a BPF trampoline on x86_64: 6 until 6.6, then 12. */
function maxArgSlots(catalog: HookCatalog): number {
  const v = catalog.kernel.version;
  return v && compareKernelVersions(v, kv('6.6')) < 0 ? 6 : 12;
}

interface PlannedArg {
  readonly name: string;
  readonly type: string;
  readonly slot: number;
  readonly how: ArgTable['how'];
  readonly store?: Store;
  readonly fmt?: FormatName;
  readonly value?: LaidValue;
  readonly reason?: string;
  readonly cast?: string;
}

function cIdent(name: string, i: number): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : `arg${i}`;
}

/**
 * The generated source's TR_THREAD_SIZE, which the tracer's interrupt test compares stack addresses against
 * (bpf/tracer/tracer_core.h): x86_64 doubles THREAD_SIZE under KASAN, whose kernels have kasan_report.
 */
export function threadSizeLines(btf: Btf): string[] {
  return btf.find(BtfKind.Func, 'kasan_report') !== undefined ? ['/* A KASAN kernel: task stacks of 32 KiB. */', '#define TR_THREAD_SIZE 32768'] : [];
}

export function generateTracer(catalog: HookCatalog, options: GenerateOptions = {}): TracerGeneration {
  const btf = catalog.btf;
  const facts = new BtfFacts(btf);
  const maxSlots = maxArgSlots(catalog);

  // Which value types this kernel can feed.
  const degraded: Array<{ type: string; reason: string }> = [];
  const values = new Map<string, LaidValue>();
  const byStruct = new Map<string, LaidValue>();
  const byTypedef = new Map<string, LaidValue>();
  for (const vt of VALUE_TYPES) {
    const missing = vt.needs.map((n) => facts.missing(n)).find((m) => m !== undefined);
    if (missing) {
      degraded.push({ type: vt.key, reason: missing });
      continue;
    }
    const laid = layValue(vt);
    values.set(vt.key, laid);
    for (const s of [...(vt.structs ?? []), ...(vt.unions ?? [])]) byStruct.set(s, laid);
    for (const t of vt.typedefs ?? []) byTypedef.set(t, laid);
  }

  const selected = options.hooks ? new Set(options.hooks) : undefined;
  const skipped: SkippedHook[] = [];
  const usedReaders = new Set<string>();
  const enumsUsed = new Set<string>();
  const hookTables: HookTable[] = [];
  const generated: GeneratedHook[] = [];
  const hookC: string[] = [];

  const planArg = (hook: Hook, p: Hook['params'][number], i: number, slot: number): { arg: PlannedArg; slots: number } => {
    const name = cIdent(p.name, i);
    const acc = ctxAccess(btf, p.typeId);
    const base = { name, type: p.type, slot };
    switch (acc.kind) {
      case 'scalar': {
        const fmt = scalarFormat(btf, hook.name, p.name, p.typeId);
        return { arg: { ...base, how: 'scalar', store: scalarStore(btf, p.typeId, acc.size), fmt }, slots: 1 };
      }
      case 'struct': {
        const slots = Math.ceil(acc.size / 8);
        if (acc.size <= 8 && acc.size > 0) {
          // kuid_t, kgid_t and friends: one-member structs that travel in one register.
          const store: Store = acc.size <= 4 ? 'u32' : 'u64';
          return { arg: { ...base, how: 'scalar', store, fmt: 'dec' }, slots: 1 };
        }
        return { arg: { ...base, how: 'unread', reason: `a ${acc.size}-byte struct passed by value` }, slots: Math.max(1, slots) };
      }
      case 'raw_ptr': {
        const pointee = btf.resolve(btf.ref(btf.resolve(p.typeId)));
        const isChar = pointee !== 0 && btf.kind(pointee) === BtfKind.Int && btf.sizeOrType(pointee) === 1;
        return { arg: { ...base, how: isChar ? 'string' : 'present' }, slots: 1 };
      }
      case 'btf_ptr': {
        // A typedef'd pointee (kernel_cap_t) is matched by typedef name first, then by struct name.
        const ptrTo = btf.ref(btf.resolve(p.typeId));
        const tds = typedefNames(btf, ptrTo);
        const laid = tds.map((t) => byTypedef.get(t)).find(Boolean) ?? byStruct.get(btf.name(acc.target));
        if (laid && (!laid.vt.onlyHooks || laid.vt.onlyHooks.includes(hook.name))) return { arg: { ...base, how: 'value', value: laid }, slots: 1 };
        return { arg: { ...base, how: 'present' }, slots: 1 };
      }
      case 'none':
        return { arg: { ...base, how: 'unread', reason: acc.reason }, slots: 1 };
    }
  };

  let nextId = 0;
  for (const hook of catalog.hooks) {
    if (selected && !selected.has(hook.name)) {
      skipped.push({ hook: hook.name, reason: 'not selected' });
      continue;
    }
    if (hook.disabled) {
      skipped.push({ hook: hook.name, reason: `the kernel refuses BPF programs on it (${hook.disabledSource ?? 'bpf_lsm_disabled_hooks'})` });
      continue;
    }
    const args: PlannedArg[] = [];
    let slot = 0;
    hook.params.forEach((p, i) => {
      const { arg, slots } = planArg(hook, p, i, slot);
      args.push(arg);
      slot += slots;
    });
    if (slot > maxSlots) {
      skipped.push({ hook: hook.name, reason: `${slot} argument registers; BPF trampolines on ${catalog.kernelLabel} take at most ${maxSlots}` });
      continue;
    }
    const names = new Set<string>();
    for (const a of args) {
      if (names.has(a.name)) (a as { name: string }).name = `${a.name}_${names.size}`;
      names.add(a.name);
    }

    const id = nextId++;
    const fexit = options.attach === 'fexit';
    const dpath = hook.sleepable && !fexit && args.some((a) => a.how === 'value' && !!a.value!.vt.dpath);
    const fentry = !fexit && !dpath;
    const section = fexit ? `fexit/bpf_lsm_${hook.name}` : fentry ? `fentry/bpf_lsm_${hook.name}` : `lsm/${hook.name}`;
    const members = args
      .filter((a) => a.how !== 'unread')
      .map((a) => {
        const size = a.how === 'value' ? a.value!.size : a.how === 'scalar' ? STORE_SIZE[a.store!] : a.how === 'string' ? 4 : 1;
        const align = a.how === 'value' ? a.value!.align : a.how === 'scalar' ? STORE_ALIGN[a.store!] : a.how === 'string' ? 2 : 1;
        return { arg: a, size, align };
      });
    const laid = layoutStruct(members, HDR.size, 8);
    if (laid.size > TR_REC_MAX / 2) {
      skipped.push({ hook: hook.name, reason: `its arguments need ${laid.size} bytes, more than half a record (${TR_REC_MAX})` });
      nextId--;
      continue;
    }
    const offsetOf = new Map(laid.items.map((m) => [m.arg.name, m.offset]));
    const program = `tr_${hook.name}`;
    const sname = `tr_h_${hook.name}`;

    const decl = [`struct ${sname} {`, '\tstruct tr_hdr hdr;'];
    for (const m of laid.items) {
      const a = m.arg;
      if (a.how === 'value') decl.push(`\tstruct tr_v_${a.value!.vt.key} ${a.name};`);
      else if (a.how === 'scalar') decl.push(`\t${storeDecl(a.store!, a.name)};`);
      else if (a.how === 'string') decl.push(`\tstruct tr_str ${a.name};`);
      else decl.push(`\t__u8 ${a.name};`);
    }
    decl.push('};');
    decl.push(`_Static_assert(sizeof(struct ${sname}) == ${laid.size}, "${sname} size");`);
    for (const m of laid.items) decl.push(`_Static_assert(__builtin_offsetof(struct ${sname}, ${m.arg.name}) == ${m.offset}, "${sname}.${m.arg.name}");`);

    const body: string[] = [];
    for (const a of args) {
      const x = `ctx[${a.slot}]`;
      if (a.how === 'value') {
        const vt = a.value!.vt;
        const useDpath = dpath && !!vt.dpath;
        usedReaders.add(`${vt.key}:${useDpath}`);
        const auxParam = vt.aux ? args.find((o) => vt.aux!.params.includes(o.name) && o.how === 'scalar') : undefined;
        // Integer arguments only fill their register's low bits: narrow before widening.
        const auxExpr = !vt.aux ? '0' : !auxParam ? vt.aux.fallback : STORE_SIZE[auxParam.store!] <= 4 ? `(long)(int)ctx[${auxParam.slot}]` : `(long)ctx[${auxParam.slot}]`;
        const ptr = vt.pointer ? vt.pointer.replace(/\bx\b/g, x) : `(void *)${x}`;
        body.push(`\t${readerName(vt, useDpath)}(&c, &r->${a.name}, ${ptr}, ${auxExpr});`);
      } else if (a.how === 'scalar') {
        body.push(`\tr->${a.name} = (${C_SCALAR[a.store!]})${x};`);
        if (a.fmt?.startsWith('enum:')) enumsUsed.add(a.fmt.slice(5));
      } else if (a.how === 'string') {
        body.push(`\ttr_put_kstr(&c, &r->${a.name}, (const char *)${x});`);
      } else if (a.how === 'present') {
        body.push(`\tr->${a.name} = ${x} != 0;`);
      }
    }
    const hasRet = hook.returnRule !== 'void';
    // No argument appends to the tail: the record is written in place in the ring (tr_begin_fixed).
    const fixedSize = args.every((a) => a.how !== 'string' && (a.how !== 'value' || !a.value!.vt.fields.some((f) => f.store === 'str')));
    const [begin, end] = fixedSize ? ['tr_begin_fixed', 'tr_end_fixed'] : ['tr_begin', 'tr_end'];
    // An fentry program's context ends with the arguments; LSM and fexit programs get the return value after them.
    const ret = hasRet && !fentry ? `(int)ctx[${slot}]` : '0';
    hookC.push(
      [
        ...decl,
        '',
        `SEC("${section}")`,
        `int ${program}(unsigned long long *ctx)`,
        '{',
        '\tstruct tr_ctx c;',
        `\tstruct ${sname} *r;`,
        '',
        `\tif (!${begin}(&c, ${id}, ${ret}, sizeof(*r)))`,
        '\t\treturn 0;',
        '\tr = (void *)c.rec;',
        ...body,
        `\t${end}(&c);`,
        // Never deny: 0 lets the hook's own result stand (a trampoline skips the rest once one program returns non-zero).
        '\treturn 0;',
        '}',
      ].join('\n'),
    );

    const argTables: ArgTable[] = args.map((a): ArgTable => {
      const off = offsetOf.get(a.name) ?? -1;
      switch (a.how) {
        case 'value':
          return { name: a.name, offset: off, how: 'value', value: a.value!.vt.key };
        case 'scalar':
          return { name: a.name, offset: off, how: 'scalar', store: a.store!, fmt: a.fmt! };
        case 'string':
          return { name: a.name, offset: off, how: 'string' };
        case 'present':
          return { name: a.name, offset: off, how: 'present' };
        default:
          return { name: a.name, offset: -1, how: 'unread', reason: a.reason ?? 'not readable' };
      }
    });
    hookTables.push({ id, name: hook.name, category: hook.category, hasRet, size: laid.size, args: argTables });
    generated.push({
      id,
      name: hook.name,
      program,
      category: hook.category,
      dpath,
      section,
      params: args.map((a) => ({ name: a.name, type: a.type, decode: a.how, ...(a.reason ? { reason: a.reason } : {}) })),
    });
  }

  // Readers and value structs of the types some hook uses, in table order.
  const usedKeys = new Set([...usedReaders].map((r) => r.split(':')[0]));
  const valueC: string[] = [];
  const readersC: string[] = [];
  const valueTables: Record<string, ValueTable> = {};
  for (const [key, laid] of values) {
    if (!usedKeys.has(key)) continue;
    valueC.push(valueStructC(laid));
    valueTables[key] = laid.table;
    for (const f of laid.table.fields) if (f.fmt.startsWith('enum:')) enumsUsed.add(f.fmt.slice(5));
    for (const dp of [false, true]) if (usedReaders.has(`${key}:${dp}`)) readersC.push(readerC(laid.vt, dp));
  }

  const enums: Record<string, Record<string, string>> = {};
  for (const e of [...enumsUsed].sort()) {
    const vals = facts.enumValues(e);
    if (vals) enums[e] = vals;
  }

  const asserts: string[] = [];
  for (const s of FIXED_STRUCTS) {
    asserts.push(`_Static_assert(sizeof(struct ${s.name}) == ${s.size}, "struct ${s.name} size differs from the decoder's");`);
    for (const [m, off] of Object.entries(s.offsets)) asserts.push(`_Static_assert(__builtin_offsetof(struct ${s.name}, ${m}) == ${off}, "${s.name}.${m}");`);
  }
  for (const [name, value] of Object.entries(HEADER_CONSTANTS)) asserts.push(`_Static_assert(${name} == ${value}, "${name}");`);

  const bpfSource = [
    '// SPDX-License-Identifier: GPL-2.0-only',
    `// Generated by BPF-LSM Studio (${GENERATOR_VERSION}) for ${catalog.kernelLabel}: one ${options.attach === 'fexit' ? 'fexit/bpf_lsm_' : 'fentry/bpf_lsm_ (lsm/ where bpf_d_path resolves paths)'} program per hook.`,
    '// Do not edit: regenerate from the hook catalog and extension/shared/tracer/valueTypes.ts.',
    '#include "vmlinux.h"',
    '#include <bpf/bpf_helpers.h>',
    '#include <bpf/bpf_tracing.h>',
    '#include <bpf/bpf_core_read.h>',
    '#include <bpf/bpf_endian.h>',
    ...threadSizeLines(btf),
    '#include "tracer_core.h"',
    '',
    ...asserts,
    '',
    ...valueC.flatMap((s) => [s, '']),
    ...readersC.flatMap((s) => [s, '']),
    ...hookC.flatMap((s) => [s, '']),
    '/* Keeps every hook record layout in the object\'s BTF, where tests compare it with the decoder tables. */',
    'struct tr_hook_layouts {',
    ...hookTables.map((h) => `\tstruct tr_h_${h.name} ${h.name};`),
    '} *tr_hook_layouts_anchor;',
    '',
  ].join('\n');

  const syscalls: Record<string, string> = {};
  for (const [nr, name] of Object.entries(options.syscalls ?? {})) syscalls[nr] = name;

  return {
    generator: GENERATOR_VERSION,
    kernel: catalog.kernelLabel,
    bpfSource,
    hooks: generated,
    skipped,
    degraded,
    fixedPrograms: [...FIXED_PROGRAMS],
    tables: { generator: GENERATOR_VERSION, kernel: catalog.kernelLabel, hooks: hookTables, values: valueTables, enums, syscalls },
  };
}
