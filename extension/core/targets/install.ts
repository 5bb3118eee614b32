// The local helper's root-owned install: `bpf-lsm install-helper`, run as root, copies the helper, its
// addon and the node binary that runs them into /opt/bpf-lsm-studio/<version>/, owned by root and writable
// by nobody else, and the narrow sudoers rule names those copies. A rule naming the extension folder's
// helper.js (or a node on the user's PATH) would hand root to any process running as the user, which can
// rewrite those files; files that only root can change keep the rule narrow.
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, copyFileSync, existsSync, lstatSync, mkdirSync, readFileSync, realpathSync, renameSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { HelperBundle } from './deploy';

export const HELPER_INSTALL_ROOT = '/opt/bpf-lsm-studio';

/** BPF_LSM_HELPER_INSTALL_ROOT moves the install (tests); the same ownership rules apply there. */
export function helperInstallRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.BPF_LSM_HELPER_INSTALL_ROOT ? resolve(env.BPF_LSM_HELPER_INSTALL_ROOT) : HELPER_INSTALL_ROOT;
}

export interface InstalledHelper {
  readonly dir: string;
  readonly node: string;
  readonly helperJs: string;
  readonly addon: string;
}

export function installedHelperPaths(bundle: HelperBundle, root = helperInstallRoot()): InstalledHelper {
  const dir = join(root, bundle.version);
  return { dir, node: join(dir, 'node'), helperJs: join(dir, 'helper.js'), addon: join(dir, 'native', 'bpflsm.node') };
}

/**
 * Why `path` is not safe to run as root through sudo, or undefined: it and every folder above it must be
 * owned by root, not writable by group or others, and no symlink (a symlink's target could change hands).
 */
export function rootOwnedProblem(path: string): string | undefined {
  let p = resolve(path);
  for (;;) {
    let st;
    try {
      st = lstatSync(p);
    } catch {
      return `${p} does not exist`;
    }
    if (st.isSymbolicLink()) return `${p} is a symlink`;
    if (st.uid !== 0) return `${p} is owned by uid ${st.uid}, not root`;
    if (st.mode & 0o022) return `${p} is writable by ${st.mode & 0o020 ? 'its group' : 'other users'} (mode ${(st.mode & 0o7777).toString(8)})`;
    if (p === '/') return undefined;
    p = dirname(p);
  }
}

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The install for this bundle when it is complete, intact and root-owned; else the reason it is not usable. */
export function checkInstalledHelper(bundle: HelperBundle, root = helperInstallRoot()): { ok: true; helper: InstalledHelper } | { ok: false; reason: string; helper: InstalledHelper } {
  const helper = installedHelperPaths(bundle, root);
  for (const f of [helper.node, helper.helperJs, helper.addon]) {
    if (!existsSync(f)) return { ok: false, helper, reason: `the helper is not installed in ${helper.dir}` };
    const problem = rootOwnedProblem(f);
    if (problem) return { ok: false, helper, reason: `the installed helper in ${helper.dir} is not safe to run as root: ${problem}` };
  }
  if (sha256(helper.helperJs) !== bundle.helperSha256 || sha256(helper.addon) !== bundle.addonSha256) {
    return { ok: false, helper, reason: `the helper in ${helper.dir} differs from this version's` };
  }
  return { ok: true, helper };
}

/** Copies the bundle and `node` into the install root (as root): temp names then rename, root:root, 0755/0644. */
export function installHelper(bundle: HelperBundle, node: string, root = helperInstallRoot()): InstalledHelper {
  if (process.getuid?.() !== 0) throw new Error('installing the helper needs root: run it with sudo');
  const helper = installedHelperPaths(bundle, root);
  for (const d of [root, helper.dir, dirname(helper.addon)]) {
    mkdirSync(d, { recursive: true, mode: 0o755 });
    chownSync(d, 0, 0);
    chmodSync(d, 0o755);
  }
  const place = (from: string, to: string, mode: number) => {
    const tmp = `${to}.tmp${process.pid}`;
    copyFileSync(realpathSync(from), tmp);
    chownSync(tmp, 0, 0);
    chmodSync(tmp, mode);
    renameSync(tmp, to);
  };
  place(node, helper.node, 0o755);
  place(bundle.helperJs, helper.helperJs, 0o644);
  place(bundle.addon, helper.addon, 0o644);
  const problem = [root, helper.node, helper.helperJs, helper.addon].map(rootOwnedProblem).find(Boolean);
  if (problem) throw new Error(`installed into ${helper.dir}, but it is not safe to run as root: ${problem}; choose an install folder whose parents only root can write`);
  return helper;
}
