// The product's cache folder on this machine: `$BPF_LSM_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/bpf-lsm-studio`.
// The VM (core/vm/paths.ts) and the hook documentation fetched from Debian (hooks/debianDocs.ts) live under it.
import { homedir } from 'node:os';
import { join } from 'node:path';

export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  if (env.BPF_LSM_CACHE) return env.BPF_LSM_CACHE;
  const xdg = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(xdg, 'bpf-lsm-studio');
}
