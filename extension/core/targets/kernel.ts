// A target's kernel: its identity, its BTF (from the one identity-keyed cache, btfCache.ts) and its hook
// catalog. Every target owns one (Target.kernel); build, load, the tracer, the language client and the CLI
// ask it instead of fetching and caching BTF each their own way.
import { existsSync, readFileSync } from 'node:fs';
import { readBtfFile } from '../../shared/btf/readFile';
import { catalogFromFile, type HookCatalog } from '../../shared/hooks/catalog';
import { fetchTargetBtf, type ExecFn } from '../../shared/hooks/targetBtf';
import { cacheRoot } from '../vm/paths';
import { cachedBtfFile, IDENTITY_SCRIPT, lastTargetKernel, lookupBtf, parseIdentity, rememberBtf, rememberTargetKernel, type KernelIdentity } from './btfCache';

export type { KernelIdentity } from './btfCache';

/** A file holding a kernel's BTF: raw BTF, or a kernel image (ELF) with a .BTF section. */
export interface KernelBtf {
  readonly path: string;
  /** /proc/version of the kernel when known: the hook catalog's version rules need it for raw BTF. */
  readonly banner?: string;
  /** For messages: "the built-in VM's kernel 6.1.0-...", "this machine's kernel", "ssh:box (Linux version 6.8.0)". */
  readonly what: string;
  /** Came from this machine (cache or image) without reading it from the target. */
  readonly fromCache: boolean;
}

export interface TargetKernelOptions {
  /** The target's id: the key of its last-seen kernel. */
  readonly targetId: string;
  /** How diagnostics name this kernel next to others (a kernel matrix): `6.1`, `6.12`, a host, `local`. */
  readonly name: string;
  /** What makes this kernel's BTF available here when it is not yet: "run `bpf-lsm vm up --kernel 6.12` once". */
  readonly btfAdvice: string;
  readonly exec: ExecFn;
  /**
   * This kernel's BTF as a file on this machine, known to match it without asking the target (the built-in
   * VM's kernel image, this machine's own BTF for the local target).
   */
  readonly localBtf?: () => KernelBtf | undefined;
}

export interface ReadBtfOptions {
  /** The identity, when the caller already asked for it (e.g. while its helper started). */
  readonly identity?: Promise<KernelIdentity | undefined>;
  /** Reads the BTF bytes faster than the exec channel can (the helper's readBtf). */
  readonly read?: () => Promise<Buffer>;
  /** The cache folder (default: the product's cache); benchmarks pass a fresh one for a cold start. */
  readonly cacheDir?: string;
  readonly progress?: (message: string) => void;
}

const short = (banner: string) => banner.split(' ').slice(0, 3).join(' ');

export class TargetKernel {
  private catalogFor: { path: string; catalog: HookCatalog } | undefined;

  constructor(private readonly opts: TargetKernelOptions) {}

  get name(): string {
    return this.opts.name;
  }

  get btfAdvice(): string {
    return this.opts.btfAdvice;
  }

  /** The running kernel's identity (one command on the target); undefined when the target cannot say. */
  async identity(): Promise<KernelIdentity | undefined> {
    try {
      const r = await this.opts.exec('sh', ['-c', IDENTITY_SCRIPT]);
      return r.exitCode === 0 ? parseIdentity(r.stdout) : undefined;
    } catch {
      return undefined;
    }
  }

  /** This kernel's BTF on this machine without reaching the target, when there is such a file. */
  localBtf(): KernelBtf | undefined {
    return this.opts.localBtf?.();
  }

  /** The cached BTF file of a kernel seen before (by identity), without reading it. */
  cachedBtf(identity: KernelIdentity, cacheDir = cacheRoot()): string | undefined {
    const path = lookupBtf(cacheDir, identity);
    if (path) rememberTargetKernel(cacheDir, this.opts.targetId, identity);
    return path;
  }

  /** The BTF of the kernel the target ran when it was last reached (may be out of date); never reaches it. */
  lastBtf(cacheDir = cacheRoot()): KernelBtf | undefined {
    const last = lastTargetKernel(cacheDir, this.opts.targetId);
    return last && { path: last.file, banner: last.identity.banner, what: `${this.opts.targetId} (${short(last.identity.banner)})`, fromCache: true };
  }

  /**
   * The running kernel's BTF: from the cache when this kernel (by identity) was seen before, else read from
   * the target (through `read`, or over the exec channel) and cached under its identity.
   */
  async btf(options: ReadBtfOptions = {}): Promise<KernelBtf & { readonly bytes: Buffer }> {
    const root = options.cacheDir ?? cacheRoot();
    const identity = await (options.identity ?? this.identity());
    let path = identity && lookupBtf(root, identity);
    const fromCache = path !== undefined;
    let bytes: Buffer;
    let banner = identity?.banner;
    if (path) {
      bytes = readBtfFile(path);
    } else {
      options.progress?.("reading the target kernel's BTF");
      if (options.read) bytes = await options.read();
      else {
        const fetched = await fetchTargetBtf(this.opts.exec, this.opts.targetId);
        bytes = fetched.btf;
        banner ??= fetched.banner;
      }
      path = cachedBtfFile(bytes, root);
      // Only a BTF whose size matches what the kernel reported is remembered under its identity.
      if (identity && bytes.length === identity.btfSize) rememberBtf(root, identity, path);
    }
    if (identity) rememberTargetKernel(root, this.opts.targetId, identity);
    return { path, bytes, ...(banner ? { banner } : {}), what: banner ? `${this.opts.targetId} (${short(banner)})` : this.opts.targetId, fromCache };
  }

  /** The BTF to build probes against: the local copy when there is one, else the running kernel's. */
  async buildBtf(): Promise<KernelBtf> {
    return this.localBtf() ?? (await this.btf());
  }

  /** The hook catalog of this kernel (kept while its BTF file stays the same). */
  async catalog(): Promise<HookCatalog> {
    const btf = await this.buildBtf();
    if (this.catalogFor?.path !== btf.path) this.catalogFor = { path: btf.path, catalog: catalogFromFile(btf.path, btf.banner ? { kernel: btf.banner } : {}) };
    return this.catalogFor.catalog;
  }
}

/** This machine's own kernel BTF, for the local target. */
export function thisMachineBtf(): KernelBtf | undefined {
  const path = '/sys/kernel/btf/vmlinux';
  if (!existsSync(path)) return undefined;
  let banner: string | undefined;
  try {
    banner = readFileSync('/proc/version', 'utf8').trim();
  } catch {
    banner = undefined;
  }
  return { path, ...(banner ? { banner } : {}), what: "this machine's kernel", fromCache: true };
}
