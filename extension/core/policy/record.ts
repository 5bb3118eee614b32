// A fresh trace for Propose: the program run on the target under the tracer, its execs, file opens and
// connects (and process events) kept in memory. The built-in VM is started when the target is a VM.
import { createTarget, vmKernelOf } from '../targets';
import { BuiltinVm } from '../vm/vm';
import { TracerSession } from '../trace/tracerSession';
import { traceProgram } from '../trace/traceProgram';
import type { TraceEvent } from '../../shared/traceEvent';

/** The hooks profiles govern: what Propose needs in a trace. */
export const PROFILE_HOOKS = ['bprm_check_security', 'file_open', 'socket_connect'];

export interface RecordedTrace {
  readonly events: TraceEvent[];
  readonly exitCode: number | null;
  /** Events lost on the way (a proposal from a lossy trace may miss rules). */
  readonly dropped: number;
}

export async function recordTrace(targetId: string, argv: readonly string[], options: { asRoot?: boolean }, progress: (m: string) => void): Promise<RecordedTrace> {
  const kernel = vmKernelOf(targetId);
  if (kernel) await BuiltinVm.of(kernel).up((m) => progress(`vm: ${m}`));
  const target = createTarget(targetId);
  const session = await TracerSession.connect(target, progress);
  // All hooks, as `bpf-lsm trace` asks: the tracer resident on the target is reused instead of replaced.
  const state = await session.prepare({ follow: true }, progress);
  const missing = PROFILE_HOOKS.filter((h) => !state.attached.includes(h));
  if (missing.length) progress(`warning: ${missing.join(', ')} not traced on this kernel; the proposal has no rules of that kind`);
  const events: TraceEvent[] = [];
  const summary = await traceProgram(
    session,
    { argv, asRoot: options.asRoot === true, onOutput: (_stream, text) => process.stderr.write(text) },
    (batch) => {
      for (const e of batch) events.push(e);
    },
  );
  const dropped = summary.drops.kernel + summary.drops.helper + summary.drops.undecodable;
  if (dropped > 0) progress(`warning: ${dropped} events were lost while tracing; the proposal may miss what they were (trace again)`);
  return { events, exitCode: summary.exitCode, dropped };
}
