// The readable form of a trace for a terminal: syscall enter/exit lines with the hook calls made inside
// them indented below, each hook's decoded arguments on one line. Kernel strings are printed escaped, so a
// file name with terminal control sequences cannot drive the user's terminal.
import { formatArg } from '../../shared/panel/format';
import type { TraceEvent, TraceValue } from '../../shared/traceEvent';
import type { TraceSummary } from './traceProgram';
import type { TracerState } from './tracerSession';

/** Strings that JSON.stringify leaves as they are: printable ASCII without `"` and `\\`. */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** JSON string escaping plus DEL and the C1 controls, which JSON leaves raw but terminals obey. */
export function quote(s: string): string {
  // Most kernel strings are plain names and paths: no escaping to do, and no regular expression replace.
  if (PLAIN.test(s)) return `"${s}"`;
  return JSON.stringify(s).replace(/[\u007f-\u009f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function formatValue(v: TraceValue): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return quote(v);
  if (typeof v !== 'object') return String(v);
  if (Array.isArray(v)) return `[${v.map(formatValue).join(', ')}]`;
  return `{${fields(v as Record<string, TraceValue>)}}`;
}

/** `k=v` for each field, space-separated, without the arrays Object.entries and map would allocate. */
function fields(o: Record<string, TraceValue>): string {
  let out = '';
  for (const k in o) out += out === '' ? `${k}=${formatValue(o[k])}` : ` ${k}=${formatValue(o[k])}`;
  return out;
}

/** The pid and comm columns of the previous line: consecutive events mostly come from one thread. */
let lastWho = { pid: -1, comm: '', text: '' };

function who(e: TraceEvent): string {
  if (e.pid !== lastWho.pid || e.comm !== lastWho.comm) {
    lastWho = { pid: e.pid, comm: e.comm, text: `${String(e.pid).padStart(6)} ${quote(e.comm).slice(1, -1).padEnd(15)}` };
  }
  return lastWho.text;
}

function errnoText(ret: number): string {
  return ret < 0 ? `${ret} (denied)` : String(ret);
}

function syscallArgs(args: readonly number[]): string {
  let out = '';
  for (let i = 0; i < args.length; i++) out += i ? `, ${formatArg(args[i])}` : formatArg(args[i]);
  return out;
}

/** One event as one line (no trailing newline). `t0` is the time of the session's first event (ns). */
export function formatEvent(e: TraceEvent, t0: number): string {
  const t = ((e.time - t0) / 1e9).toFixed(6).padStart(11);
  switch (e.kind) {
    case 'hook': {
      const args = fields(e.args as Record<string, TraceValue>);
      const ret = e.ret !== undefined ? `  = ${errnoText(e.ret)}` : '';
      return `${t} ${who(e)}     ${e.hook}(${args})${ret}`;
    }
    case 'syscall_enter':
      return `${t} ${who(e)} -> ${e.syscall}(${syscallArgs(e.args)})`;
    case 'syscall_exit':
      return `${t} ${who(e)} <- ${e.syscall} = ${e.ret}`;
    case 'process':
      if (e.what === 'fork') return `${t} ${who(e)} ** fork: child ${e.child}`;
      if (e.what === 'exec') return `${t} ${who(e)} ** exec ${quote(e.filename ?? '')}`;
      return `${t} ${who(e)} ** exit ${e.exitCode !== undefined ? `status ${e.exitCode >> 8}${e.exitCode & 0x7f ? ` signal ${e.exitCode & 0x7f}` : ''}` : ''}`;
    case 'drops':
      return `${t} !! ${e.count} events dropped in the ${e.where}`;
  }
}

function top(map: ReadonlyMap<string, number>, n: number): string {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

const kib = (n: number) => `${(n / 1024).toFixed(n < 10 * 1024 ? 1 : 0)} KiB`;

export function formatSummary(summary: TraceSummary, state: TracerState): string {
  const hookCalls = [...summary.perHook.values()].reduce((a, b) => a + b, 0);
  const lines = [
    '',
    `exit: ${summary.exitSignal ? `killed by ${summary.exitSignal}` : `status ${summary.exitCode}`}`,
    `events: ${summary.delivered} delivered of ${summary.produced} produced by the kernel, ${hookCalls} hook calls in ${summary.perHook.size} hooks, ${summary.processes} process(es)` +
      (summary.wireBytes < summary.bytes ? `; ${kib(summary.bytes)} of records came compressed as ${kib(summary.wireBytes)}` : ''),
    `drops: kernel ${summary.drops.kernel} (ring full ${summary.drops.ringFull}, nested ${summary.drops.nested}), helper ${summary.drops.helper}, undecodable ${summary.drops.undecodable}, unaccounted ${summary.drops.unaccounted}`,
    `by category: ${top(summary.perCategory, 20) || 'none'}`,
    `top hooks: ${top(summary.perHook, 12) || 'none'}`,
    `top syscalls: ${top(summary.perSyscall, 12) || 'none'}`,
    `tracer: kernel ${state.kernel}, ${state.attached.length} of ${state.hookCount} hooks attached${state.notTraced.length ? ` (${state.notTraced.length} not traced: bpf-lsm trace --show-skipped lists why)` : ''}; first event ${summary.firstEventMs ?? '-'} ms after resume`,
  ];
  return lines.join('\n');
}
