// The catalog the server answers from, for the configured BTF. Owns loading and reloading: a bad
// btfPath is reported once (with what to do) and the server keeps answering nothing rather than crash.
import { catalogFromFile, HookCatalog } from '../shared/hooks/catalog';
import { attachKernelDocs, DEFAULT_BTF, PACKAGED_DOCS } from '../shared/hooks/kernelDocs';
import { ServerSettings } from '../shared/hooks/serverSettings';

export type { ServerSettings };
export { DEFAULT_BTF, PACKAGED_DOCS };

export class HookSession {
  private catalog: HookCatalog | undefined;
  private error: string | undefined;
  private loaded = false;
  private settings: ServerSettings = {};

  constructor(
    private readonly log: (message: string) => void,
    private readonly cacheRoot?: string,
  ) {}

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
      const docs = attachKernelDocs(catalog, { btfPath: this.btfPath, kernelSourcePath: this.settings.kernelSourcePath, cacheRoot: this.cacheRoot, bundleDir: __dirname, log: this.log });
      this.fetching = docs.fetching;
      this.catalog = catalog;
      this.log(`hook catalog: ${catalog.hooks.length} hooks from ${this.btfPath} (kernel ${catalog.kernelLabel}) in ${(performance.now() - started).toFixed(0)} ms; docs for ${docs.documented}: ${docs.where}`);
    } catch (err) {
      this.error = `BPF-LSM: cannot build the hook catalog: ${err instanceof Error ? err.message : String(err)}. Set bpfLsm.btfPath to a readable BTF file (raw BTF or a vmlinux with .BTF).`;
      this.log(this.error);
    }
  }

  /** The background docs download, when one runs. */
  fetching: Promise<void> | undefined;
}
