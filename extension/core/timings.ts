// Where a command's wall time goes, for `BPF_LSM_TIMINGS=1 bpf-lsm ...`: phases marked on the way (host
// node start, target, helper session, tracer, program run, drain) printed on stderr when the command ends.
// Off by default and silent: marks are dropped unless the variable is set.
import { performance } from 'node:perf_hooks';

const enabled = process.env.BPF_LSM_TIMINGS === '1';
const marks: Array<{ phase: string; at: number }> = [];

export function timingsEnabled(): boolean {
  return enabled;
}

/** Notes that `phase` ended now (milliseconds since this process started, node's own start included). */
export function mark(phase: string): void {
  if (enabled) marks.push({ phase, at: performance.now() });
}

/** The phases so far, one line each: time since process start and since the previous phase. */
export function formatTimings(): string {
  let last = 0;
  return marks
    .map((m) => {
      const line = `  ${m.at.toFixed(0).padStart(6)} ms  +${(m.at - last).toFixed(0).padStart(5)} ms  ${m.phase}`;
      last = m.at;
      return line;
    })
    .join('\n');
}
