// The hook catalog: every LSM hook of one kernel, read from that kernel's BTF. One source of truth for
// completion, hover, diagnostics, the CLI, and the generated tracer and its decoder.
//
// Which functions are hooks: the kernel defines `bpf_lsm_<hook>` for each entry of lsm_hook_defs.h,
// and from the same list it builds `union security_list_options`, one function-pointer member per
// hook. kernel/bpf/bpf_lsm.c and security/bpf/hooks.c add a few more `bpf_lsm_*` functions that are
// plumbing (bpf_lsm_verify_prog, bpf_lsm_func_proto, bpf_lsm_find_cgroup_shim, bpf_lsm_init, ...).
// So a hook is a `bpf_lsm_<name>` function whose <name> is a member of that union; the plumbing never
// is. (6.9+ also adds a non-hook `lsm_func_addr` member to the union; it has no bpf_lsm_ function.)
import { readFileSync } from 'node:fs';
import { BtfFileError, readBtfFile } from '../btf/readFile';
import { Btf, BtfError, BtfKind } from '../btf/btf';
import { isElf } from '../btf/elf';
import { cDecl, cType } from '../btf/cdecl';
import { HookCategory, hookCategory } from './categories';
import { compareKernelVersions, formatKernelVersion, KernelVersion, kernelBannerFromImage, kernelVersionFromBanner, parseKernelVersion } from './kernelVersion';
import { BOOL_RESULT_RULES, BTF_VERSION_MARKERS, DISABLED_RULES, RETURN_RANGE_BACKPORTS, RETURN_RANGE_CHECKED_SINCE, ruleFor, ruleVerdict, SLEEPABLE_RULES } from './rules';

export interface HookParam {
  /** Parameter name exactly as BTF has it. */
  readonly name: string;
  /** C spelling of the parameter's type: `struct file *`. */
  readonly type: string;
  /** `struct file *file`: the type declaring the name (differs from `${type} ${name}` for arrays and function pointers). */
  readonly decl: string;
  readonly typeId: number;
  /** A struct or union passed by value (`kuid_t`, `sockptr_t`): BPF_PROG cannot cast to it, BPF_PROG2 can. */
  readonly byValue: boolean;
}

/** How a BPF program's return value on this hook is read by the kernel. */
export type ReturnRule = 'errno' | 'bool' | 'void';

export interface Hook {
  readonly name: string;
  /** C spelling of the return type: `int` or `void`. */
  readonly returns: string;
  readonly returnRule: ReturnRule;
  readonly params: readonly HookParam[];
  readonly sleepable: boolean;
  readonly disabled: boolean;
  readonly category: HookCategory;
  /** Where the sleepable/disabled facts come from (see rules.ts). */
  readonly sleepableSource?: string;
  readonly disabledSource?: string;
  /**
   * Set when the kernel version is unknown and the sleepable/disabled fact depends on it: the versions
   * it holds for (`from 6.10 on`). `sleepable`/`disabled` then give the newest kernels' answer.
   */
  readonly sleepableWhen?: string;
  readonly disabledWhen?: string;
  /** Kernel documentation, when sources were found. */
  doc?: string;
  /** Id of the `bpf_lsm_<name>` FUNC in this BTF. */
  readonly btfId: number;
}

/** The JSON shape printed by `bpf-lsm hooks --json` and consumed by other tools. */
export interface HookJson {
  name: string;
  returns: string;
  params: Array<{ name: string; type: string }>;
  sleepable: boolean;
  disabled: boolean;
  category: HookCategory;
  doc?: string;
}

export interface KernelInfo {
  /** Full banner or release string when known. */
  readonly description?: string;
  readonly version?: KernelVersion;
  /** 'given' by the caller, read from the image's 'banner', or 'unknown' (the BTF's version markers, else the newest rules). */
  readonly versionSource: 'given' | 'banner' | 'unknown';
  /** With an unknown version: the lowest version the BTF proves (BTF_VERSION_MARKERS). */
  readonly atLeast?: KernelVersion;
}

/** Whether the verifier refuses return values outside the hook's range, and how sure that is. */
export interface ReturnRangeCheck {
  readonly checked: boolean;
  /** False only when neither a version nor the BTF tells (then `checked` is the newest kernels' answer). */
  readonly certain: boolean;
}

export interface CatalogOptions {
  /** The kernel's version (`6.1.192`), release (`6.18.44-fc`) or banner (`/proc/version` text). */
  readonly kernel?: string | KernelVersion;
  /** Hook documentation to attach, by hook name (see docs.ts). */
  readonly docs?: ReadonlyMap<string, string>;
}

