// Exec enforcement policy: `{ "mode": "audit" | "enforce", "deny": ["/abs/path", ...] }` applied through
// bpf/exec_block.bpf.c. Each denied path becomes two rules: the 64-bit FNV-1a of its resolved path and its
// inode+device on the target, so neither a symlink nor a rename/mv gets around it.
//
// An applied policy is an explicit pin: the program's link is pinned under PIN_DIR and its rule and event
// maps are pinned by name (libbpf LIBBPF_PIN_BY_NAME), so enforcement outlives the CLI or editor session
// that applied it. Applying again only rewrites the pinned rule map (the program is not reloaded); clear
// removes the pins, which detaches the program.
import { readFileSync } from 'node:fs';
import { HelperClient } from '../helperClient';
import type { Target } from '../target';
import { POLICY_PIN_DIR, type JsonValue } from '../../shared/helperProtocol';

export type PolicyMode = 'audit' | 'enforce';

export interface Policy {
  readonly mode: PolicyMode;
  readonly deny: readonly string[];
  /** Also deny by file content (IMA hash on the target kernel), so a copy is denied too. Default false. */
  readonly byContent?: boolean;
}

export class PolicyError extends Error {}

export const PIN_ROOT = '/sys/fs/bpf';
export const PIN_DIR = POLICY_PIN_DIR;
export const LINK_PIN = `${PIN_DIR}/exec_block_link`;
export const RULES_MAP = 'bls_exec_rules';
export const EVENTS_MAP = 'bls_exec_events';
export const MAP_PINS = [`${PIN_ROOT}/${RULES_MAP}`, `${PIN_ROOT}/${EVENTS_MAP}`];
/** A copy of the applied policy on the target (the rule map holds hashes, which cannot be read back). */
export const POLICY_COPY = '/run/bpf-lsm-studio/exec-policy.json';
export const PROGRAM = 'exec_block_check';
const OBJECT_NAME = 'exec_block';

export const KIND_PATH = 1;
export const KIND_INODE = 2;
export const KIND_CONTENT = 3;
export const KIND_CONTENT_ON = 4;
/** enum hash_algo (include/uapi/linux/hash_info.h): what bpf_ima_file_hash returns. */
export const HASH_ALGO: Record<'sha1' | 'sha256', number> = { sha1: 2, sha256: 4 };
export const ACTION_DENY = 1;
export const ACTION_AUDIT = 2;

