// Attaches the kernel's hook documentation to a catalog, from the first place that has it: a kernel tree
// (configured, the running kernel's build tree, /usr/src), the Debian package cache, docs shipped beside
// the bundle, else Debian's packages fetched in the background. The language server and
// `bpf-lsm hooks` both go through here, so hover, the tracing panel and the CLI show the same text.
import { release } from 'node:os';
import { join } from 'node:path';
import { HookCatalog } from './catalog';
import { DebianDocs } from './debianDocs';
import { findHookDocs, readPackagedDocs } from './docs';
import { formatKernelVersion } from './kernelVersion';

/** Docs extracted at package time, next to the bundle (see `bpf-lsm hooks --export-docs`). */
export const PACKAGED_DOCS = 'hook-docs.json';

export const DEFAULT_BTF = '/sys/kernel/btf/vmlinux';

export const NO_DOCS_HINT =
  "Set bpfLsm.kernelSourcePath to a kernel source or headers tree (include/linux/lsm_hooks.h up to 6.3, security/security.c from 6.4), or install Debian's linux-headers-<version>-common / linux-source-<series> package; with the network, the server fetches it itself for a known kernel version.";

export interface KernelDocsOptions {
  readonly btfPath: string;
  readonly kernelSourcePath?: string;
  /** The cache root (default: $BPF_LSM_CACHE, else ~/.cache/bpf-lsm-studio). */
  readonly cacheRoot?: string;
  /** Folder of the running bundle, where packaged docs would be. */
  readonly bundleDir?: string;
  readonly log?: (message: string) => void;
}

export interface KernelDocs {
  /** Hooks documented right away. */
  readonly documented: number;
  /** Where the docs came from, or why there are none yet (for logs). */
  readonly where: string;
  /** Set while Debian's packages are being fetched; settles when the catalog has docs or a docsNote. */
  readonly fetching?: Promise<void>;
}

export function attachKernelDocs(catalog: HookCatalog, opts: KernelDocsOptions): KernelDocs {
  const log = opts.log ?? ((): void => undefined);
  const local = opts.btfPath === DEFAULT_BTF ? release() : catalog.kernel.description?.match(/\d+\.\d+\S*/)?.[0];
  const known = new Set(catalog.hooks.map((h) => h.name));
  const found = findHookDocs(opts.kernelSourcePath, local, known);
  const documented = catalog.attachDocs(found.docs);
  if (documented > 0) {
    const where = found.sources.map((s) => s.path).join(', ');
    catalog.docsOrigin = { exact: true, source: `kernel sources at ${where}` };
    return { documented, where };
  }
  const debian = new DebianDocs(opts.cacheRoot);
  const version = catalog.kernel.version;
  const cached = version && debian.fromCache(version, known);
  if (cached) {
    catalog.docsOrigin = cached.origin;
    return { documented: catalog.attachDocs(cached.docs), where: cached.origin.source };
  }
  const packaged = opts.bundleDir ? readPackagedDocs(join(opts.bundleDir, PACKAGED_DOCS)) : undefined;
  if (packaged) {
    const where = `${PACKAGED_DOCS} shipped with the extension`;
    catalog.docsOrigin = { exact: false, source: where };
    return { documented: catalog.attachDocs(packaged), where };
  }
  if (!version) {
    catalog.docsNote = NO_DOCS_HINT;
    return { documented: 0, where: 'none (kernel version unknown)' };
  }
  catalog.docsNote = `The kernel's documentation for ${formatKernelVersion(version)} is being fetched from Debian's kernel packages (once per kernel version, into ${debian.dir}); hover again in a moment.`;
  const started = performance.now();
  const fetching = debian.fetch(version, known).then(
    ({ docs, origin }) => {
      const n = catalog.attachDocs(docs);
      catalog.docsOrigin = origin;
      catalog.docsNote = undefined;
      log(`hook docs: ${n} hooks documented from ${origin.source} (kernel ${origin.series}${origin.exact ? '' : `, nearest to ${catalog.kernelLabel}`}) in ${(performance.now() - started).toFixed(0)} ms`);
    },
    (err: Error) => {
      catalog.docsNote = `No kernel documentation: ${err.message}. ${NO_DOCS_HINT}`;
      log(`hook docs: ${err.message}`);
    },
  );
  return { documented: 0, where: "none local; fetching from Debian's packages", fetching };
}
