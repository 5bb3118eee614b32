// Profiles as the map entries bpf/profile_guard.bpf.c reads (layouts in bpf/profile_guard.h): per-profile
// settings, subjects by inode+device, path rules by FNV-1a hash (exact or directory prefix), and connect
// rules in an LPM trie whose value lists every (protocol, port) of the rules covering that prefix, so the
// longest-prefix lookup alone finds all that apply. Pure: the target's answers come in as ResolvedPath.
import { fnv1a64, PolicyError, type ResolvedPath } from './policy';
import { parseCidr, MAX_PROFILES, type Profile } from './profile';

export const PROFILE_EXEC_EXACT = 1;
export const PROFILE_EXEC_PREFIX = 2;
export const PROFILE_FILE_EXACT = 3;
export const PROFILE_FILE_PREFIX = 4;
export const ACCESS = { read: 1, write: 2, exec: 4 } as const;
export const PORTS_MAX = 16;
const MODE = { audit: 1, enforce: 2 } as const;
const PROTO = { any: 0, tcp: 1, udp: 2 } as const;

export interface MapEntry {
  readonly map: string;
  readonly key: Record<string, unknown> | number;
  readonly value: Record<string, unknown> | number;
}

/** Paths whose resolved form on the target should be added: exact rules and directories outside /proc. */
export function pathsToResolve(profiles: readonly Profile[]): string[] {
  const out = new Set<string>();
  for (const p of profiles) {
    out.add(p.subject.path);
    for (const path of [...p.exec, ...p.files.map((f) => f.path)]) if (!path.startsWith('/proc/')) out.add(path);
  }
  return [...out];
}

const ACCESS_BITS = { read: ACCESS.read, write: ACCESS.write, rw: ACCESS.read | ACCESS.write };

/** Byte-order helper: the LPM key holds the profile big-endian so it is compared whole before the address. */
const htonl = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]).readUInt32LE(0);

export interface ProfileEntries {
  readonly entries: MapEntry[];
  /** Subjects not found on the target: their profile confines nothing until re-applied. */
  readonly missingSubjects: string[];
  readonly rules: number;
}

/** profile_conf's depth bit of a directory prefix ("/" depth 1, "/etc/" 2, ...; 32 and deeper share bit 31). */
export function depthBit(prefix: string): number {
  const depth = [...prefix].filter((c) => c === '/').length;
  return (1 << (Math.min(depth, 32) - 1)) >>> 0;
}

export function profileEntries(profiles: readonly Profile[], resolved: readonly ResolvedPath[]): ProfileEntries {
  if (profiles.length > MAX_PROFILES) throw new PolicyError(`${profiles.length} profiles; the probe holds at most ${MAX_PROFILES}`);
  const real = new Map(resolved.map((r) => [r.path, r]));
  const entries: MapEntry[] = [];
  const missingSubjects: string[] = [];
  const dirs = profiles.map(() => ({ exec: 0, file: 0 }));
  const paths = new Map<string, MapEntry & { value: { access: number; rule: number } }>();
  const addPath = (profile: number, kind: number, path: string, access: number, rule: number) => {
    if (kind === PROFILE_EXEC_PREFIX) dirs[profile].exec |= depthBit(path);
    if (kind === PROFILE_FILE_PREFIX) dirs[profile].file |= depthBit(path);
    const key = { profile, kind, hash: fnv1a64(path).toString() };
    const id = `${profile}:${kind}:${key.hash}`;
    const had = paths.get(id);
    if (had) had.value.access |= access;
    else paths.set(id, { map: 'bls_prof_paths', key, value: { access, rule } });
  };
  // Every spelling of a rule path: as written, and the target's realpath of it (a prefix keeps its "/").
  const spellings = (path: string): string[] => {
    const dir = path.endsWith('/');
    const r = real.get(path)?.resolved;
    const resolvedPath = r === undefined ? undefined : dir ? `${r.replace(/\/$/, '')}/` : r;
    return resolvedPath && resolvedPath !== path ? [path, resolvedPath] : [path];
  };
  const subjects = new Map<string, MapEntry>();
  let rules = 0;
  profiles.forEach((p, index) => {
    const s = real.get(p.subject.path);
    if (s?.ino === undefined || s.dev === undefined) missingSubjects.push(p.subject.path);
    else subjects.set(`${s.ino}:${s.dev}`, { map: 'bls_prof_subjects', key: { ino: s.ino.toString(), dev: s.dev.toString() }, value: index });
    p.exec.forEach((path, rule) => {
      for (const sp of spellings(path)) addPath(index, sp.endsWith('/') ? PROFILE_EXEC_PREFIX : PROFILE_EXEC_EXACT, sp, ACCESS.exec, rule);
    });
    p.files.forEach((f, rule) => {
      for (const sp of spellings(f.path)) addPath(index, sp.endsWith('/') ? PROFILE_FILE_PREFIX : PROFILE_FILE_EXACT, sp, ACCESS_BITS[f.access], rule);
    });
    rules += p.exec.length + p.files.length + p.connect.length;
  });
  for (let i = 0; i < MAX_PROFILES; i++) {
    const p = profiles[i];
    entries.push({ map: 'bls_prof_profiles', key: i, value: { mode: p ? MODE[p.mode] : 0, default_deny: p?.default === 'deny' ? 1 : 0, descendants: p?.subject.descendants ? 1 : 0, exec_dirs: dirs[i]?.exec ?? 0, file_dirs: dirs[i]?.file ?? 0, pad: 0 } });
  }
  return { entries: [...entries, ...subjects.values(), ...paths.values(), ...netEntries(profiles)], missingSubjects, rules };
}

