// The build/load loop against one target: connect its helper, fetch and cache its kernel's BTF, build a
// probe against it, load it. Shared by `bpf-lsm build|load` and the editor's Build/Load Probe commands.
import { vmKernelOf } from '../targets';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { kernelAssetsAt } from '../vm/kernel';
import { vmPaths } from '../vm/paths';
import { fetchTargetBtf } from '../../shared/hooks/targetBtf';
import { HelperClient } from '../helperClient';
import type { Target } from '../target';
import { cacheRoot } from '../vm/paths';
import { buildProbe, cacheTargetBtf, type ProbeBuild, type ProbeBuildOptions } from './probe';

export function buildCacheDir(): string {
  return join(cacheRoot(), 'build');
}

/** Connects to the target's helper and caches its BTF; the caller owns (and closes) the client. */
export async function connectForBuild(target: Target, client = 'bpf-lsm build'): Promise<{ client: HelperClient; btfPath: string }> {
  const helper = await HelperClient.connect(await target.startHelper(), { client });
  try {
    const btf = await helper.readBtf();
    return { client: helper, btfPath: cacheTargetBtf(btf, buildCacheDir()).path };
  } catch (err) {
    await helper.close();
    throw err;
  }
}

export function buildForTarget(source: string, btfPath: string, extra: Partial<ProbeBuildOptions> = {}): Promise<ProbeBuild> {
  return buildProbe({ source, btfPath, cacheDir: buildCacheDir(), ...extra });
}

/**
 * The BTF a probe is compiled against, without needing the helper: the built-in VM's kernel image (so
 * the VM need not run), this machine's BTF for the local target, else the target's BTF read over its exec
 * channel and cached by digest.
 */
export async function buildBtfFor(targetId: string, target: Target): Promise<{ path: string; what: string }> {
  const kernel = vmKernelOf(targetId);
  if (kernel) {
    const assets = kernelAssetsAt(vmPaths(process.env, kernel).kernel, kernel);
    if (assets) return { path: assets.vmlinux, what: `the built-in VM's kernel ${assets.release}` };
    throw new Error(`the built-in VM's ${kernel} kernel has not been prepared yet, so its BTF is not here: start that VM once (bpf-lsm vm up --kernel ${kernel}, or "BPF-LSM: Start VM"), or pass a BTF file`);
  }
  if (targetId === 'local' && existsSync('/sys/kernel/btf/vmlinux')) return { path: '/sys/kernel/btf/vmlinux', what: "this machine's kernel" };
  const fetched = await fetchTargetBtf(target.exec.bind(target), targetId);
  return { path: cacheTargetBtf(fetched.btf, buildCacheDir()).path, what: `${targetId} (${fetched.banner.split(' ').slice(0, 3).join(' ')})` };
}
