// The build/load loop against one target: connect its helper, get its kernel's BTF from the target's
// kernel (one identity-keyed cache), build a probe against it, load it. Shared by `bpf-lsm build|load` and
// the editor's Build/Load Probe commands.
import { join } from 'node:path';
import { HelperClient } from '../helperClient';
import type { Target } from '../target';
import { cacheRoot } from '../vm/paths';
import { buildProbe, type ProbeBuild, type ProbeBuildOptions } from './probe';

export function buildCacheDir(): string {
  return join(cacheRoot(), 'build');
}

/** Connects to the target's helper and gets its kernel's BTF; the caller owns (and closes) the client. */
export async function connectForBuild(target: Target, client = 'bpf-lsm build'): Promise<{ client: HelperClient; btfPath: string }> {
  const helper = await HelperClient.connect(await target.startHelper(), { client });
  try {
    const btf = await target.kernel.btf({ read: () => helper.readBtf() });
    return { client: helper, btfPath: btf.path };
  } catch (err) {
    await helper.close();
    throw err;
  }
}

export function buildForTarget(source: string, btfPath: string, extra: Partial<ProbeBuildOptions> = {}): Promise<ProbeBuild> {
  return buildProbe({ source, btfPath, cacheDir: buildCacheDir(), ...extra });
}
