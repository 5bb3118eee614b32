// Profiles in bpf-lsm.policy.json: least-privilege rules for one executable (and optionally what it starts).
// The file keeps today's exec deny list ("mode", "deny", "byContent", read by policy.ts) and adds
//   "profiles": [{ "name", "subject": { "path", "descendants" }, "mode", "default", "exec", "files", "connect" }]
// "default": "deny" makes the rules an allow-list (anything not listed is denied); "allow" a deny-list.
// A path ending in "/" is a directory prefix; "/proc/self/" stands for the process's own /proc/<pid>/.
// schemas/policy.schema.json describes the same format for the editor; this parser is what is enforced.
import { isIP } from 'node:net';
import { parsePolicy, PolicyError, type Policy, type PolicyMode } from './policy';

export type FileAccess = 'read' | 'write' | 'rw';
export type ConnectProto = 'tcp' | 'udp' | 'any';

export interface FileRule {
  /** Absolute path; ending in "/" it covers everything below that directory. */
  readonly path: string;
  readonly access: FileAccess;
}

export interface ConnectRule {
  readonly proto: ConnectProto;
  /** "any", an address, or address/prefix-length (IPv4 or IPv6). */
  readonly addr: string;
  /** Omitted: any port. */
  readonly port?: number;
}

export interface ProfileSubject {
  /** The executable, resolved to inode+device on the target when applied. */
  readonly path: string;
  /** Processes it starts (and theirs) stay under the profile after they exec something else. */
  readonly descendants: boolean;
}

export interface Profile {
  readonly name: string;
  readonly subject: ProfileSubject;
  readonly mode: PolicyMode;
  /** What happens to what no rule lists: "deny" (rules are an allow-list) or "allow" (a deny-list). */
  readonly default: 'deny' | 'allow';
  readonly exec: readonly string[];
  readonly files: readonly FileRule[];
  readonly connect: readonly ConnectRule[];
}

/** The whole policy file: today's exec deny list plus the profiles. */
export interface PolicyDocument {
  readonly exec: Policy;
  readonly profiles: readonly Profile[];
}

/** Rules one applied policy may hold in all (the probe's maps are sized for it). */
export const MAX_PROFILE_RULES = 4096;
export const MAX_PROFILES = 64;
const PATH_LIMIT = 256;

const PROFILE_KEYS = ['name', 'subject', 'mode', 'default', 'exec', 'files', 'connect', 'description'];

function absPath(v: unknown, where: string, what: string): string {
  if (typeof v !== 'string' || !v.startsWith('/')) throw new PolicyError(`${what}: ${where} must be an absolute path (starting with /), got ${JSON.stringify(v)}`);
  if (/[\n\0]/.test(v)) throw new PolicyError(`${what}: ${where} contains a newline or NUL`);
  if (Buffer.byteLength(v) >= PATH_LIMIT) throw new PolicyError(`${what}: ${where} is longer than the probe's ${PATH_LIMIT - 1}-byte path limit`);
  return v;
}

function list(v: unknown, where: string, what: string): unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new PolicyError(`${what}: ${where} must be a list`);
  return v;
}

/** Splits "addr[/len]" into its parts, or says what is wrong; "any" is every address. */
export function parseCidr(text: string): { family: 4 | 6; bytes: Buffer; prefix: number } | 'any' | string {
  if (text === 'any') return 'any';
  const [ip, len, extra] = text.split('/');
  const family = isIP(ip);
  if (extra !== undefined || (family !== 4 && family !== 6)) return `"${text}" is not an IPv4 or IPv6 address (with an optional /prefix-length) or "any"`;
  const bits = family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > bits || (len !== undefined && !/^\d+$/.test(len))) return `"${text}" has a prefix length outside 0-${bits}`;
  return { family, bytes: ipBytes(ip, family), prefix };
}

export function ipBytes(ip: string, family: 4 | 6): Buffer {
  if (family === 4) return Buffer.from(ip.split('.').map(Number));
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const b = ipBytes(v4[1], 4);
    text = `${text.slice(0, -v4[1].length)}${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}`;
  }
  const [head, tail] = text.split('::');
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g || '0', 16), i * 2));
  return out;
}

