// The one cache of target kernels' BTF, keyed by kernel identity (see KernelIdentity): a kernel seen before
// is recognised with one command instead of a multi-megabyte read. Files live in <cache>/btf/: <digest>.btf
// (the BTF bytes), kernel-<hash>.json (identity -> BTF file) and target-<hash>.json (target id -> the
// identity last seen there, so the language server can answer for a remote target while it is offline).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../shared/atomicWrite';

/**
 * What identifies a running kernel's BTF without reading it: /proc/version (release, build number, compiler
 * and build time) plus the size of /sys/kernel/btf/vmlinux. Reading the BTF itself through the helper is
 * seconds on a TCG VM or a slow link (0.9-4.6 s measured for 4.3 MB from the built-in VM); this is one command.
 */
export interface KernelIdentity {
  readonly banner: string;
  readonly btfSize: number;
}

export const IDENTITY_SCRIPT = 'cat /proc/version && stat -c %s /sys/kernel/btf/vmlinux';

export function parseIdentity(stdout: string): KernelIdentity | undefined {
  const lines = stdout.trim().split('\n');
  const btfSize = Number(lines.pop());
  const banner = lines.join('\n').trim();
  return banner.startsWith('Linux version ') && Number.isSafeInteger(btfSize) && btfSize > 0 ? { banner, btfSize } : undefined;
}

const hashed = (text: string) => createHash('sha256').update(text).digest('hex').slice(0, 24);

/** Stores BTF bytes under their digest (once) and returns the file. */
export function cachedBtfFile(btf: Buffer, root: string): string {
  const dir = join(root, 'btf');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${createHash('sha256').update(btf).digest('hex').slice(0, 24)}.btf`);
  if (!existsSync(file)) writeFileAtomic(file, btf);
  return file;
}

function identityIndexFile(root: string, id: KernelIdentity): string {
  return join(root, 'btf', `kernel-${hashed(`${id.banner}\n${id.btfSize}`)}.json`);
}

/** The cached BTF file of a kernel seen before, when it is still there with the size the kernel reports. */
export function lookupBtf(root: string, id: KernelIdentity): string | undefined {
  try {
    const entry = JSON.parse(readFileSync(identityIndexFile(root, id), 'utf8')) as { btf?: unknown };
    // Only a file this cache named (<digest>.btf), never a path an edited index points elsewhere with.
    if (typeof entry.btf !== 'string' || !/^[0-9a-f]{24}\.btf$/.test(entry.btf)) return undefined;
    const file = join(root, 'btf', entry.btf);
    return statSync(file).size === id.btfSize ? file : undefined;
  } catch {
    return undefined;
  }
}

export function rememberBtf(root: string, id: KernelIdentity, btfFile: string): void {
  writeFileAtomic(identityIndexFile(root, id), JSON.stringify({ banner: id.banner, btfSize: id.btfSize, btf: btfFile.slice(join(root, 'btf').length + 1) }));
}

function targetIndexFile(root: string, targetId: string): string {
  return join(root, 'btf', `target-${hashed(targetId)}.json`);
}

/** Records that `targetId` last ran the kernel `id` (whose BTF is cached). */
export function rememberTargetKernel(root: string, targetId: string, id: KernelIdentity): void {
  mkdirSync(join(root, 'btf'), { recursive: true });
  writeFileAtomic(targetIndexFile(root, targetId), JSON.stringify({ target: targetId, banner: id.banner, btfSize: id.btfSize }));
}

/** The kernel `targetId` ran when it was last reached, with its cached BTF file. */
export function lastTargetKernel(root: string, targetId: string): { identity: KernelIdentity; file: string } | undefined {
  try {
    const entry = JSON.parse(readFileSync(targetIndexFile(root, targetId), 'utf8')) as { banner?: unknown; btfSize?: unknown };
    if (typeof entry.banner !== 'string' || typeof entry.btfSize !== 'number') return undefined;
    const identity = { banner: entry.banner, btfSize: entry.btfSize };
    const file = lookupBtf(root, identity);
    return file ? { identity, file } : undefined;
  } catch {
    return undefined;
  }
}
