// Preparing the VM's assets once into the cache: the kernel (downloaded and unpacked), an ssh key pair for
// the product and a host key for the guest, and the initramfs. Each step is skipped when its output is
// already complete, so a warm `vm up` only checks a few files.
import { execa } from 'execa';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { writeCpio } from './cpio';
import { atomicWrite, tempSibling } from './fsutil';
import { helperBundle } from '../targets/deploy';
import { findHostTools, imageFingerprint, ImageHelper, ImageInputs, imagePlan, sharedLibraries } from './image';
import { downloadKernelDeb, KernelAssets, kernelAssetsAt, unpackKernel } from './kernel';
import { VM_HOST_ALIAS, VmPaths } from './paths';
import { kernelDebVariable, VM_KERNELS } from './kernels';

/** Bump when the image layout or the init script changes, so existing caches rebuild their image. */
export const IMAGE_FORMAT = 6;

export type Progress = (message: string) => void;

export interface PreparedAssets {
  readonly kernel: KernelAssets;
  readonly image: string;
  /** What was (re)built this time; empty when everything came from the cache. */
  readonly built: string[];
}

async function ensureKeys(paths: VmPaths, progress: Progress): Promise<boolean> {
  if ([paths.clientKey, `${paths.clientKey}.pub`, paths.hostKey, `${paths.hostKey}.pub`, paths.knownHosts].every(existsSync)) return false;
  progress('generating ssh keys for the VM');
  const work = tempSibling(paths.keys);
  mkdirSync(work, { recursive: true, mode: 0o700 });
  try {
    for (const [file, comment] of [
      ['id_ed25519', 'bpf-lsm-studio'],
      ['ssh_host_ed25519_key', 'bpf-lsm-vm'],
    ]) {
      const r = await execa('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', comment, '-f', join(work, file)], { reject: false });
      if (r.exitCode !== 0) throw new Error(`ssh-keygen failed: ${String(r.stderr).trim()}`);
    }
    const hostPub = readFileSync(join(work, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
    atomicWrite(join(work, 'known_hosts'), `${VM_HOST_ALIAS} ${hostPub}\n`, 0o600);
    rmSync(paths.keys, { recursive: true, force: true });
    renameSync(work, paths.keys);
    return true;
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error('generating the VM keys needs ssh-keygen (Debian package openssh-client)');
    throw err;
  }
}

async function ensureKernel(paths: VmPaths, progress: Progress): Promise<{ kernel: KernelAssets; built: boolean }> {
  const have = kernelAssetsAt(paths.kernel, paths.kernelName);
  if (have) return { kernel: have, built: false };
  progress(`downloading the Debian ${paths.kernelName} kernel (${VM_KERNELS[paths.kernelName].metaPackage})`);
  const deb = await downloadKernelDeb(paths.downloads, paths.kernelName);
  const kernel = await unpackKernel(deb, paths.kernel, progress, paths.kernelName);
  // The .deb is 70-110 MB and everything the VM needs is now unpacked; keep the cache small.
  if (!process.env[kernelDebVariable(paths.kernelName)]) rmSync(paths.downloads, { recursive: true, force: true });
  return { kernel, built: true };
}

/** The helper of this build for the image; none when it is not built (clients deploy it as before). */
function builtHelper(): ImageHelper | undefined {
  try {
    const { version, helperJs, addon } = helperBundle();
    return { version, helperJs, addon };
  } catch {
    return undefined;
  }
}

async function imageInputs(paths: VmPaths, kernel: KernelAssets): Promise<ImageInputs> {
  const tools = findHostTools();
  const libs = new Set<string>();
  for (const bin of [tools.busybox, tools.sshd, tools.node, tools.bpftool, tools.libbpf, ...(tools.programs ?? [])]) {
    for (const lib of await sharedLibraries(bin)) libs.add(lib);
  }
  const applets = await execa(tools.busybox, ['--list-full'], { reject: false });
  if (applets.exitCode !== 0) throw new Error(`${tools.busybox} --list-full failed; is it busybox?`);
  return {
    kernel,
    helper: builtHelper(),
    tools,
    libraries: [...libs].sort(),
    busyboxApplets: String(applets.stdout).split('\n').map((l) => l.trim()).filter(Boolean),
    hostKey: readFileSync(paths.hostKey),
    hostKeyPub: readFileSync(`${paths.hostKey}.pub`),
    authorizedKey: readFileSync(`${paths.clientKey}.pub`),
  };
}

/** Makes sure kernel, keys and image exist and match this machine's tools; builds what is missing. */
export async function prepareAssets(paths: VmPaths, progress: Progress = () => {}): Promise<PreparedAssets> {
  mkdirSync(paths.root, { recursive: true });
  const built: string[] = [];
  const { kernel, built: kernelBuilt } = await ensureKernel(paths, progress);
  if (kernelBuilt) built.push('kernel');
  if (await ensureKeys(paths, progress)) built.push('keys');

  const inputs = await imageInputs(paths, kernel);
  const fingerprint = imageFingerprint(inputs, IMAGE_FORMAT);
  let current: string | undefined;
  try {
    current = readFileSync(paths.imageMeta, 'utf8');
  } catch {
    current = undefined;
  }
  if (current !== fingerprint || !existsSync(paths.image)) {
    progress('building the VM root filesystem (initramfs)');
    const tmp = tempSibling(paths.image);
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeCpio(fd, imagePlan(inputs));
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, paths.image);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    // The fingerprint is written last: an image without a matching fingerprint is rebuilt, never trusted.
    atomicWrite(paths.imageMeta, fingerprint);
    built.push('image');
  }
  return { kernel, image: paths.image, built };
}
