// What a recorded trace says a program asked for, in the terms profiles speak: the execs, file opens and
// TCP/UDP connects of each process, and which profile's subject each process was at that moment.
// Subjects are followed as the enforcement probe follows them: a process becomes a subject at the
// bprm_check_security of the subject's executable (so the interpreter the kernel opens next is already
// the subject's), forks inherit, and an exec of anything else keeps the profile only with "descendants".
// Replay and Propose both walk traces through here, so they agree on what was asked.
import type { HookEvent, TraceEvent, TraceValue } from '../../shared/traceEvent';
import type { ConnectProto, FileAccess } from './profile';

export type AccessRequest =
  | { readonly kind: 'exec'; readonly path: string; readonly filename: string }
  | { readonly kind: 'file'; readonly path: string; readonly access: FileAccess }
  | { readonly kind: 'connect'; readonly proto: ConnectProto; readonly family: 4 | 6; readonly addr: string; readonly port: number };

export interface SubjectSpec {
  readonly path: string;
  readonly descendants: boolean;
}

export interface ObservedAccess {
  readonly event: HookEvent;
  /** Index of the event in the trace. */
  readonly index: number;
  readonly request: AccessRequest;
  /** The profile (index into the subjects given) the process was under, if any. */
  readonly subject?: number;
}

function rec(v: TraceValue | undefined): Record<string, TraceValue> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, TraceValue>) : undefined;
}

const str = (v: TraceValue | undefined): string | undefined => (typeof v === 'string' ? v : undefined);

/** file_open's access from the file's f_mode (FMODE_READ / FMODE_WRITE), as the probe reads it. */
export function fileAccess(fMode: string | undefined): FileAccess {
  const r = !!fMode?.includes('FMODE_READ');
  const w = !!fMode?.includes('FMODE_WRITE');
  return r && w ? 'rw' : w ? 'write' : 'read';
}

/** /proc/<own pid>/... -> /proc/self/..., as the probe reads it for the process doing the open. */
export function procSelf(path: string, tgid: number): string {
  const prefix = `/proc/${tgid}`;
  return path === prefix || path.startsWith(`${prefix}/`) ? `/proc/self${path.slice(prefix.length)}` : path;
}

const SOCK_PROTO: Record<string, ConnectProto> = { SOCK_STREAM: 'tcp', SOCK_DGRAM: 'udp' };

/** The request a hook event stands for, or undefined for hooks profiles do not govern. */
export function requestOf(e: HookEvent, execPath?: string): AccessRequest | undefined {
  if (e.hook === 'bprm_check_security') {
    const filename = str(rec(e.args.bprm)?.filename) ?? str(rec(e.args.file)?.path) ?? '';
    return { kind: 'exec', path: execPath ?? filename, filename };
  }
  if (e.hook === 'file_open') {
    const file = rec(e.args.file);
    const path = str(file?.path);
    // The executable (and the interpreter) opened by execve are judged by the exec rules, not file rules.
    if (!path || str(file?.f_flags)?.includes('__FMODE_EXEC')) return undefined;
    return { kind: 'file', path: procSelf(path, e.tgid), access: fileAccess(str(file?.f_mode)) };
  }
  if (e.hook === 'socket_connect') {
    const address = rec(e.args.address);
    const family = str(address?.family);
    if (family !== 'AF_INET' && family !== 'AF_INET6') return undefined;
    const sock = rec(e.args.sock);
    const proto = SOCK_PROTO[str(sock?.type) ?? ''] ?? 'any';
    return { kind: 'connect', proto, family: family === 'AF_INET' ? 4 : 6, addr: str(address?.addr) ?? '', port: Number(address?.port ?? 0) };
  }
  return undefined;
}

/** How a replay or proposal told subjects' execs apart (said in replay's output). */
export interface SubjectMatching {
  /** Execs that made a process a subject. */
  subjectExecs: number;
  /** Of those, execs of the subject's file under another name (a hard link): found by inode only. */
  byInodeOnly: number;
  /** Execs whose opened file showed no inode number, so only their path could be compared. */
  withoutInode: number;
}

interface ExecOpen {
  readonly path: string;
  readonly ino?: number;
}

/** The executable (or interpreter) execve opens: a file_open with __FMODE_EXEC. */
function execOpenOf(e: HookEvent): ExecOpen | undefined {
  if (e.hook !== 'file_open') return undefined;
  const file = rec(e.args.file);
  const path = str(file?.path);
  if (!path || !str(file?.f_flags)?.includes('__FMODE_EXEC')) return undefined;
  return { path, ...(typeof file?.ino === 'number' && file.ino > 0 ? { ino: file.ino } : {}) };
}

