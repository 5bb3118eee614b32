// Build Probe: compiles a *.bpf.c with clang for BPF, with CO-RE, against a vmlinux.h generated from the
// TARGET kernel's BTF (one header per BTF digest, i.e. per kernel build), and turns clang's diagnostics
// into structured records for the Problems view and the CLI.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { readBtfFile } from '../../shared/btf/readFile';
import { vmlinuxHeader } from '../../shared/tracer/compile';
import type { Target } from '../target';
import { buildOnTarget } from './remote';
import { parseClangDiagnostics, type ProbeBuild } from './result';

export { parseClangDiagnostics, type CompileDiagnostic, type ProbeBuild } from './result';

export interface ProbeBuildOptions {
  /** The probe's C source. */
  readonly source: string;
  /** The target kernel's BTF (raw BTF or vmlinux ELF). */
  readonly btfPath: string;
  /** Where vmlinux.h headers are cached. */
  readonly cacheDir: string;
  /** Default: <source without .c>.o next to the source. */
  readonly output?: string;
  readonly includeDirs?: readonly string[];
  readonly clang?: string;
  readonly bpftool?: string;
  /** Where to build when this machine has no clang (or bpftool): the target, which then needs them. */
  readonly fallbackTarget?: Target;
}

export class ProbeBuildError extends Error {}

export function defaultObjectPath(source: string): string {
  return source.replace(/\.c$/, '') + '.o';
}

function run(cmd: string, args: string[]): Promise<{ code: number; output: string; missing: boolean }> {
  return new Promise((done) => {
    execFile(cmd, args, { maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      done({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, output: `${stderr}${stdout}`, missing: e?.code === 'ENOENT' });
    });
  });
}

/** Compiles one probe; resolves with ok=false and the diagnostics when clang reports errors. */
export async function buildProbe(opts: ProbeBuildOptions): Promise<ProbeBuild> {
  const source = resolve(opts.source);
  if (!existsSync(source)) throw new ProbeBuildError(`${source} does not exist`);
  if (!existsSync(opts.btfPath)) throw new ProbeBuildError(`the target BTF ${opts.btfPath} does not exist; reconnect to the target to fetch it again`);
  const objectPath = resolve(opts.output ?? defaultObjectPath(source));
  mkdirSync(dirname(objectPath), { recursive: true });
  const clang = opts.clang ?? 'clang';
  if (opts.fallbackTarget && (!onPath(clang) || !onPath(opts.bpftool ?? 'bpftool'))) return buildOnTarget(opts.fallbackTarget, source, objectPath);
  const digest = createHash('sha256').update(readBtfFile(opts.btfPath)).digest('hex');
  let vmlinuxDir: string;
  try {
    vmlinuxDir = vmlinuxHeader(opts.btfPath, digest, opts.cacheDir, opts.bpftool);
  } catch (err) {
    throw new ProbeBuildError(`${(err as Error).message}`);
  }
  const tmp = `${objectPath}.tmp${process.pid}`;
  // -g: BTF line info, which is what maps a verifier rejection back to a source line.
  const args = [
    '-g', '-O2', '-Wall', '-target', 'bpf', '-D__TARGET_ARCH_x86',
    '-fno-color-diagnostics', '-fdiagnostics-absolute-paths',
    `-I${dirname(source)}`, ...(opts.includeDirs ?? []).map((d) => `-I${d}`), `-I${vmlinuxDir}`,
    '-c', source, '-o', tmp,
  ];
  const r = await run(clang, args);
  if (r.missing) throw new ProbeBuildError(`${clang} is not installed on this machine; install clang (Debian: apt-get install clang llvm libbpf-dev) to build probes`);
  const diagnostics = parseClangDiagnostics(r.output);
  if (r.code !== 0) {
    if (!diagnostics.some((d) => d.severity === 'error')) {
      diagnostics.push({ file: source, line: 1, column: 1, severity: 'error', message: `clang failed: ${r.output.trim().split('\n').slice(-3).join(' ') || `exit code ${r.code}`}` });
    }
    return { ok: false, objectPath, diagnostics, output: r.output, command: [clang, ...args], vmlinuxDir };
  }
  renameSync(tmp, objectPath);
  return { ok: true, objectPath, diagnostics, output: r.output, command: [clang, ...args], vmlinuxDir };
}

function onPath(tool: string): boolean {
  if (tool.includes('/')) return existsSync(tool);
  return (process.env.PATH ?? '').split(':').some((d) => d && existsSync(join(d, tool)));
}

export function objectName(path: string): string {
  return basename(path).replace(/\.o$/, '').replace(/\.bpf$/, '');
}
