// What a policy says about one request: which rule decides it and whether it is denied. The enforcement
// probe decides the same way (bpf/profile_guard.bpf.c): a path rule is the exact path, or a directory
// prefix when it ends in "/"; an allow-list needs a rule whose access covers the request, a deny-list
// denies when a rule's access overlaps it; connects match protocol, address prefix and port.
import type { AccessRequest } from './access';
import type { Policy, PolicyMode } from './policy';
import { ipBytes, parseCidr, type ConnectRule, type FileAccess, type FileRule, type Profile } from './profile';

export interface Verdict {
  readonly denied: boolean;
  /** Names the deciding rule, e.g. `ls: files[2] /etc/ (read)` or `ls: no files rule allows it (default deny)`. */
  readonly rule: string;
  readonly mode: PolicyMode;
}

export function pathMatches(rule: string, path: string): boolean {
  return rule.endsWith('/') ? path.startsWith(rule) : path === rule;
}

const has = (a: FileAccess, bit: 'read' | 'write') => a === 'rw' || a === bit;
const covers = (rule: FileAccess, want: FileAccess) => (!has(want, 'read') || has(rule, 'read')) && (!has(want, 'write') || has(rule, 'write'));
const overlaps = (rule: FileAccess, want: FileAccess) => (has(want, 'read') && has(rule, 'read')) || (has(want, 'write') && has(rule, 'write'));

export function connectMatches(rule: ConnectRule, r: { proto: string; family: 4 | 6; addr: string; port: number }): boolean {
  if (rule.proto !== 'any' && rule.proto !== r.proto) return false;
  if (rule.port !== undefined && rule.port !== r.port) return false;
  const cidr = parseCidr(rule.addr);
  if (cidr === 'any') return true;
  if (typeof cidr === 'string' || cidr.family !== r.family) return false;
  const addr = ipBytes(r.addr, r.family);
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((addr[bit >> 3] & mask) !== (cidr.bytes[bit >> 3] & mask)) return false;
  }
  return true;
}

export function describeFileRule(r: FileRule): string {
  return `${r.path} (${r.access})`;
}

export function describeConnectRule(r: ConnectRule): string {
  return `${r.proto} ${r.addr}${r.port !== undefined ? ` port ${r.port}` : ''}`;
}

const LIST = { exec: 'exec', file: 'files', connect: 'connect' } as const;

/** The verdict of profile `p` on a request by one of its subjects. */
export function judge(p: Profile, r: AccessRequest): Verdict {
  const allowList = p.default === 'deny';
  const hit = (index: number, text: string): Verdict => ({ denied: !allowList, rule: `${p.name}: ${LIST[r.kind]}[${index}] ${text}`, mode: p.mode });
  let i = -1;
  if (r.kind === 'exec') {
    i = p.exec.findIndex((x) => pathMatches(x, r.path));
    if (i >= 0) return hit(i, p.exec[i]);
  } else if (r.kind === 'file') {
    i = p.files.findIndex((x) => pathMatches(x.path, r.path) && (allowList ? covers(x.access, r.access) : overlaps(x.access, r.access)));
    if (i >= 0) return hit(i, describeFileRule(p.files[i]));
  } else {
    i = p.connect.findIndex((x) => connectMatches(x, r));
    if (i >= 0) return hit(i, describeConnectRule(p.connect[i]));
  }
  return { denied: allowList, rule: allowList ? `${p.name}: no ${LIST[r.kind]} rule allows it (default deny)` : `${p.name}: no ${LIST[r.kind]} rule (default allow)`, mode: p.mode };
}

/** Today's exec deny list, for everyone: the entry that names the executable, if any. */
export function judgeExecDenyList(policy: Policy, r: AccessRequest): Verdict | undefined {
  if (r.kind !== 'exec') return undefined;
  const i = policy.deny.findIndex((d) => d === r.path || d === r.filename);
  return i < 0 ? undefined : { denied: true, rule: `deny[${i}] ${policy.deny[i]}`, mode: policy.mode };
}
