// The catalog the server answers from, for the configured BTF. Owns loading and reloading: a bad
// btfPath is reported once (with what to do) and the server keeps answering nothing rather than crash.
import { release } from 'node:os';
import { catalogFromFile, HookCatalog } from '../shared/hooks/catalog';
import { join } from 'node:path';
import { DebianDocs } from '../shared/hooks/debianDocs';
import { findHookDocs, readPackagedDocs } from '../shared/hooks/docs';
import { formatKernelVersion, KernelVersion } from '../shared/hooks/kernelVersion';
import { ServerSettings } from '../shared/hooks/serverSettings';

export type { ServerSettings };

/** Docs extracted at package time, next to dist/server.js (see `bpf-lsm hooks --export-docs`). */
export const PACKAGED_DOCS = 'hook-docs.json';

export const DEFAULT_BTF = '/sys/kernel/btf/vmlinux';

export class HookSession {
  private catalog: HookCatalog | undefined;
  private error: string | undefined;
  private loaded = false;
  private settings: ServerSettings = {};

  private readonly debian: DebianDocs;

  constructor(
    private readonly log: (message: string) => void,
    cacheRoot?: string,
  ) {
    this.debian = new DebianDocs(cacheRoot);
  }

  configure(settings: ServerSettings): boolean {
    const next = { btfPath: settings.btfPath || undefined, kernelSourcePath: settings.kernelSourcePath || undefined, kernelVersion: settings.kernelVersion || undefined };
    const changed = JSON.stringify(next) !== JSON.stringify(this.settings);
    if (changed) {
      this.settings = next;
      this.loaded = false;
      this.catalog = undefined;
      this.error = undefined;
    }
    return changed;
  }

  get btfPath(): string {
    return this.settings.btfPath ?? DEFAULT_BTF;
  }

  /** The catalog, loading it on first use; undefined when the BTF cannot be read (see loadError). */
  get(): HookCatalog | undefined {
    if (!this.loaded) this.load();
    return this.catalog;
  }

  get loadError(): string | undefined {
    if (!this.loaded) this.load();
    return this.error;
  }

  private load(): void {
    this.loaded = true;
    const started = performance.now();
    try {
      const catalog = catalogFromFile(this.btfPath, { kernel: this.settings.kernelVersion });
      const local = this.btfPath === DEFAULT_BTF ? release() : catalog.kernel.description?.match(/\d+\.\d+\S*/)?.[0];
      const known = new Set(catalog.hooks.map((h) => h.name));
      const docs = findHookDocs(this.settings.kernelSourcePath, local, known);
      let documented = catalog.attachDocs(docs.docs);
      let where = docs.sources.map((s) => s.path).join(', ');
      if (documented > 0) catalog.docsOrigin = { exact: true, source: `kernel sources at ${where}` };
      const version = catalog.kernel.version;
      if (documented === 0 && version) {
        const cached = this.debian.fromCache(version, known);
        if (cached) {
          documented = catalog.attachDocs(cached.docs);
          catalog.docsOrigin = cached.origin;
          where = cached.origin.source;
        }
      }
      if (documented === 0) {
        const packaged = readPackagedDocs(join(__dirname, PACKAGED_DOCS));
        if (packaged) {
          documented = catalog.attachDocs(packaged);
          where = `${PACKAGED_DOCS} shipped with the extension`;
          catalog.docsOrigin = { exact: false, source: where };
        }
      }
      if (documented === 0) {
        if (version) this.fetchDebianDocs(catalog, version, known);
        else catalog.docsNote = NO_DOCS_HINT;
        where = version ? 'none local; fetching from Debian\'s packages' : 'none (kernel version unknown)';
      }
      this.catalog = catalog;
      this.log(`hook catalog: ${catalog.hooks.length} hooks from ${this.btfPath} (kernel ${catalog.kernelLabel}) in ${(performance.now() - started).toFixed(0)} ms; docs for ${documented}: ${where}`);
    } catch (err) {
      this.error = `BPF-LSM: cannot build the hook catalog: ${err instanceof Error ? err.message : String(err)}. Set bpfLsm.btfPath to a readable BTF file (raw BTF or a vmlinux with .BTF).`;
      this.log(this.error);
    }
  }

  /** Gets the kernel's documentation from Debian's packages in the background; hover says so meanwhile. */
  private fetchDebianDocs(catalog: HookCatalog, version: KernelVersion, known: ReadonlySet<string>): void {
    catalog.docsNote = `The kernel's documentation for ${formatKernelVersion(version)} is being fetched from Debian's kernel packages (once per kernel version, into ${this.debian.dir}); hover again in a moment.`;
    const started = performance.now();
    this.fetching = this.debian.fetch(version, known).then(
      ({ docs, origin }) => {
        const n = catalog.attachDocs(docs);
        catalog.docsOrigin = origin;
        catalog.docsNote = undefined;
        this.log(`hook docs: ${n} hooks documented from ${origin.source} (kernel ${origin.series}${origin.exact ? '' : `, nearest to ${catalog.kernelLabel}`}) in ${(performance.now() - started).toFixed(0)} ms`);
      },
      (err: Error) => {
        catalog.docsNote = `No kernel documentation: ${err.message}. ${NO_DOCS_HINT}`;
        this.log(`hook docs: ${err.message}`);
      },
    );
  }

  /** The background docs download, for tests and shutdown. */
  fetching: Promise<void> | undefined;
}

const NO_DOCS_HINT =
  'Set bpfLsm.kernelSourcePath to a kernel source or headers tree (include/linux/lsm_hooks.h up to 6.3, security/security.c from 6.4), or install Debian\'s linux-headers-<version>-common / linux-source-<series> package; with the network, the server fetches it itself for a known kernel version.';
