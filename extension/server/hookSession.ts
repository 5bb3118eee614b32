// The catalog the server answers from, for the configured BTF. Owns loading and reloading: a bad
// btfPath is reported once (with what to do) and the server keeps answering nothing rather than crash.
import { release } from 'node:os';
import { catalogFromFile, HookCatalog } from '../shared/hooks/catalog';
import { join } from 'node:path';
import { findHookDocs, readPackagedDocs } from '../shared/hooks/docs';
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

  constructor(private readonly log: (message: string) => void) {}

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
      const docs = findHookDocs(this.settings.kernelSourcePath, local, new Set(catalog.hooks.map((h) => h.name)));
      let documented = catalog.attachDocs(docs.docs);
      let where = docs.sources.map((s) => s.path).join(', ');
      if (documented === 0) {
        const packaged = readPackagedDocs(join(__dirname, PACKAGED_DOCS));
        if (packaged) {
          documented = catalog.attachDocs(packaged);
          where = `${PACKAGED_DOCS} shipped with the extension`;
        }
      }
      if (!where) where = 'no kernel sources found (set bpfLsm.kernelSourcePath)';
      this.catalog = catalog;
      this.log(`hook catalog: ${catalog.hooks.length} hooks from ${this.btfPath} (kernel ${catalog.kernelLabel}) in ${(performance.now() - started).toFixed(0)} ms; docs for ${documented}: ${where}`);
    } catch (err) {
      this.error = `BPF-LSM: cannot build the hook catalog: ${err instanceof Error ? err.message : String(err)}. Set bpfLsm.btfPath to a readable BTF file (raw BTF or a vmlinux with .BTF).`;
      this.log(this.error);
    }
  }
}
