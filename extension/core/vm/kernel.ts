// The VM's kernel: Debian's linux-image-amd64 (6.1) or linux-image-6.12-amd64 (both have CONFIG_BPF_LSM=y
// and BTF), fetched with `apt-get download` and unpacked without installing it. qemu gets the uncompressed
// vmlinux (the xz or zstd payload of vmlinuz) because an ELF vmlinux boots through PVH, which skips the
// decompressor and real-mode setup: 2.4 s to a shell instead of 5.7 s under TCG.
import { execa } from 'execa';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { loadOrder, ModInfo, readModInfo, VM_MODULES } from './modules';
import { tempSibling } from './fsutil';
import { DEFAULT_VM_KERNEL, kernelDebVariable, VM_KERNELS, VmKernel } from './kernels';

export const KERNEL_META_PACKAGE = VM_KERNELS[DEFAULT_VM_KERNEL].metaPackage;

export interface KernelAssets {
  /** `uname -r` of the guest, e.g. 6.1.0-56-amd64. */
  readonly release: string;
  /** The Debian package and version the kernel came from. */
  readonly package: string;
  readonly version: string;
  readonly vmlinux: string;
  readonly config: string;
  /** Module files in insmod order. */
  readonly modules: readonly string[];
  /** Modules of VM_MODULES that this kernel has built in (6.12 builds virtio_pci and virtio_console in). */
  readonly builtin?: readonly string[];
}

const XZ_MAGIC = Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]);

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);

/** Offset of the xz stream inside a bzImage (Debian compresses its 6.1 kernels with xz). */
export function findXzPayload(vmlinuz: Buffer): number {
  const at = vmlinuz.indexOf(XZ_MAGIC);
  if (at < 0) throw new Error('the kernel image has no xz payload; only xz-compressed kernels (Debian) are supported');
  return at;
}

/**
 * The compressed kernel inside a bzImage, from the boot protocol's setup header (payload_offset at 0x248 and
 * payload_length at 0x24c, relative to the protected-mode code after the (setup_sects + 1) * 512 byte setup).
 * Debian compresses 6.1 with xz and 6.12 with zstd; the build appends the 4-byte decompressed size, which
 * zstd would read as a second, broken frame, so it is cut off.
 */
export function findPayload(vmlinuz: Buffer): { format: 'xz' | 'zstd'; data: Buffer } {
  if (vmlinuz.length > 0x250 && vmlinuz.toString('latin1', 0x202, 0x206) === 'HdrS') {
    const start = ((vmlinuz[0x1f1] || 4) + 1) * 512 + vmlinuz.readUInt32LE(0x248);
    const length = vmlinuz.readUInt32LE(0x24c);
    const data = vmlinuz.subarray(start, start + length);
    if (data.length === length && data.subarray(0, 4).equals(ZSTD_MAGIC)) return { format: 'zstd', data: data.subarray(0, length - 4) };
    if (data.length === length && data.subarray(0, 6).equals(XZ_MAGIC)) return { format: 'xz', data };
  }
  return { format: 'xz', data: vmlinuz.subarray(findXzPayload(vmlinuz)) };
}

/** Resolves the meta package (linux-image-amd64) to the versioned image package it depends on. */
export function parseImageDependency(aptCacheShow: string, meta: string = KERNEL_META_PACKAGE): string {
  const depends = /^Depends:\s*(.*)$/m.exec(aptCacheShow)?.[1] ?? '';
  const pkg = depends.split(/[,|]/).map((d) => d.trim().split(/\s/)[0]).find((d) => /^linux-image-\d/.test(d));
  if (!pkg) throw new Error(`could not find the kernel image package ${meta} depends on`);
  return pkg;
}

