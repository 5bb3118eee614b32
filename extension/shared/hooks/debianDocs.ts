// Hook documentation for a kernel version when neither the target nor this machine has kernel sources:
// fetched at run time from Debian's packages with `apt-get download` (no root needed) and extracted once
// into the cache, per kernel series. Nothing of the kernel's text is part of this repository.
//   up to 6.3: linux-headers-<abi>-common carries include/linux/lsm_hooks.h with the `@hook:` entries;
//   6.4 on:    the kerneldoc moved to security/security.c, which only linux-source-<series> carries.
// When Debian has no package for the exact series, the nearest one is used and the origin says so.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { cacheRoot } from '../cacheRoot';
import { claimPidFile, pidAlive } from '../pidFile';
import { DocsOrigin } from './catalog';
import { DocFormat, docsFromSource } from './docs';
import { compareKernelVersions, KernelVersion } from './kernelVersion';

const run = promisify(execFile);


/** What the cache keeps per series: the extracted source file and where it came from. */
interface CachedEntry {
  readonly series: string;
  readonly package: string;
  readonly version: string;
  readonly format: DocFormat;
  readonly file: string;
}

export interface DebianPackage {
  readonly name: string;
  readonly series: string;
  readonly format: DocFormat;
}

const SECURITY_C_SINCE = { major: 6, minor: 4, patch: 0 };

function seriesOf(v: KernelVersion): string {
  return `${v.major}.${v.minor}`;
}

function parseSeries(s: string): KernelVersion {
  const [major, minor] = s.split('.').map(Number);
  return { major, minor, patch: 0 };
}

/**
 * The documentation packages among `apt-cache search` names: headers-common for series before 6.4
 * (highest ABI per series), linux-source for 6.4 on.
 */
export function docPackages(names: readonly string[]): DebianPackage[] {
  const best = new Map<string, { abi: number; name: string }>();
  const out: DebianPackage[] = [];
  for (const name of names) {
    const h = /^linux-headers-(\d+\.\d+)\.\d+-(\d+)-common$/.exec(name);
    if (h && compareKernelVersions(parseSeries(h[1]), SECURITY_C_SINCE) < 0) {
      const prev = best.get(h[1]);
      if (!prev || Number(h[2]) > prev.abi) best.set(h[1], { abi: Number(h[2]), name });
    }
    const s = /^linux-source-(\d+\.\d+)$/.exec(name);
    if (s && compareKernelVersions(parseSeries(s[1]), SECURITY_C_SINCE) >= 0) out.push({ name, series: s[1], format: 'security.c' });
  }
  for (const [series, { name }] of best) out.push({ name, series, format: 'lsm_hooks.h' });
  return out;
}

/** The package for `v`: its own series, else the nearest one (ties go to the newer). */
export function pickPackage(packages: readonly DebianPackage[], v: KernelVersion): DebianPackage | undefined {
  const distance = (p: DebianPackage): number => {
    const s = parseSeries(p.series);
    return Math.abs((s.major - v.major) * 1000 + (s.minor - v.minor));
  };
  return [...packages].sort((a, b) => distance(a) - distance(b) || compareKernelVersions(parseSeries(b.series), parseSeries(a.series)))[0];
}

export class DebianDocs {
  readonly dir: string;

  constructor(root = cacheRoot()) {
    this.dir = join(root, 'hook-docs');
  }

  private entry(series: string): CachedEntry | undefined {
    const meta = join(this.dir, series, 'origin.json');
    if (!existsSync(meta)) return undefined;
    try {
      const e = JSON.parse(readFileSync(meta, 'utf8')) as CachedEntry;
      return existsSync(join(this.dir, series, e.file)) ? e : undefined;
    } catch {
      return undefined;
    }
  }

  /** Series already extracted into the cache. */
  cachedSeries(): string[] {
    if (!existsSync(this.dir)) return [];
    return readdirSync(this.dir).filter((s) => /^\d+\.\d+$/.test(s) && this.entry(s) !== undefined);
  }

  /** Docs from the cache only (no network): the exact series, else none. */
  fromCache(v: KernelVersion, knownHooks?: ReadonlySet<string>): { docs: Map<string, string>; origin: DocsOrigin } | undefined {
    return this.load(seriesOf(v), v, knownHooks);
  }

  private load(series: string, v: KernelVersion, knownHooks?: ReadonlySet<string>): { docs: Map<string, string>; origin: DocsOrigin } | undefined {
    const e = this.entry(series);
    if (!e) return undefined;
    const docs = docsFromSource({ path: join(this.dir, series, e.file), format: e.format }, knownHooks);
    return { docs, origin: { series, exact: series === seriesOf(v), source: `Debian package ${e.package} ${e.version}` } };
  }