/** Where the attached documentation came from (hooks/debianDocs.ts fills it for Debian's packages). */
export interface DocsOrigin {
  /** `6.1`: the kernel series the text belongs to, when known. */
  readonly series?: string;
  /** False when the text is from another series than the catalog's kernel (the nearest one available). */
  readonly exact: boolean;
  /** `Debian package linux-headers-6.1.0-57-common 6.1.192-3`, `kernel sources at /usr/src/linux`. */
  readonly source: string;
}

export class HookCatalog {
  readonly hooks: readonly Hook[];
  private readonly byName: Map<string, Hook>;
  /** Set with the docs: where they came from. */
  docsOrigin: DocsOrigin | undefined;
  /** Without docs: why, and what to do (being fetched, offline, ...). */
  docsNote: string | undefined;

  constructor(
    hooks: Hook[],
    readonly kernel: KernelInfo,
    /** How hooks were told apart from bpf_lsm plumbing (see the header of this file). */
    readonly hookRule: 'security_list_options' | 'known-plumbing-names',
    readonly btf: Btf,
  ) {
    this.hooks = hooks;
    this.byName = new Map(hooks.map((h) => [h.name, h]));
  }

  get(name: string): Hook | undefined {
    return this.byName.get(name);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Whether this kernel's verifier enforces return value ranges on LSM programs (6.12 on, and backports). */
  get returnRange(): ReturnRangeCheck {
    this.range ??= this.findReturnRange();
    return this.range;
  }

  private range: ReturnRangeCheck | undefined;

  private findReturnRange(): ReturnRangeCheck {
    const v = this.kernel.version;
    if (v) {
      const back = RETURN_RANGE_BACKPORTS.some((b) => b.major === v.major && b.minor === v.minor && compareKernelVersions(v, b) >= 0);
      return { checked: back || compareKernelVersions(v, RETURN_RANGE_CHECKED_SINCE) >= 0, certain: true };
    }
    // The check lives in bpf_lsm_get_retval_range: its presence in the BTF answers the question.
    return { checked: this.btf.find(BtfKind.Func, 'bpf_lsm_get_retval_range') !== undefined, certain: this.hookRule === 'security_list_options' };
  }

  /** `6.1.192` or `unknown kernel`, for messages. */
  get kernelLabel(): string {
    return this.kernel.version ? formatKernelVersion(this.kernel.version) : 'unknown kernel';
  }

  /** Attaches documentation (by hook name); returns how many hooks got some. */
  attachDocs(docs: ReadonlyMap<string, string>): number {
    let n = 0;
    for (const h of this.hooks) {
      const d = docs.get(h.name);
      if (d) {
        h.doc = d;
        n++;
      }
    }
    return n;
  }

  toJson(): HookJson[] {
    return this.hooks.map(hookToJson);
  }
}

export function hookToJson(h: Hook): HookJson {
  const out: HookJson = {
    name: h.name,
    returns: h.returns,
    params: h.params.map((p) => ({ name: p.name, type: p.type })),
    sleepable: h.sleepable,
    disabled: h.disabled,
    category: h.category,
  };
  if (h.doc) out.doc = h.doc;
  return out;
}

/** `int file_open(struct file *file)`. */
export function hookSignature(h: Hook): string {
  const params = h.params.length ? h.params.map((p) => p.decl).join(', ') : 'void';
  return `${h.returns} ${h.name}(${params})`;
}

/**
 * Functions named bpf_lsm_* that are BPF-LSM plumbing, from kernel/bpf/bpf_lsm.c and
 * security/bpf/hooks.c (5.7 to 6.18). Only used when the BTF lacks `union security_list_options`
 * (a trimmed or split BTF), so that such BTF still yields a usable catalog.
 */
export const KNOWN_PLUMBING = new Set([
  'find_cgroup_shim', 'func_proto', 'verify_prog', 'is_sleepable_hook', 'is_trusted', 'init',
  'get_retval_range', 'hook_returns_errno', 'has_d_inode_locked', 'hook_inc', 'hook_dec', 'prog_to_key',
  'btf_id_to_key', 'hook_keys_init',
]);

const PREFIX = 'bpf_lsm_';

function resolveKernel(opt: CatalogOptions['kernel'], data?: Uint8Array): KernelInfo {
  if (opt !== undefined) {
    if (typeof opt !== 'string') return { version: opt, versionSource: 'given', description: formatKernelVersion(opt) };
    const v = opt.includes('Linux version') ? kernelVersionFromBanner(opt) : parseKernelVersion(opt);
    return { version: v, versionSource: v ? 'given' : 'unknown', description: opt.trim() };
  }
  if (data && isElf(data)) {
    const banner = kernelBannerFromImage(data);
    const v = banner ? kernelVersionFromBanner(banner) : undefined;
    if (v) return { version: v, versionSource: 'banner', description: banner };
  }
  return { versionSource: 'unknown' };
}

/** Builds the catalog from parsed BTF. */
export function buildCatalog(btf: Btf, options: CatalogOptions = {}, imageForVersion?: Uint8Array): HookCatalog {
  let kernel = resolveKernel(options.kernel, imageForVersion);
  const v = kernel.version;
  if (!v) {
    let atLeast: KernelVersion | undefined;
    for (const m of BTF_VERSION_MARKERS) {
      if (btf.funcsWithPrefix(m.func).some((id) => btf.name(id) === m.func) && (!atLeast || compareKernelVersions(m.since, atLeast) > 0)) atLeast = m.since;
    }
    kernel = { ...kernel, atLeast };
  }
  const unionId = btf.find(BtfKind.Union, 'security_list_options');
  const members = unionId !== undefined ? new Set(btf.members(unionId).map((m) => m.name)) : undefined;
  const hooks: Hook[] = [];
  for (const id of btf.funcsWithPrefix(PREFIX)) {
    const name = btf.name(id).slice(PREFIX.length);
    if (members ? !members.has(name) : KNOWN_PLUMBING.has(name)) continue;
    const proto = btf.ref(id);
    if (btf.kind(proto) !== BtfKind.FuncProto) throw new BtfError(`bpf_lsm_${name} (BTF id ${id}) does not point to a function prototype`);
    const retId = btf.ref(proto);
    const returns = cType(btf, retId);
    const params = btf.members(proto).map((p) => {
      const real = btf.kind(btf.resolve(p.type));
      return { name: p.name, type: cType(btf, p.type), decl: cDecl(btf, p.type, p.name), typeId: p.type, byValue: real === BtfKind.Struct || real === BtfKind.Union };
    });
    const sleep = ruleVerdict(SLEEPABLE_RULES, name, v, kernel.atLeast);
    const dis = ruleVerdict(DISABLED_RULES, name, v, kernel.atLeast);
    const sleepRule = sleep.holds ? sleep.rule : undefined;
    const disRule = dis.holds ? dis.rule : undefined;
    const boolRule = ruleFor(BOOL_RESULT_RULES, name, v);
    const realRet = retId === 0 ? 0 : btf.resolve(retId);
    const btfBool = realRet !== 0 && btf.kind(realRet) === BtfKind.Int && btf.intInfo(realRet).bool;
    const returnRule: ReturnRule = retId === 0 ? 'void' : boolRule || btfBool ? 'bool' : 'errno';
    hooks.push({
      name,
      returns,
      returnRule,
      params,
      sleepable: sleepRule !== undefined,
      disabled: disRule !== undefined,
      category: hookCategory(name),
      sleepableSource: sleepRule?.source,
      disabledSource: disRule?.source,
      sleepableWhen: sleep.certain ? undefined : sleep.when,
      disabledWhen: dis.certain ? undefined : dis.when,
      btfId: id,
    });
  }
  hooks.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const catalog = new HookCatalog(hooks, kernel, members ? 'security_list_options' : 'known-plumbing-names', btf);
  if (options.docs) catalog.attachDocs(options.docs);
  return catalog;
}

/** Builds the catalog from BTF bytes: raw BTF or an ELF image with `.BTF` (e.g. fetched from a target). */
export function catalogFromBuffer(data: Uint8Array, options: CatalogOptions = {}, what = 'BTF data'): HookCatalog {
  return buildCatalog(Btf.fromBuffer(data, what), options, data);
}

/**
 * Builds the catalog from a file. For the running kernel's /sys/kernel/btf/vmlinux the version comes
 * from /proc/version unless the caller gave one.
 */
export function catalogFromFile(path: string, options: CatalogOptions = {}): HookCatalog {
  let data: Buffer;
  try {
    data = readBtfFile(path);
  } catch (err) {
    const code = (err as BtfFileError).code;
    const hint = code === 'ENOENT' ? ' (the kernel may lack CONFIG_DEBUG_INFO_BTF; point bpfLsm.btfPath / --btf at a BTF file or vmlinux)' : '';
    throw new BtfError(`${(err as Error).message}${hint}`);
  }
  let kernel = options.kernel;
  if (kernel === undefined && path === '/sys/kernel/btf/vmlinux') {
    try {
      kernel = readFileSync('/proc/version', 'utf8');
    } catch {
      // No /proc: the version stays unknown and the newest rules apply, which the catalog reports.
    }
  }
  return catalogFromBuffer(data, { ...options, kernel }, path);
}
