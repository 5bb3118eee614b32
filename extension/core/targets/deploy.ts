// Helper deployment: dist/helper.js and the native addon (dist/native/bpflsm.node) travel together into a
// folder on the target named after a checksum of both, so several versions can coexist and an unchanged
// helper is never copied twice. Before reuse, the target's copies are checksummed again.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { Target } from '../target';

export interface HelperBundle {
  readonly dist: string;
  readonly helperJs: string;
  readonly addon: string;
  readonly helperSha256: string;
  readonly addonSha256: string;
  /** Names the deployment folder: the first 16 hex digits of sha256(helper sha256 + addon sha256). */
  readonly version: string;
}

/** Where the built bundle is: `$BPF_LSM_DIST`, or dist/ next to (or above) the running bundle. */
export function findDist(): string {
  // dist/*.js, out/bench/*.js and out/test/<tier>/*.js are the bundles that get here.
  const candidates = [process.env.BPF_LSM_DIST, __dirname, join(__dirname, '..', '..', 'dist'), join(__dirname, '..', '..', '..', 'dist')];
  const found = candidates.find((d): d is string => !!d && existsSync(join(d, 'helper.js')));
  if (!found) throw new Error('the helper bundle (dist/helper.js) is missing; build it first: npm run build');
  return found;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

export function helperBundle(dist: string = findDist()): HelperBundle {
  const helperJs = join(dist, 'helper.js');
  const addon = join(dist, 'native', 'bpflsm.node');
  if (!existsSync(helperJs)) throw new Error(`${helperJs} is missing; build the helper first: npm run build`);
  if (!existsSync(addon)) throw new Error(`the native addon ${addon} is missing; build the native addon: npm run build`);
  const helperSha256 = sha256(readFileSync(helperJs));
  const addonSha256 = sha256(readFileSync(addon));
  const version = sha256(Buffer.from(helperSha256 + addonSha256)).slice(0, 16);
  return { dist, helperJs, addon, helperSha256, addonSha256, version };
}

/** Parses `sha256sum` output into path -> digest. */
export function parseSha256sum(out: string): Map<string, string> {
  const sums = new Map<string, string>();
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]{64})\s+\*?(.+)$/.exec(line.trim());
    if (m) sums.set(m[2], m[1]);
  }
  return sums;
}

/**
 * Makes sure `<root>/<version>/helper.js` and `<root>/<version>/native/bpflsm.node` on the target are this
 * bundle, copying them only when missing or different. Returns the remote path of helper.js.
 */
export async function deployHelper(target: Target, root: string, bundle: HelperBundle, opts: { root?: boolean } = {}): Promise<string> {
  const dir = posix.join(root, bundle.version);
  const remoteHelper = posix.join(dir, 'helper.js');
  const remoteAddon = posix.join(dir, 'native', 'bpflsm.node');
  const verify = async () => {
    const r = await target.exec('sha256sum', [remoteHelper, remoteAddon], { root: opts.root });
    const sums = parseSha256sum(r.stdout);
    return sums.get(remoteHelper) === bundle.helperSha256 && sums.get(remoteAddon) === bundle.addonSha256;
  };
  if (await verify()) return remoteHelper;
  await target.copyTo([
    { local: bundle.helperJs, remote: remoteHelper },
    { local: bundle.addon, remote: remoteAddon },
  ]);
  if (!(await verify())) throw new Error(`the helper copied to ${target.id}:${dir} does not match its checksum; the copy was corrupted or the folder is not writable`);
  return remoteHelper;
}