function parseProfile(raw: unknown, i: number, what: string): Profile {
  const where = `profiles[${i}]`;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyError(`${what}: ${where} must be an object { "name", "subject", "mode", "default", "exec", "files", "connect" }`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !PROFILE_KEYS.includes(k));
  if (unknown.length) throw new PolicyError(`${what}: ${where} has unknown field(s) ${unknown.join(', ')} (known: ${PROFILE_KEYS.join(', ')})`);
  const subject = o.subject as Record<string, unknown> | undefined;
  if (!subject || typeof subject !== 'object' || Array.isArray(subject)) throw new PolicyError(`${what}: ${where}.subject must be { "path": "/abs/executable", "descendants": true | false }`);
  const subjectPath = absPath(subject.path, `${where}.subject.path`, what);
  if (subject.descendants !== undefined && typeof subject.descendants !== 'boolean') throw new PolicyError(`${what}: ${where}.subject.descendants must be true or false`);
  const name = o.name ?? subjectPath.slice(subjectPath.lastIndexOf('/') + 1);
  if (typeof name !== 'string' || !name) throw new PolicyError(`${what}: ${where}.name must be a non-empty string`);
  const mode = o.mode ?? 'audit';
  if (mode !== 'audit' && mode !== 'enforce') throw new PolicyError(`${what}: ${where}.mode must be "audit" or "enforce", not ${JSON.stringify(mode)}`);
  const dflt = o.default ?? 'deny';
  if (dflt !== 'deny' && dflt !== 'allow') throw new PolicyError(`${what}: ${where}.default must be "deny" (the rules are an allow-list) or "allow" (a deny-list), not ${JSON.stringify(dflt)}`);
  const exec = list(o.exec, `${where}.exec`, what).map((p, j) => absPath(p, `${where}.exec[${j}]`, what));
  const files = list(o.files, `${where}.files`, what).map((r, j): FileRule => {
    const at = `${where}.files[${j}]`;
    if (typeof r === 'string') return { path: absPath(r, at, what), access: 'read' };
    const f = r as Record<string, unknown>;
    if (!f || typeof f !== 'object') throw new PolicyError(`${what}: ${at} must be { "path": "/abs/path", "access": "read" | "write" | "rw" }`);
    const access = f.access ?? 'read';
    if (access !== 'read' && access !== 'write' && access !== 'rw') throw new PolicyError(`${what}: ${at}.access must be "read", "write" or "rw", not ${JSON.stringify(access)}`);
    return { path: absPath(f.path, `${at}.path`, what), access };
  });
  const connect = list(o.connect, `${where}.connect`, what).map((r, j): ConnectRule => {
    const at = `${where}.connect[${j}]`;
    const c = r as Record<string, unknown>;
    if (!c || typeof c !== 'object' || Array.isArray(c)) throw new PolicyError(`${what}: ${at} must be { "proto": "tcp" | "udp" | "any", "addr": "10.0.0.0/8", "port": 53 }`);
    const proto = c.proto ?? 'any';
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'any') throw new PolicyError(`${what}: ${at}.proto must be "tcp", "udp" or "any"`);
    const addr = c.addr ?? 'any';
    const parsed = typeof addr === 'string' ? parseCidr(addr) : 'not a string';
    if (typeof parsed === 'string' && parsed !== 'any') throw new PolicyError(`${what}: ${at}.addr: ${parsed}`);
    if (c.port !== undefined && (!Number.isInteger(c.port) || (c.port as number) < 0 || (c.port as number) > 65535)) throw new PolicyError(`${what}: ${at}.port must be 0-65535 (or left out for any port)`);
    return { proto, addr: addr as string, ...(c.port !== undefined ? { port: c.port as number } : {}) };
  });
  return { name, subject: { path: subjectPath, descendants: subject.descendants === true }, mode, default: dflt, exec, files, connect };
}

export function profileRuleCount(p: Profile): number {
  return p.exec.length + p.files.length + p.connect.length;
}

/** Parses the whole policy file: today's exec deny list (unchanged) and the profiles. */
export function parsePolicyDocument(text: string, what = 'the policy'): PolicyDocument {
  const exec = parsePolicy(text, what);
  const raw = (JSON.parse(text) as Record<string, unknown>).profiles;
  const profiles = list(raw, '"profiles"', what).map((p, i) => parseProfile(p, i, what));
  if (profiles.length > MAX_PROFILES) throw new PolicyError(`${what}: ${profiles.length} profiles; the probe holds at most ${MAX_PROFILES}`);
  const names = new Set<string>();
  for (const p of profiles) {
    if (names.has(p.name)) throw new PolicyError(`${what}: two profiles are named "${p.name}"; give each its own "name"`);
    names.add(p.name);
  }
  const rules = profiles.reduce((n, p) => n + profileRuleCount(p), 0);
  if (rules > MAX_PROFILE_RULES) throw new PolicyError(`${what}: ${rules} profile rules; the probe holds at most ${MAX_PROFILE_RULES} (generalise paths to directories ending in "/")`);
  return { exec, profiles };
}