/** Parses and checks a policy file's text; errors name the file and say what to write instead. */
export function parsePolicy(text: string, what = 'the policy'): Policy {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new PolicyError(`${what} is not valid JSON (${(err as Error).message}); expected { "mode": "audit" | "enforce", "deny": ["/abs/path", ...] }`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicyError(`${what} must be a JSON object { "mode": ..., "deny": [...] }`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => k !== 'mode' && k !== 'deny' && k !== 'byContent' && k !== '$schema' && k !== 'profiles');
  if (unknown.length) throw new PolicyError(`${what}: unknown field(s) ${unknown.join(', ')} (only "mode", "deny", "byContent" and "profiles" are read)`);
  if (o.byContent !== undefined && typeof o.byContent !== 'boolean') throw new PolicyError(`${what}: "byContent" must be true or false`);
  const mode = o.mode ?? 'enforce';
  if (mode !== 'audit' && mode !== 'enforce') throw new PolicyError(`${what}: "mode" must be "audit" or "enforce", not ${JSON.stringify(mode)}`);
  const deny = o.deny ?? [];
  if (!Array.isArray(deny)) throw new PolicyError(`${what}: "deny" must be a list of absolute paths`);
  deny.forEach((p, i) => {
    if (typeof p !== 'string' || !p.startsWith('/')) throw new PolicyError(`${what}: deny[${i}] must be an absolute path (starting with /), got ${JSON.stringify(p)}`);
    if (/[\n\0]/.test(p)) throw new PolicyError(`${what}: deny[${i}] contains a newline or NUL`);
    if (Buffer.byteLength(p) >= 512) throw new PolicyError(`${what}: deny[${i}] is longer than the probe's 511-byte path limit`);
  });
  return { mode, deny: [...new Set(deny as string[])], ...(o.byContent ? { byContent: true } : {}) };
}

export function readPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(`cannot read the policy file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parsePolicy(text, path);
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = (1n << 64n) - 1n;

/** 64-bit FNV-1a over the UTF-8 bytes, as bpf/exec_block.bpf.c computes it over bpf_d_path's output. */
export function fnv1a64(s: string): bigint {
  let h = FNV_OFFSET;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= BigInt(b);
    h = (h * FNV_PRIME) & U64;
  }
  return h;
}

/**
 * st_dev as user space sees it (new_encode_dev: minor low byte, major in bits 8-19, rest of minor above)
 * -> the kernel's dev_t (MKDEV: major << 20 | minor), which is what inode->i_sb->s_dev holds.
 */
export function kernelDev(userDev: bigint): bigint {
  const major = (userDev >> 8n) & 0xfffn;
  const minor = (userDev & 0xffn) | ((userDev >> 12n) & 0xfff00n);
  return (major << 20n) | minor;
}

export interface ResolvedPath {
  /** As written in the policy. */
  readonly path: string;
  /** The target's realpath of it, when it exists. */
  readonly resolved?: string;
  readonly ino?: bigint;
  readonly dev?: bigint;
  /** Hex digests of the file's content (asked for with byContent). */
  readonly sha1?: string;
  readonly sha256?: string;
}

// Prints "ok <ino> <dev> <realpath>" or "missing" per argument; plain POSIX sh + realpath + stat, which
// busybox and coreutils both have.
const RESOLVE_SCRIPT = 'for p in "$@"; do r=$(realpath "$p" 2>/dev/null) && s=$(stat -L -c "%i %d" "$r" 2>/dev/null) && echo "ok $s $r" || echo missing; done';

// Content digests with whichever algorithm the kernel's IMA uses (both: the probe matches on its own).
const DIGEST_SCRIPT = 'for p in "$@"; do a=$(sha1sum "$p" 2>/dev/null) && b=$(sha256sum "$p" 2>/dev/null) && echo "ok ${a%% *} ${b%% *}" || echo missing; done';

async function digestsOnTarget(target: Target, paths: readonly string[]): Promise<Array<{ sha1: string; sha256: string } | undefined>> {
  if (paths.length === 0) return [];
  const r = await target.exec('sh', ['-c', DIGEST_SCRIPT, 'sh', ...paths], { timeoutMs: 120_000 });
  const lines = r.stdout.split('\n').filter(Boolean);
  if (r.exitCode !== 0 || lines.length !== paths.length) throw new PolicyError(`hashing the policy's files on ${target.id} failed (${r.stderr.trim() || `exit code ${r.exitCode}`}); byContent needs sha1sum and sha256sum there`);
  return lines.map((l) => {
    const m = /^ok ([0-9a-f]{40}) ([0-9a-f]{64})$/.exec(l);
    return m ? { sha1: m[1], sha256: m[2] } : undefined;
  });
}

export async function resolveOnTarget(target: Target, paths: readonly string[], byContent = false): Promise<ResolvedPath[]> {
  if (paths.length === 0) return [];
  const r = await target.exec('sh', ['-c', RESOLVE_SCRIPT, 'sh', ...paths], { timeoutMs: 60_000 });
  const lines = r.stdout.split('\n').filter(Boolean);
  if (r.exitCode !== 0 || lines.length !== paths.length) {
    throw new PolicyError(`resolving the policy's paths on ${target.id} failed (${r.stderr.trim() || `exit code ${r.exitCode}`}); the target needs sh, realpath and stat`);
  }
  const digests = byContent ? await digestsOnTarget(target, paths) : [];
  return paths.map((path, i) => {
    const m = /^ok (\d+) (\d+) (.*)$/.exec(lines[i]);
    return m ? { path, resolved: m[3], ino: BigInt(m[1]), dev: kernelDev(BigInt(m[2])), ...(digests[i] ?? {}) } : { path };
  });
}

export interface RuleEntry {
  readonly key: { kind: number; pad: number; a: string; b: string };
  readonly value: { action: number; pad: number };
  /** Which policy path this rule came from (for status and logs). */
  readonly path: string;
}

function keyId(k: { kind: JsonValue; pad?: JsonValue; a: JsonValue; b: JsonValue }): string {
  return `${k.kind}:${k.pad ?? 0}:${BigInt(k.a as string)}:${BigInt(k.b as string)}`;
}

/** The rules a policy becomes: path hashes of the written and resolved path, and the inode+device. */
export function ruleEntries(policy: Policy, resolved: readonly ResolvedPath[]): RuleEntry[] {
  const action = policy.mode === 'enforce' ? ACTION_DENY : ACTION_AUDIT;
  const out = new Map<string, RuleEntry>();
  const add = (path: string, kind: number, a: bigint, b: bigint, pad = 0) => {
    const key = { kind, pad, a: a.toString(), b: b.toString() };
    out.set(keyId(key), { key, value: { action, pad: 0 }, path });
  };
  for (const r of resolved) {
    // The written path too: it may not exist yet, and the rule should hold once it does.
    add(r.path, KIND_PATH, fnv1a64(r.path), 0n);
    if (r.resolved) add(r.path, KIND_PATH, fnv1a64(r.resolved), 0n);
    if (r.ino !== undefined && r.dev !== undefined) add(r.path, KIND_INODE, r.ino, r.dev);
    for (const algo of ['sha1', 'sha256'] as const) {
      const hex = r[algo];
      if (!hex) continue;
      const d = Buffer.from(hex, 'hex');
      add(r.path, KIND_CONTENT, d.readBigUInt64LE(0), d.readBigUInt64LE(8), HASH_ALGO[algo]);
    }
  }
  if (policy.byContent) add('(content matching on)', KIND_CONTENT_ON, 0n, 0n);
  return [...out.values()];
}

export async function rootExec(target: Target, program: string, args: string[], input?: string) {
  return target.exec(program, args, { root: true, timeoutMs: 60_000, ...(input !== undefined ? { input } : {}) });
}

/** Which of these paths exist on the target, in one round trip. */
export async function pathsExist(target: Target, paths: readonly string[]): Promise<boolean[]> {
  const r = await rootExec(target, 'sh', ['-c', 'for p; do if [ -e "$p" ]; then echo 1; else echo 0; fi; done', 'sh', ...paths]);
  const lines = r.stdout.split('\n').filter(Boolean);
  if (r.exitCode !== 0 || lines.length !== paths.length) throw new PolicyError(`could not look for pins on ${target.id}: ${r.stderr.trim() || `exit ${r.exitCode}`}`);
  return lines.map((l) => l === '1');
}

async function linkPinned(target: Target): Promise<boolean> {
  return (await rootExec(target, 'test', ['-e', LINK_PIN])).exitCode === 0;
}

export function execBlockObject(distDir: string): Buffer {
  return readFileSync(`${distDir}/bpf/exec_block.bpf.o`);
}

export interface ApplyResult {
  /** false: first apply (program loaded, attached, pinned); true: rules replaced in place. */
  readonly replaced: boolean;
  /**
   * false: the deny list is empty and no exec policy was in force, so exec_block was not loaded (a file
   * with only profiles attaches no exec program that would judge every exec against nothing).
   */
  readonly loaded: boolean;
  readonly rules: number;
  readonly removed: number;
  readonly missing: string[];
  readonly mode: PolicyMode;
}

/**
 * Applies a policy on the target. The helper connection is only needed for the duration: everything that
 * enforces is pinned. `client` may be shared with the caller (it is not closed here).
 */
export async function applyPolicy(target: Target, client: HelperClient, policy: Policy, object: Buffer, progress: (m: string) => void = () => undefined): Promise<ApplyResult> {
  const replaced = await linkPinned(target);
  if (!policy.deny.length && !replaced) return { replaced, loaded: false, rules: 0, removed: 0, missing: [], mode: policy.mode };
  const resolved = await resolveOnTarget(target, policy.deny, policy.byContent);
  const entries = ruleEntries(policy, resolved);
  progress(replaced ? 'a policy is in force: replacing its rules in place' : 'loading and attaching the exec_block probe');
  // With every program left out, loading only opens the maps, and the pinned ones are reused by name.
  const loaded = await client.loadObject(object, { name: OBJECT_NAME, ...(replaced ? { programs: [] } : {}) });
  try {
    if (!replaced) {
      const attached = await client.call('attach', { objectId: loaded.objectId, programs: [PROGRAM] });
      const failed = attached.results.find((r) => !r.ok);
      if (failed) throw new PolicyError(`attaching ${PROGRAM} to bprm_check_security failed: ${failed.message ?? failed.code}`);
      const mk = await rootExec(target, 'mkdir', ['-p', PIN_DIR]);
      if (mk.exitCode !== 0) throw new PolicyError(`cannot create ${PIN_DIR} on ${target.id}: ${mk.stderr.trim()} (is bpffs mounted at ${PIN_ROOT}?)`);
      await client.call('pinLink', { objectId: loaded.objectId, program: PROGRAM, path: LINK_PIN });
    }
    const wanted = new Set(entries.map((e) => keyId(e.key)));
    for (const e of entries) await client.call('mapUpdate', { objectId: loaded.objectId, map: RULES_MAP, key: e.key, value: e.value });
    const current = await client.call('mapEntries', { objectId: loaded.objectId, map: RULES_MAP, limit: 100_000 });
    let removed = 0;
    for (const { key } of current.entries) {
      const k = key as { kind: JsonValue; pad: JsonValue; a: JsonValue; b: JsonValue };
      if (wanted.has(keyId(k))) continue;
      await client.call('mapDelete', { objectId: loaded.objectId, map: RULES_MAP, key });
      removed++;
    }
    const copy = JSON.stringify({ mode: policy.mode, deny: policy.deny, byContent: policy.byContent ?? false, appliedAt: new Date().toISOString(), rules: entries.length }, null, 2);
    await rootExec(target, 'sh', ['-c', `mkdir -p /run/bpf-lsm-studio && cat > ${POLICY_COPY}`], copy);
    return { replaced, loaded: true, rules: entries.length, removed, missing: resolved.filter((r) => !r.resolved).map((r) => r.path), mode: policy.mode };
  } finally {
    // The link (if any) is pinned and the maps are pinned: closing the object keeps enforcement in place.
    await client.call('unloadObject', { objectId: loaded.objectId }).catch(() => undefined);
  }
}

/**
 * Detaches the deny list (gone when this returns: the helper unpins its link) and removes its maps and copy.
 * Resolves false when nothing was applied.
 */
export async function clearPolicy(target: Target, client: HelperClient): Promise<boolean> {
  const had = (await client.call('unpinLinks', { paths: [LINK_PIN] })).removed > 0;
  const r = await rootExec(target, 'rm', ['-f', ...MAP_PINS, POLICY_COPY]);
  if (r.exitCode !== 0) throw new PolicyError(`removing the policy's pins on ${target.id} failed: ${r.stderr.trim()}`);
  return had;
}

export interface PolicyStatus {
  readonly active: boolean;
  readonly mode?: PolicyMode;
  readonly deny?: string[];
  readonly appliedAt?: string;
  readonly rules?: number;
  /** bpftool's view of the pinned link (program id, attach type) when bpftool is on the target. */
  readonly link?: { id: number; prog_id: number; [k: string]: unknown };
}

export async function policyStatus(target: Target): Promise<PolicyStatus> {
  if (!(await linkPinned(target))) return { active: false };
  const copy = await rootExec(target, 'cat', [POLICY_COPY]);
  let recorded: Partial<PolicyStatus> = {};
  try {
    recorded = copy.exitCode === 0 ? (JSON.parse(copy.stdout) as Partial<PolicyStatus>) : {};
  } catch {
    recorded = {};
  }
  const link = await rootExec(target, 'bpftool', ['--json', 'link', 'show', 'pinned', LINK_PIN]);
  let linkInfo: PolicyStatus['link'];
  try {
    linkInfo = link.exitCode === 0 ? JSON.parse(link.stdout) : undefined;
  } catch {
    linkInfo = undefined;
  }
  return { active: true, ...recorded, ...(linkInfo ? { link: linkInfo } : {}) };
}
