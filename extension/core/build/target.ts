// The build/load loop against one target: connect its helper, fetch and cache its kernel's BTF, build a
// probe against it, load it. Shared by `bpf-lsm build|load` and the editor's Build/Load Probe commands.
import { join } from 'node:path';
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
