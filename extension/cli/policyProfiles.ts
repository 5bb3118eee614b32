// `bpf-lsm policy replay POLICY TRACE.jsonl` and `bpf-lsm policy propose [--out FILE] [--from TRACE.jsonl |
// -- PROGRAM ARGS...]`: profiles tried on recorded behaviour, and proposed from it. Replay needs no target;
// propose records a fresh trace on the target when no --from is given.
import { existsSync, readFileSync } from 'node:fs';
import type { ParsedArgs } from './args';
import { UsageError } from './args';
import { parseTraceJsonl } from '../core/policy/access';
import { parsePolicyDocument } from '../core/policy/profile';
import { formatReplay, replay } from '../core/policy/replay';
import { proposeProfile } from '../core/policy/propose';
import { lineDiff, mergeProfile } from '../core/policy/policyText';
import { recordTrace } from '../core/policy/record';
import type { TraceEvent } from '../shared/traceEvent';
import { writeFileAtomic } from '../shared/atomicWrite';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

export function readTrace(path: string): TraceEvent[] {
  return parseTraceJsonl(readText(path, 'the trace'), path);
}

/** Exit 0 with no would-be denials, 3 with some (so scripts can gate on it). */
export function runReplay(args: ParsedArgs): number {
  const [, policyFile, traceFile, ...extra] = args.positional;
  if (!policyFile || !traceFile || extra.length) throw new UsageError('policy replay takes a POLICY file and a TRACE.jsonl');
  const doc = parsePolicyDocument(readText(policyFile, 'the policy'), policyFile);
  const result = replay(doc, readTrace(traceFile));
  if (args.flags.has('json')) {
    console.log(JSON.stringify({ ...result, denials: result.denials.map((d) => ({ index: d.index, time: d.event.time, pid: d.event.pid, comm: d.event.comm, hook: d.event.hook, request: d.request, rule: d.verdict.rule, mode: d.verdict.mode })) }));
  } else console.log(formatReplay(result, `replay of ${policyFile} over ${traceFile}`));
  return result.denials.length ? 3 : 0;
}

export async function runPropose(args: ParsedArgs, targetId: string, progress: (m: string) => void): Promise<number> {
  if (args.positional.length > 1) throw new UsageError(`policy propose takes no positional arguments (got ${args.positional.slice(1).join(' ')}); put the program after --`);
  const from = args.flags.get('from');
  if ((typeof from === 'string') === args.rest.length > 0) throw new UsageError('policy propose needs either --from TRACE.jsonl or -- PROGRAM ARGS... (one of them)');
  let events: TraceEvent[];
  if (typeof from === 'string') events = readTrace(from);
  else {
    const recorded = await recordTrace(targetId, args.rest, { asRoot: args.flags.has('as-root') }, progress);
    events = recorded.events;
    progress(`${args.rest[0]} exited with ${recorded.exitCode ?? 'a signal'}; ${events.length} events recorded`);
    const save = args.flags.get('save-trace');
    if (typeof save === 'string') writeFileAtomic(save, events.map((e) => JSON.stringify(e)).join('\n') + '\n');
  }
  const subject = args.flags.get('subject');
  const { profile, notes } = proposeProfile(events, { mode: args.flags.has('enforce') ? 'enforce' : 'audit', ...(typeof subject === 'string' ? { subject } : {}) });
  for (const n of notes) progress(`generalised: ${n}`);
  const out = args.flags.get('out');
  if (typeof out !== 'string') {
    process.stdout.write(mergeProfile(undefined, profile));
    return 0;
  }
  const existing = existsSync(out) ? readText(out, 'the policy') : undefined;
  const merged = mergeProfile(existing, profile, out);
  if (existing === undefined || args.flags.has('force')) {
    writeFileAtomic(out, merged);
    progress(`${existing === undefined ? 'wrote' : 'updated'} ${out}: profile "${profile.name}" (${profile.mode}), ${profile.exec.length} exec, ${profile.files.length} file and ${profile.connect.length} connect rules`);
    return 0;
  }
  const diff = lineDiff(existing, merged);
  if (!diff) {
    progress(`${out} already holds this profile; nothing to change`);
    return 0;
  }
  console.log(`--- ${out}\n+++ ${out} (proposed)\n${diff}`);
  progress(`${out} exists: not overwritten; the difference is above (run again with --force to write it)`);
  return 0;
}