/** The executable each exec opened (file_open with __FMODE_EXEC just before bprm_check_security), in order. */
function* execsOf(events: readonly TraceEvent[]): Generator<{ index: number; event: HookEvent; opened?: ExecOpen }> {
  const opened = new Map<number, ExecOpen>();
  for (let index = 0; index < events.length; index++) {
    const e = events[index];
    if (e.kind !== 'hook') continue;
    const exe = execOpenOf(e);
    if (exe) opened.set(e.pid, exe);
    else if (e.hook === 'bprm_check_security') {
      yield { index, event: e, opened: opened.get(e.pid) };
      opened.delete(e.pid);
    }
  }
}

/**
 * The inode numbers the trace shows for each subject's executable (the files its path was exec'd as). The
 * probe knows subjects by inode and device; traces carry the inode of an opened file but not its device.
 */
function subjectInodes(events: readonly TraceEvent[], subjects: readonly SubjectSpec[]): Array<Set<number>> {
  const out = subjects.map(() => new Set<number>());
  for (const x of execsOf(events)) {
    const r = requestOf(x.event, x.opened?.path);
    if (r?.kind !== 'exec' || x.opened?.ino === undefined) continue;
    subjects.forEach((s, i) => {
      if (s.path === r.path || s.path === r.filename) out[i].add(x.opened!.ino!);
    });
  }
  return out;
}

/**
 * Walks a trace in order and reports each governed request with the profile its process was under.
 * `subjects[i]` is profile i's subject. A process becomes a subject at the exec of the subject's file,
 * judged as the probe judges it where the trace allows: by the opened file's inode when the trace shows
 * one for the subject's path (so a hard link of the subject is the subject too), by the path (as written
 * or resolved) otherwise. `matching`, when given, counts how subjects were found.
 */
export function* observedAccesses(events: readonly TraceEvent[], subjects: readonly SubjectSpec[], matching?: SubjectMatching): Generator<ObservedAccess> {
  const inodes = subjectInodes(events, subjects);
  const under = new Map<number, number>();
  // The last executable execve opened per thread: bprm_check_security's resolved path and its inode.
  const execOpened = new Map<number, ExecOpen>();
  for (let index = 0; index < events.length; index++) {
    const e = events[index];
    if (e.kind === 'process') {
      if (e.what === 'fork' && e.child !== undefined) {
        const s = under.get(e.tgid);
        if (s !== undefined) under.set(e.child, s);
      } else if (e.what === 'exit' && e.pid === e.tgid) under.delete(e.tgid);
      continue;
    }
    if (e.kind !== 'hook') continue;
    const exe = execOpenOf(e);
    if (exe) execOpened.set(e.pid, exe);
    const opened = e.hook === 'bprm_check_security' ? execOpened.get(e.pid) : undefined;
    const request = requestOf(e, opened?.path);
    if (!request) continue;
    const subject = under.get(e.tgid);
    yield { event: e, index, request, ...(subject !== undefined ? { subject } : {}) };
    if (request.kind === 'exec') {
      execOpened.delete(e.pid);
      const byPath = (i: number) => subjects[i].path === request.path || subjects[i].path === request.filename;
      const ino = opened?.ino;
      const next = subjects.findIndex((_, i) => (ino !== undefined && inodes[i].has(ino)) || byPath(i));
      if (next >= 0) {
        if (matching) {
          matching.subjectExecs++;
          if (ino === undefined) matching.withoutInode++;
          else if (!byPath(next)) matching.byInodeOnly++;
        }
        under.set(e.tgid, next);
      } else if (subject !== undefined && !subjects[subject].descendants) under.delete(e.tgid);
    }
  }
}

/** Reads a trace as `bpf-lsm trace --json` and saved sessions write it: one event per line. */
export function parseTraceJsonl(text: string, what = 'the trace'): TraceEvent[] {
  const out: TraceEvent[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let e: unknown;
    try {
      e = JSON.parse(line);
    } catch (err) {
      throw new Error(`${what} line ${i + 1} is not JSON (${(err as Error).message}); expected one event per line as "bpf-lsm trace --json" writes`);
    }
    if (!e || typeof e !== 'object' || typeof (e as { kind?: unknown }).kind !== 'string') throw new Error(`${what} line ${i + 1} is not a trace event (no "kind")`);
    out.push(e as TraceEvent);
  });
  return out;
}