async function run(program: string, args: string[], what: string, cwd?: string): Promise<string> {
  try {
    const r = await execa(program, args, { cwd, reject: false, stripFinalNewline: true });
    if (r.exitCode !== 0) throw new Error(`${what} failed (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().split('\n').slice(-3).join(' | ')}`);
    return r.stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${what} needs ${program}, which is not installed`);
    throw err;
  }
}

/**
 * Downloads the kernel .deb into `dir` (or uses `$BPF_LSM_VM_KERNEL_DEB`) and returns its path.
 * `apt-get download` only works from package lists that `apt-get update` fetched, hence the advice.
 */
export async function downloadKernelDeb(dir: string, kernel: VmKernel = DEFAULT_VM_KERNEL): Promise<string> {
  const variable = kernelDebVariable(kernel);
  const given = process.env[variable];
  if (given) {
    if (!existsSync(given)) throw new Error(`${variable} points to ${given}, which does not exist`);
    return given;
  }
  mkdirSync(dir, { recursive: true });
  const meta = VM_KERNELS[kernel].metaPackage;
  let pkg: string;
  try {
    pkg = parseImageDependency(await run('apt-cache', ['show', '--no-all-versions', meta], 'looking up the kernel package'), meta);
  } catch (err) {
    throw new Error(
      `${(err as Error).message}. The VM's ${kernel} kernel comes from Debian's ${meta} package: on Debian 12 run ` +
        `\`sudo apt-get update\` once and retry; elsewhere set ${variable} to a downloaded linux-image-${kernel}*-amd64 .deb.`,
    );
  }
  for (const f of readdirSync(dir)) if (f.endsWith('.deb')) rmSync(join(dir, f));
  try {
    await run('apt-get', ['download', pkg], `apt-get download ${pkg}`, dir);
  } catch (err) {
    throw new Error(`${(err as Error).message}. Run \`sudo apt-get update\` so apt knows where to fetch ${pkg}, then retry.`);
  }
  const deb = readdirSync(dir).find((f) => f.startsWith(pkg + '_') && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} succeeded but left no .deb in ${dir}`);
  return join(dir, deb);
}

/** Decompresses the xz or zstd payload of vmlinuz into `out` (atomically). */
export async function extractVmlinux(vmlinuz: string, out: string): Promise<void> {
  const { format, data } = findPayload(readFileSync(vmlinuz));
  const tmp = tempSibling(out);
  const payload = `${tmp}.${format}`;
  try {
    // --single-stream: the bzImage carries trailing data after the xz stream, which is not an error here.
    // The decompressor reads from a file, not a pipe: xz stops reading at the stream's end, and a writer
    // still feeding a pipe would then fail with EPIPE depending on timing.
    writeFileSync(payload, data);
    const [program, args] = format === 'xz' ? ['xz', ['-dc', '--single-stream', payload]] : ['zstd', ['-dcq', payload]];
    const r = await execa(program, args, { stdin: 'ignore', stdout: { file: tmp }, reject: false });
    if (r.exitCode !== 0) throw new Error(`decompressing the kernel with ${program} failed: ${String(r.stderr).trim() || r.shortMessage}`);
    const head = readFileSync(tmp).subarray(0, 4);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error('the decompressed kernel is not an ELF vmlinux');
    renameSync(tmp, out);
  } catch (err) {
    rmSync(tmp, { force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`decompressing the kernel needs ${format === 'xz' ? 'xz (Debian package xz-utils)' : 'zstd (Debian package zstd)'}`);
    throw err;
  } finally {
    rmSync(payload, { force: true });
  }
}

/**
 * Unpacks only what the VM needs from the .deb (kernel, config, a few module folders) into `kernelDir`,
 * which is created atomically: it either holds a complete kernel.json or does not exist.
 */
export async function unpackKernel(deb: string, kernelDir: string, onStep: (s: string) => void, kernel: VmKernel = DEFAULT_VM_KERNEL): Promise<KernelAssets> {
  const work = tempSibling(kernelDir);
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    onStep(`unpacking ${basename(deb)}`);
    const info = await run('dpkg-deb', ['--field', deb, 'Package', 'Version'], 'reading the kernel package');
    const pkg = /^Package:\s*(\S+)/m.exec(info)?.[1] ?? basename(deb);
    const version = /^Version:\s*(\S+)/m.exec(info)?.[1] ?? 'unknown';
    const raw = join(work, 'raw');
    mkdirSync(raw);
    const patterns = [
      './boot/vmlinuz-*',
      './boot/config-*',
      // 6.1 ships plain .ko files, 6.12 xz-compressed .ko.xz ones.
      './lib/modules/*/kernel/drivers/virtio/*.ko*',
      './lib/modules/*/kernel/drivers/net/*.ko*',
      './lib/modules/*/kernel/net/core/*.ko*',
      './lib/modules/*/kernel/drivers/char/hw_random/*.ko*',
      // virtio_console.ko; 6.12 builds it in, and a pattern that matches nothing fails tar.
      './lib/modules/*/kernel/drivers/char/*.ko*',
      './lib/modules/*/modules.builtin',
    ];
    // Streamed straight into tar so the 400 MB of modules we do not need are never written to disk.
    const script = 'deb=$1; dir=$2; shift 2; dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir" --wildcards --no-wildcards-match-slash "$@"';
    await run('sh', ['-c', script, 'unpack', deb, raw, ...patterns], 'unpacking the kernel package (dpkg-deb | tar)');
    const boot = join(raw, 'boot');
    const vmlinuz = existsSync(boot) ? readdirSync(boot).find((f) => f.startsWith('vmlinuz-')) : undefined;
    if (!vmlinuz) throw new Error(`${basename(deb)} contains no /boot/vmlinuz-*; is it a linux-image package?`);
    const release = vmlinuz.slice('vmlinuz-'.length);
    const series = VM_KERNELS[kernel].series;
    if (!release.startsWith(`${series}.`)) throw new Error(`${basename(deb)} holds kernel ${release}, not a ${series} kernel; pass a linux-image-${series}*-amd64 .deb`);
    onStep(`decompressing the ${release} kernel`);
    await extractVmlinux(join(boot, vmlinuz), join(work, 'vmlinux'));
    copyFileSync(join(boot, `config-${release}`), join(work, 'config'));

    const modRoot = join(raw, 'lib', 'modules', release, 'kernel');
    const available = new Map<string, ModInfo & { file: string }>();
    const walk = async (d: string) => {
      if (!existsSync(d)) return;
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        if (statSync(p).isDirectory()) await walk(p);
        else if (f.endsWith('.ko.xz')) {
          // busybox insmod takes plain modules only: decompress once here.
          const plain = p.slice(0, -3);
          await run('xz', ['-d', p], `decompressing ${f}`);
          const info = readModInfo(readFileSync(plain), f);
          available.set(info.name, { ...info, file: plain });
        } else if (f.endsWith('.ko')) {
          const info = readModInfo(readFileSync(p), f);
          available.set(info.name, { ...info, file: p });
        }
      }
    };
    await walk(modRoot);
    const builtin = builtinModules(join(raw, 'lib', 'modules', release, 'modules.builtin')).filter((m) => (VM_MODULES as readonly string[]).includes(m));
    const order = loadOrder(VM_MODULES.filter((m) => !builtin.includes(m)), available);
    mkdirSync(join(work, 'modules'));
    const modules = order.map((name, i) => {
      const file = `${String(i).padStart(2, '0')}-${name}.ko`;
      copyFileSync(available.get(name)!.file, join(work, 'modules', file));
      return file;
    });
    rmSync(raw, { recursive: true, force: true });
    const meta = { release, package: pkg, version, modules, builtin };
    writeFileSync(join(work, 'kernel.json'), JSON.stringify(meta, null, 2) + '\n');
    rmSync(kernelDir, { recursive: true, force: true });
    renameSync(work, kernelDir);
    return kernelAssetsAt(kernelDir)!;
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
}

/** Module names from a modules.builtin file (`kernel/drivers/virtio/virtio_pci.ko` per line); none when it is missing. */
export function builtinModules(file: string): string[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => basename(l.trim()).replace(/\.ko.*$/, '').replace(/-/g, '_'));
}

/**
 * The kernel assets in `kernelDir`, or undefined when that folder is missing, incomplete, or holds another
 * series than `kernel` (it is then unpacked again).
 */
export function kernelAssetsAt(kernelDir: string, kernel?: VmKernel): KernelAssets | undefined {
  try {
    const meta = JSON.parse(readFileSync(join(kernelDir, 'kernel.json'), 'utf8')) as { release: string; package: string; version: string; modules: string[]; builtin?: string[] };
    const vmlinux = join(kernelDir, 'vmlinux');
    const modules = meta.modules.map((m) => join(kernelDir, 'modules', m));
    const builtin = meta.builtin ?? [];
    if (![vmlinux, ...modules].every((f) => existsSync(f))) return undefined;
    if (kernel && !meta.release.startsWith(`${VM_KERNELS[kernel].series}.`)) return undefined;
    // A kernel unpacked by an older version that wanted fewer modules is unpacked again.
    if (!VM_MODULES.every((name) => builtin.includes(name) || meta.modules.some((m) => m.endsWith(`-${name}.ko`)))) return undefined;
    return { release: meta.release, package: meta.package, version: meta.version, vmlinux, config: join(kernelDir, 'config'), modules, builtin };
  } catch {
    return undefined;
  }
}

