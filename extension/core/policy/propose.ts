// Propose: the least-privilege profile a trace shows a program needs. Every exec, file open and connect
// its processes made becomes an allow rule, generalised in three visible ways (listed in the profile's
// "description" and returned as notes): shared libraries by directory, the process's own /proc/<pid>/ as
// /proc/self/, temporary files by their temporary directory. Everything else is the exact path/address.
import type { TraceEvent } from '../../shared/traceEvent';
import { observedAccesses } from './access';
import type { PolicyMode } from './policy';
import type { ConnectRule, FileAccess, FileRule, Profile } from './profile';

export interface ProposeOptions {
  /** The subject's executable; default: the first program the trace shows exec'd. */
  readonly subject?: string;
  readonly mode?: PolicyMode;
  readonly name?: string;
}

export interface Proposal {
  readonly profile: Profile & { readonly description: string };
  /** The generalisations made, one line each, for the user to check. */
  readonly notes: readonly string[];
}

export class ProposeError extends Error {}

const TEMP_DIRS = ['/tmp/', '/var/tmp/', '/dev/shm/'];
const SHARED_LIB = /\.so(\.\d+)*$/;

const union = (a: FileAccess | undefined, b: FileAccess): FileAccess => (!a || a === b ? b : 'rw');
const dirOf = (p: string) => p.slice(0, p.lastIndexOf('/') + 1);

export function proposeProfile(events: readonly TraceEvent[], options: ProposeOptions = {}): Proposal {
  let subject = options.subject;
  if (!subject) {
    for (const a of observedAccesses(events, [])) {
      if (a.request.kind === 'exec') {
        subject = a.request.filename || a.request.path;
        break;
      }
    }
  }
  if (!subject) throw new ProposeError('the trace shows no exec, so it does not say which program to confine; record it with "bpf-lsm trace --json -- PROGRAM ..." (or name the subject with --subject)');
  const execs = new Set<string>();
  const files = new Map<string, FileAccess>();
  const connects = new Map<string, ConnectRule>();
  const libs = new Map<string, Set<string>>();
  const temps = new Map<string, number>();
  let procSelf = 0;
  let seen = 0;
  for (const a of observedAccesses(events, [{ path: subject, descendants: true }])) {
    if (a.subject === undefined) continue;
    seen++;
    const r = a.request;
    if (r.kind === 'exec') execs.add(r.path);
    else if (r.kind === 'connect') {
      const rule: ConnectRule = { proto: r.proto, addr: r.addr, port: r.port };
      connects.set(JSON.stringify(rule), rule);
    } else {
      let path = r.path;
      const base = path.slice(path.lastIndexOf('/') + 1);
      const temp = TEMP_DIRS.find((d) => path.startsWith(d));
      if (path.startsWith('/proc/self/') || path === '/proc/self') procSelf++;
      if (temp) {
        temps.set(temp, (temps.get(temp) ?? 0) + 1);
        path = temp;
      } else if (r.access === 'read' && SHARED_LIB.test(base)) {
        path = dirOf(path);
        libs.set(path, (libs.get(path) ?? new Set()).add(base));
      }
      files.set(path, union(files.get(path), r.access));
    }
  }
  if (seen === 0) throw new ProposeError(`the trace shows ${subject} exec'd but nothing it did after that (no file_open, bprm_check_security or socket_connect events of its process); record the trace with those hooks`);
  const notes: string[] = [];
  for (const [dir, names] of libs) notes.push(`shared libraries by directory: ${dir} (seen: ${[...names].sort().join(', ')})`);
  if (procSelf) notes.push(`the process's own /proc/<pid>/ as /proc/self/ (${procSelf} open${procSelf === 1 ? '' : 's'})`);
  for (const [dir, n] of temps) notes.push(`temporary files by directory: ${dir} (${n} open${n === 1 ? '' : 's'})`);
  const name = options.name ?? subject.slice(subject.lastIndexOf('/') + 1);
  const fileRules: FileRule[] = [...files].map(([path, access]) => ({ path, access })).sort((a, b) => a.path.localeCompare(b.path));
  return {
    profile: {
      name,
      description: `Proposed by "bpf-lsm policy propose" from ${seen} execs/opens/connects. Generalised: ${notes.length ? notes.join('; ') : 'nothing'}.`,
      subject: { path: subject, descendants: execs.size > 0 },
      mode: options.mode ?? 'audit',
      default: 'deny',
      exec: [...execs].sort(),
      files: fileRules,
      connect: [...connects.values()],
    },
    notes,
  };
}
