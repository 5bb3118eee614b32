// Host side of the tracer (Node only, not for the webview): the syscall table from the build machine's
// kernel headers, vmlinux.h from the TARGET's BTF, and clang, with a cache keyed by what decides the
// object's bytes (target BTF, generator version, generated source and the hand-written headers).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readBtfFile } from '../btf/readFile';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { catalogFromFile } from '../hooks/catalog';
import { generateTracer, GenerateOptions, TracerGeneration } from './generate';
import { parseSyscallDefines } from './syscalls';
import { writeFileAtomic } from '../atomicWrite';

export class TracerBuildError extends Error {}

function tool(name: string, args: string[], what: string, input?: string): Buffer {
  try {
    return execFileSync(name, args, { input, maxBuffer: 512 << 20, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: Buffer; stdout?: Buffer };
    if (e.code === 'ENOENT') throw new TracerBuildError(`${what} needs ${name}, which is not installed (Debian: apt-get install clang llvm bpftool libbpf-dev)`);
    const out = `${e.stderr?.toString() ?? ''}${e.stdout?.toString() ?? ''}`.trim();
    throw new TracerBuildError(`${what} failed:\n${out.split('\n').slice(0, 40).join('\n') || e.message}`);
  }
}

/**
 * x86_64 syscall names from the kernel headers, through the preprocessor (so no header path is assumed:
 * clang finds asm/unistd_64.h where the distribution put it).
 */
export function hostSyscallTable(clang = 'clang'): Record<number, string> {
  const text = tool(clang, ['-target', 'x86_64-linux-gnu', '-E', '-dM', '-x', 'c', '-'], 'reading syscall numbers (linux-libc-dev headers)', '#include <asm/unistd_64.h>\n').toString();
  const table = parseSyscallDefines(text);
  if (Object.keys(table).length < 300) throw new TracerBuildError('asm/unistd_64.h gave fewer than 300 syscalls; install linux-libc-dev');
  return table;
}

export interface CompileOptions {
  /** The target kernel's BTF: raw BTF or a vmlinux ELF (what bpftool accepts). */
  readonly btfPath: string;
  /** bpf/tracer of this extension (tracer.h, tracer_core.h). */
  readonly headersDir: string;
  /** Where compiled objects and vmlinux.h files are kept. */
  readonly cacheDir: string;
  readonly clang?: string;
  readonly bpftool?: string;
}

export interface CompiledTracer {
  readonly object: Buffer;
  /** tracer_maps.bpf.c: the shared maps only, what a session opens when the tracer is resident. */
  readonly mapsObject: Buffer;
  readonly cacheKey: string;
  readonly fromCache: boolean;
  readonly objectPath: string;
  readonly mapsPath: string;
}

function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** vmlinux.h for a BTF, kept per BTF digest (the dump of a full kernel takes a second or two). */
export function vmlinuxHeader(btfPath: string, btfDigest: string, cacheDir: string, bpftool = 'bpftool'): string {
  const dir = join(cacheDir, `vmlinux-${btfDigest.slice(0, 16)}`);
  const header = join(dir, 'vmlinux.h');
  if (existsSync(header)) return dir;
  mkdirSync(dir, { recursive: true });
  writeFileAtomic(header, tool(bpftool, ['btf', 'dump', 'file', btfPath, 'format', 'c'], `generating vmlinux.h from ${btfPath}`));
  return dir;
}

/** Compiles a generated tracer against the target's BTF; returns the .bpf.o bytes. */
export function compileTracer(gen: TracerGeneration, opts: CompileOptions): CompiledTracer {
  if (!existsSync(opts.btfPath)) throw new TracerBuildError(`the target BTF ${opts.btfPath} does not exist`);
  const btfDigest = sha256(readBtfFile(opts.btfPath));
  const headers = readdirSync(opts.headersDir).filter((f) => f.endsWith('.h') || f.endsWith('.bpf.c')).sort();
  if (!headers.includes('tracer_core.h')) throw new TracerBuildError(`${opts.headersDir} has no tracer_core.h (is it the extension's bpf/tracer folder?)`);
  const h = createHash('sha256').update(btfDigest).update(gen.generator).update(gen.bpfSource);
  for (const f of headers) h.update(f).update(readFileSync(join(opts.headersDir, f)));
  const cacheKey = h.digest('hex');
  mkdirSync(opts.cacheDir, { recursive: true });
  const objectPath = join(opts.cacheDir, `tracer-${cacheKey.slice(0, 24)}.bpf.o`);
  const mapsPath = join(opts.cacheDir, `tracer-${cacheKey.slice(0, 24)}.maps.bpf.o`);
  // The maps object is written first, so a cached tracer always has its maps object.
  if (existsSync(objectPath)) return { object: readFileSync(objectPath), mapsObject: readFileSync(mapsPath), cacheKey, fromCache: true, objectPath, mapsPath };

  const vmlinuxDir = vmlinuxHeader(opts.btfPath, btfDigest, opts.cacheDir, opts.bpftool);
  const work = join(opts.cacheDir, `build-${cacheKey.slice(0, 12)}-${process.pid}`);
  mkdirSync(work, { recursive: true });
  try {
    const src = join(work, 'tracer.bpf.c');
    writeFileSync(src, gen.bpfSource);
    const out = join(work, 'tracer.bpf.o');
    const cflags = ['-g', '-O2', '-Wall', '-Wno-unused-function', '-Werror=implicit-function-declaration', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-I${opts.headersDir}`, `-I${vmlinuxDir}`];
    tool(opts.clang ?? 'clang', [...cflags, '-c', src, '-o', out], `compiling the tracer for ${gen.kernel}`);
    const mapsOut = join(work, 'tracer_maps.bpf.o');
    tool(opts.clang ?? 'clang', [...cflags, '-c', join(opts.headersDir, 'tracer_maps.bpf.c'), '-o', mapsOut], 'compiling the tracer\'s maps object');
    // DWARF is most of the object and nobody reads it; BTF (kept by strip -g) is what libbpf needs.
    const strip = ['llvm-strip', 'llvm-strip-14'].find((t) => {
      try {
        execFileSync(t, ['--version'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    });
    if (strip) tool(strip, ['-g', out], 'stripping debug info from the tracer');
    const object = readFileSync(out);
    const mapsObject = readFileSync(mapsOut);
    writeFileAtomic(mapsPath, mapsObject);
    writeFileAtomic(objectPath, object);
    return { object, mapsObject, cacheKey, fromCache: false, objectPath, mapsPath };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export interface TracerBuild {
  readonly generation: TracerGeneration;
  readonly compiled: CompiledTracer;
}

/**
 * Catalog, generation and compile in one call, for a target whose BTF is at `btfPath` (raw BTF or a
 * vmlinux). `kernel` is the target's version or /proc/version text: it picks the version rules
 * (disabled and sleepable hooks, trampoline argument limit).
 */
export function buildTracer(opts: CompileOptions & { readonly kernel?: string; readonly hooks?: GenerateOptions['hooks'] }): TracerBuild {
  const catalog = catalogFromFile(opts.btfPath, opts.kernel ? { kernel: opts.kernel } : {});
  const generation = generateTracer(catalog, { syscalls: hostSyscallTable(opts.clang), ...(opts.hooks ? { hooks: opts.hooks } : {}) });
  return { generation, compiled: compileTracer(generation, opts) };
}