interface NetRule {
  readonly profile: number;
  readonly family: 4 | 6;
  readonly bytes: Buffer;
  readonly prefix: number;
  readonly port: { proto: number; any_port: number; port: number; rule: number };
}

function covers(outer: NetRule, inner: NetRule): boolean {
  if (outer.profile !== inner.profile || outer.family !== inner.family || outer.prefix > inner.prefix) return false;
  for (let bit = 0; bit < outer.prefix; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((outer.bytes[bit >> 3] & mask) !== (inner.bytes[bit >> 3] & mask)) return false;
  }
  return true;
}

function netEntries(profiles: readonly Profile[]): MapEntry[] {
  const rules: NetRule[] = [];
  profiles.forEach((p, profile) => {
    p.connect.forEach((c, rule) => {
      const port = { proto: PROTO[c.proto], any_port: c.port === undefined ? 1 : 0, port: c.port ?? 0, rule };
      const cidr = parseCidr(c.addr);
      if (cidr === 'any') {
        rules.push({ profile, family: 4, bytes: Buffer.alloc(16), prefix: 0, port }, { profile, family: 6, bytes: Buffer.alloc(16), prefix: 0, port });
      } else if (typeof cidr !== 'string') {
        const bytes = Buffer.alloc(16);
        cidr.bytes.copy(bytes);
        // Bits past the prefix are cleared, as the trie compares only the first prefixlen bits anyway.
        for (let bit = cidr.prefix; bit < 128; bit++) bytes[bit >> 3] &= ~(0x80 >> bit % 8);
        rules.push({ profile, family: cidr.family, bytes, prefix: cidr.prefix, port });
      }
    });
  });
  const out = new Map<string, MapEntry>();
  for (const r of rules) {
    const id = `${r.profile}:${r.family}:${r.bytes.toString('hex')}/${r.prefix}`;
    if (out.has(id)) continue;
    const ports = rules.filter((o) => covers(o, r)).map((o) => o.port);
    const unique = [...new Map(ports.map((x) => [`${x.proto}:${x.any_port}:${x.port}`, x])).values()];
    if (unique.length > PORTS_MAX) throw new PolicyError(`profile "${profiles[r.profile].name}": ${unique.length} protocol/port pairs apply to ${r.bytes.toString('hex')}/${r.prefix}; the probe holds ${PORTS_MAX} per address prefix (use fewer ports or leave "port" out)`);
    out.set(id, {
      map: 'bls_prof_net',
      key: { prefixlen: 64 + r.prefix, profile: htonl(r.profile), family: r.family, addr: [0, 4, 8, 12].map((o) => r.bytes.readUInt32LE(o)) },
      value: { count: unique.length, pad: 0, ports: unique },
    });
  }
  return [...out.values()];
}

/** A key as the helper's mapEntries decodes it and as written here compare equal through this. */
export function canonicalKey(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || (typeof v === 'string' && /^\d+$/.test(v))) return BigInt(v as string).toString();
  if (Array.isArray(v)) return `[${v.map(canonicalKey).join(',')}]`;
  if (v && typeof v === 'object') return `{${Object.keys(v).sort().map((k) => `${k}:${canonicalKey((v as Record<string, unknown>)[k])}`).join(',')}}`;
  return JSON.stringify(v);
}
