// The decoded trace event: what the tracer's decoder produces, what `bpf-lsm trace --json` prints one per
// line, what a saved session (.jsonl) holds, and what the tracing panel shows. Plain data, JSON-safe.

/** A decoded argument: numbers and strings as read, flag masks as their names, kernel structs as small records. */
export type TraceValue = number | string | boolean | null | readonly TraceValue[] | { readonly [field: string]: TraceValue };

interface TraceEventBase {
  /** Nanoseconds since boot on the target (bpf_ktime_get_ns). */
  readonly time: number;
  readonly cpu?: number;
  /** Thread id (the kernel's pid) and process id (tgid). */
  readonly pid: number;
  readonly tgid: number;
  readonly comm: string;
  /** Index of the event in its session, assigned on arrival; stable across filtering. */
  seq?: number;
}

/** An LSM hook call. */
export interface HookEvent extends TraceEventBase {
  readonly kind: 'hook';
  readonly hook: string;
  readonly category?: string;
  readonly args: { readonly [name: string]: TraceValue };
  /**
   * Int hooks: what the hook's BPF programs returned before this record was made; a negative errno is a denial.
   * A trace records on the hook's entry, before any of them (0); a test run's fexit tracer, after all of them.
   */
  readonly ret?: number;
  /** The syscall this hook ran inside, when the thread was in one. */
  readonly syscall?: string;
  /** Where the program that emitted it is defined, for source links. */
  readonly source?: { readonly file: string; readonly line: number };
}

export interface SyscallEnterEvent extends TraceEventBase {
  readonly kind: 'syscall_enter';
  readonly syscall: string;
  readonly nr: number;
  readonly args: readonly number[];
}

export interface SyscallExitEvent extends TraceEventBase {
  readonly kind: 'syscall_exit';
  readonly syscall: string;
  readonly nr: number;
  readonly ret: number;
}

/** A process entered or left the traced set (fork followed, exec, exit). */
export interface ProcessEvent extends TraceEventBase {
  readonly kind: 'process';
  readonly what: 'fork' | 'exec' | 'exit';
  readonly child?: number;
  readonly exitCode?: number;
  readonly filename?: string;
}

/** Events lost on the way, by the hop that lost them; the panel and the CLI always show these. */
export interface DropEvent extends TraceEventBase {
  readonly kind: 'drops';
  readonly where: 'kernel' | 'helper' | 'client' | 'panel';
  readonly count: number;
}

export type TraceEvent = HookEvent | SyscallEnterEvent | SyscallExitEvent | ProcessEvent | DropEvent;
