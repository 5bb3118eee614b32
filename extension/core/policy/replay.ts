// Replay: a policy tried on recorded behaviour. Every exec, file open and connect in a trace is judged
// as the probe would judge it; the result lists each event the policy would deny (or, for audit-mode
// profiles, report) with the deciding rule, and counts per rule. Pure: no target involved.
import type { HookEvent, TraceEvent } from '../../shared/traceEvent';
import { observedAccesses, type AccessRequest, type SubjectMatching } from './access';
import { judge, judgeExecDenyList, type Verdict } from './match';
import type { PolicyDocument } from './profile';

export interface ReplayDenial {
  /** Index of the event in the trace. */
  readonly index: number;
  readonly event: HookEvent;
  readonly request: AccessRequest;
  readonly verdict: Verdict;
}

export interface ReplayResult {
  readonly events: number;
  /** Governed requests seen (execs, file opens, connects), and how many came from a profile's subjects. */
  readonly requests: number;
  readonly bySubjects: number;
  readonly denials: readonly ReplayDenial[];
  /** Would-be denials per deciding rule, most first. */
  readonly perRule: ReadonlyArray<{ rule: string; mode: string; count: number }>;
  /** How subjects' execs were recognised (by inode where the trace shows it, else by path). */
  readonly subjectMatching: SubjectMatching;
}

export function replay(doc: PolicyDocument, events: readonly TraceEvent[]): ReplayResult {
  const denials: ReplayDenial[] = [];
  let requests = 0;
  let bySubjects = 0;
  const subjects = doc.profiles.map((p) => p.subject);
  const subjectMatching: SubjectMatching = { subjectExecs: 0, byInodeOnly: 0, withoutInode: 0 };
  for (const a of observedAccesses(events, subjects, subjectMatching)) {
    requests++;
    let verdict = judgeExecDenyList(doc.exec, a.request);
    if (a.subject !== undefined) {
      bySubjects++;
      const v = judge(doc.profiles[a.subject], a.request);
      if (!verdict && v.denied) verdict = v;
    }
    if (verdict?.denied) denials.push({ index: a.index, event: a.event, request: a.request, verdict });
  }
  const counts = new Map<string, { rule: string; mode: string; count: number }>();
  for (const d of denials) {
    const c = counts.get(d.verdict.rule) ?? { rule: d.verdict.rule, mode: d.verdict.mode, count: 0 };
    c.count++;
    counts.set(d.verdict.rule, c);
  }
  return { events: events.length, requests, bySubjects, denials, subjectMatching, perRule: [...counts.values()].sort((a, b) => b.count - a.count || a.rule.localeCompare(b.rule)) };
}

/** What replay assumed about subjects: the probe knows them by inode and device, traces only show inodes. */
export function describeMatching(m: SubjectMatching): string {
  const parts = [`subjects: ${m.subjectExecs} exec${m.subjectExecs === 1 ? '' : 's'} of a subject, matched by the executable's inode as the trace shows it (the probe also compares the device, which traces do not record)`];
  if (m.byInodeOnly) parts.push(`${m.byInodeOnly} of them under another name (a hard link of the subject: the probe confines it too)`);
  if (m.withoutInode) parts.push(`${m.withoutInode} by path only (the trace shows no inode for them; a hard link or bind mount of a subject would be missed)`);
  return parts.join('; ');
}

export function describeRequest(r: AccessRequest): string {
  if (r.kind === 'exec') return `exec ${r.path}${r.filename && r.filename !== r.path ? ` (as ${r.filename})` : ''}`;
  if (r.kind === 'file') return `open ${r.path} (${r.access})`;
  return `connect ${r.proto} ${r.family === 6 ? `[${r.addr}]` : r.addr}:${r.port}`;
}

const EPERM = 1;

/**
 * The trace with each would-be denial marked as the panel shows enforced ones: the hook returns -EPERM
 * (so "Denied only" shows it) and `args.replay` names the rule. Other events are returned as they were.
 */
export function markDenials(events: readonly TraceEvent[], result: ReplayResult): TraceEvent[] {
  const out = [...events];
  for (const d of result.denials) {
    out[d.index] = { ...d.event, ret: -EPERM, args: { ...d.event.args, replay: `${d.verdict.mode === 'enforce' ? 'would deny' : 'would report (audit)'}: ${d.verdict.rule}` } };
  }
  return out;
}

export function formatReplay(r: ReplayResult, what: string): string {
  const lines = [`${what}: ${r.events} events, ${r.requests} execs/opens/connects (${r.bySubjects} by a profile's subjects), ${r.denials.length} would-be denial${r.denials.length === 1 ? '' : 's'}`];
  lines.push(describeMatching(r.subjectMatching));
  if (r.perRule.length) {
    lines.push('per rule:');
    for (const c of r.perRule) lines.push(`  ${String(c.count).padStart(6)}  ${c.rule} [${c.mode}]`);
    lines.push('events:');
    const t0 = r.denials[0].event.time;
    for (const d of r.denials) {
      lines.push(`  #${d.index + 1} +${((d.event.time - t0) / 1e6).toFixed(3)} ms pid ${d.event.pid} ${d.event.comm}: ${describeRequest(d.request)} <- ${d.verdict.rule}`);
    }
  }
  return lines.join('\n');
}