  /**
   * Docs for kernel `v`: from the cache, else downloaded and extracted (once per series). Rejects with
   * what to do when apt cannot get a package (offline, not Debian).
   */
  async fetch(v: KernelVersion, knownHooks?: ReadonlySet<string>): Promise<{ docs: Map<string, string>; origin: DocsOrigin }> {
    const cached = this.fromCache(v, knownHooks);
    if (cached) return cached;
    let names: string[];
    try {
      const { stdout } = await run('apt-cache', ['search', '--names-only', '^linux-(headers-[0-9.]+-[0-9]+-common|source-[0-9.]+)$'], { maxBuffer: 8 << 20 });
      names = stdout.split('\n').map((l) => l.split(' - ')[0].trim()).filter(Boolean);
    } catch (err) {
      throw new Error(`apt-cache is not available (${(err as Error).message.split('\n')[0]}): hook documentation comes from Debian's kernel packages`);
    }
    const pkg = pickPackage(docPackages(names), v);
    // A series Debian no longer lists may still be in the cache from an earlier download.
    const nearestCached = this.cachedSeries().sort((a, b) => Math.abs(parseSeries(a).minor - v.minor) - Math.abs(parseSeries(b).minor - v.minor))[0];
    if (!pkg) {
      if (nearestCached) return this.load(nearestCached, v, knownHooks)!;
      throw new Error('apt knows no linux-headers-*-common or linux-source-* package (run apt-get update)');
    }
    const have = this.load(pkg.series, v, knownHooks);
    if (have) return have;
    // Several servers (windows, tests) may want the same series at once: one downloads, the others wait for it.
    const lock = join(this.dir, `${pkg.series}.lock`);
    mkdirSync(this.dir, { recursive: true });
    while (!claimPidFile(lock)) {
      await new Promise((r) => setTimeout(r, 500));
      const done = this.load(pkg.series, v, knownHooks);
      if (done) return done;
    }
    try {
      await this.extract(pkg);
    } finally {
      rmSync(lock, { force: true });
    }
    return this.load(pkg.series, v, knownHooks)!;
  }

  /** Downloads `pkg` and keeps only the documentation file (written under a temporary name, then renamed). */
  private async extract(pkg: DebianPackage): Promise<void> {
    // Leftovers of a server killed while extracting (its pid is gone) go first.
    for (const name of readdirSync(this.dir)) {
      const m = /\.tmp(\d+)$/.exec(name);
      if (m && !pidAlive(Number(m[1]))) rmSync(join(this.dir, name), { recursive: true, force: true });
    }
    const work = join(this.dir, `${pkg.series}.tmp${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    try {
      try {
        await run('apt-get', ['download', pkg.name], { cwd: work, maxBuffer: 8 << 20 });
      } catch (err) {
        const why = ((err as { stderr?: string }).stderr || (err as Error).message).trim().split('\n').pop();
        throw new Error(`apt-get download ${pkg.name} failed: ${why}`);
      }
      const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
      if (!deb) throw new Error(`apt-get download ${pkg.name} left no .deb`);
      const version = /_([^_]+)_[^_]+\.deb$/.exec(deb)?.[1]?.replace(/%3a/gi, ':') ?? '';
      const file = pkg.format === 'lsm_hooks.h' ? 'lsm_hooks.h' : 'security.c';
      const script =
        pkg.format === 'lsm_hooks.h'
          ? 'dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "*/include/linux/lsm_hooks.h" > "$2"'
          : 'dpkg-deb --fsys-tarfile "$1" | tar -xO --wildcards "*/linux-source-*.tar.xz" | xz -dc | tar -xO --wildcards "*/security/security.c" > "$2"';
      try {
        await run('sh', ['-c', script, 'sh', join(work, deb), join(work, file)], { maxBuffer: 8 << 20 });
      } catch (err) {
        throw new Error(`extracting ${file} from ${deb} failed (needs dpkg-deb, tar, xz): ${((err as { stderr?: string }).stderr || (err as Error).message).trim()}`);
      }
      const dest = join(this.dir, pkg.series);
      mkdirSync(dest, { recursive: true });
      renameSync(join(work, file), join(dest, file));
      const entry: CachedEntry = { series: pkg.series, package: pkg.name, version, format: pkg.format, file };
      writeFileSync(join(dest, 'origin.json.tmp'), `${JSON.stringify(entry)}\n`);
      renameSync(join(dest, 'origin.json.tmp'), join(dest, 'origin.json'));
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }
}
