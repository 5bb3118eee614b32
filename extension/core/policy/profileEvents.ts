// Events of bpf/profile_guard.bpf.c (struct profile_event): what a profile denied (enforce) or reported
// (audit), decoded by member name from the object's own BTF, and shown in the tracing panel as the hook
// call they were, returning -EPERM when denied, so "Denied only" finds them.
import { cString, eventLayout } from './eventLayout';
import type { HookEvent } from '../../shared/traceEvent';
import type { PolicyMode } from './policy';

export interface ProfileEvent {
  readonly timeNs: bigint;
  readonly pid: number;
  readonly uid: number;
  readonly comm: string;
  /** Index of the profile in the applied file. */
  readonly profile: number;
  readonly request: 'exec' | 'file' | 'connect';
  readonly mode: PolicyMode;
  /** PROFILE_READ 1 | PROFILE_WRITE 2 | PROFILE_EXEC 4 */
  readonly access: number;
  /** The rule's index in its list, or -1: the profile's default decided. */
  readonly rule: number;
  readonly path: string;
  readonly family: number;
  readonly proto: number;
  readonly port: number;
  readonly addr: Buffer;
}

export type ProfileEventDecoder = (record: Buffer) => ProfileEvent;

const REQUEST = { 1: 'exec', 2: 'file', 3: 'connect' } as const;

export function profileEventDecoder(object: Uint8Array): ProfileEventDecoder {
  const o = eventLayout(object, 'profile_guard', 'profile_event', ['time_ns', 'pid', 'uid', 'profile', 'request', 'mode', 'access', 'rule', 'port', 'family', 'proto', 'addr', 'comm', 'path'] as const);
  return (b) => ({
    timeNs: b.readBigUInt64LE(o.time_ns),
    pid: b.readUInt32LE(o.pid),
    uid: b.readUInt32LE(o.uid),
    profile: b.readUInt32LE(o.profile),
    request: REQUEST[b.readUInt32LE(o.request) as 1 | 2 | 3] ?? 'file',
    mode: b.readUInt32LE(o.mode) === 2 ? 'enforce' : 'audit',
    access: b.readUInt32LE(o.access),
    rule: b.readInt32LE(o.rule),
    port: b.readUInt16LE(o.port),
    family: b.readUInt8(o.family),
    proto: b.readUInt8(o.proto),
    addr: Buffer.from(b.subarray(o.addr, o.addr + 16)),
    comm: cString(b, o.comm, 16),
    path: cString(b, o.path, 256),
  });
}

function address(e: ProfileEvent): string {
  if (e.family === 4) return [...e.addr.subarray(0, 4)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(e.addr.readUInt16BE(i).toString(16));
  return groups.join(':');
}

const EPERM = 1;

/** The event as the panel row of the hook it came from; `names` are the applied profiles' names. */
export function profileHookEvent(e: ProfileEvent, names: readonly string[] = []): HookEvent {
  const profile = names[e.profile] ?? `profile ${e.profile}`;
  const list = e.request === 'exec' ? 'exec' : e.request === 'file' ? 'files' : 'connect';
  const rule = e.rule >= 0 ? `${profile}: ${list}[${e.rule}]` : `${profile}: no ${list} rule allows it (default deny)`;
  const common = { kind: 'hook' as const, time: Number(e.timeNs), pid: e.pid, tgid: e.pid, comm: e.comm, ret: e.mode === 'enforce' ? -EPERM : 0 };
  const policy = { policy: e.mode, rule, uid: e.uid };
  if (e.request === 'connect') {
    const proto = ['any', 'tcp', 'udp'][e.proto] ?? String(e.proto);
    return { ...common, hook: 'socket_connect', category: 'socket', args: { address: { family: e.family === 4 ? 'AF_INET' : 'AF_INET6', addr: address(e), port: e.port }, proto, ...policy } };
  }
  if (e.request === 'exec') return { ...common, hook: 'bprm_check_security', category: 'bprm', args: { path: e.path, ...policy } };
  const access = (e.access & 1 ? 'r' : '') + (e.access & 2 ? 'w' : '');
  return { ...common, hook: 'file_open', category: 'file', args: { file: { path: e.path }, access, ...policy } };
}
