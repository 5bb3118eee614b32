// Encoders for map keys and values in scenario files: what LSM policies key on, computed the way the kernel
// side computes it. A JSON value is passed to the helper as is (it is typed from the object's BTF there),
// except objects with one encoder field:
//   { "fnv1a64": "/usr/bin/nc" }  -> the 64-bit FNV-1a hash of the path's bytes (as bpf_d_path prints it)
//   { "inode": "/usr/bin/nc" }    -> { "ino": ..., "dev": ... } of that path on the target, dev as the
//                                    kernel's dev_t (inode->i_sb->s_dev), for a struct key with ino and dev
import type { TypedValue } from '../../shared/helperProtocol';
import type { Target } from '../target';
import { fnv1a64, resolveOnTarget } from '../policy/policy';

type Json = TypedValue;

/** Paths whose inode the value needs resolved on the target (before encoding). */
export function inodePaths(v: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(v)) v.forEach((x) => inodePaths(x, into));
  else if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.keys(o).length === 1 && typeof o.inode === 'string') into.add(o.inode);
    else Object.values(o).forEach((x) => inodePaths(x, into));
  }
  return into;
}

export function encodeValue(v: unknown, inodes: ReadonlyMap<string, { ino: bigint; dev: bigint }>): Json {
  if (Array.isArray(v)) return v.map((x) => encodeValue(x, inodes));
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o);
    if (keys.length === 1 && keys[0] === 'fnv1a64' && typeof o.fnv1a64 === 'string') return fnv1a64(o.fnv1a64).toString();
    if (keys.length === 1 && keys[0] === 'inode' && typeof o.inode === 'string') {
      const r = inodes.get(o.inode);
      if (!r) throw new Error(`{ "inode": "${o.inode}" }: no such file on the target (create it in "setup" first)`);
      return { ino: r.ino.toString(), dev: r.dev.toString() };
    }
    return Object.fromEntries(keys.map((k) => [k, encodeValue(o[k], inodes)]));
  }
  return v as Json;
}

/** Resolves the inodes a set of values needs on the target. */
export async function resolveInodes(target: Target, values: unknown[]): Promise<Map<string, { ino: bigint; dev: bigint }>> {
  const paths = [...inodePaths(values)];
  const out = new Map<string, { ino: bigint; dev: bigint }>();
  for (const r of await resolveOnTarget(target, paths)) if (r.ino !== undefined && r.dev !== undefined) out.set(r.path, { ino: r.ino, dev: r.dev });
  return out;
}
