// Hook events of one scenario step: the tracer sees only the process that performs the step and the
// processes it starts, for as long as the step runs; the step's expected events are matched against what
// it saw, and a failing step lists it. The tracer is one per kernel run, with fexit programs on the hooks
// the run's files name (their expectations and their probes' SEC("lsm/...") hooks): fexit programs run
// after every BPF LSM program of a hook, so they see calls a probe denied and the verdict it returned.
import { readFileSync } from 'node:fs';
import type { HookEvent, TraceValue } from '../../shared/traceEvent';
import { formatValue } from '../trace/format';
import { kernelDrops, type TracerCounters } from '../../shared/tracer/control';
import { TracerSession } from '../trace/tracerSession';
import type { Target } from '../target';
import type { HelperClient } from '../helperClient';
import type { ExpectedEvent, ScenarioFile, Step } from './scenarioFile';
import { dirname, resolve } from 'node:path';

/** A decoded argument by dotted path (`bprm.filename`), or undefined when the event has no such member. */
export function argAt(args: HookEvent['args'], path: string): TraceValue | undefined {
  let v: TraceValue | undefined = args as TraceValue;
  for (const part of path.split('.')) {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
    v = (v as Record<string, TraceValue>)[part];
    if (v === undefined) return undefined;
  }
  return v;
}

function globMatches(pattern: string, s: string): boolean {
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 's');
  return re.test(s);
}

/** Whether an event is the expected one: same hook, every named argument equal (strings with `*` as globs), same ret when one is expected. */
export function eventMatches(want: ExpectedEvent, e: HookEvent): boolean {
  if (e.hook !== want.hook) return false;
  if (want.ret !== undefined && e.ret !== want.ret) return false;
  for (const [path, x] of Object.entries(want.args ?? {})) {
    const got = argAt(e.args, path);
    if (typeof x === 'string' && typeof got === 'string' && x.includes('*')) {
      if (!globMatches(x, got)) return false;
    } else if (got !== x) return false;
  }
  return true;
}

export function describeExpectedEvent(want: ExpectedEvent): string {
  const args = Object.entries(want.args ?? {}).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
  return `${want.hook}(${args})${want.ret !== undefined ? ` = ${want.ret}` : ''}`;
}

/** One seen event as a failure message lists it; with `only`, just those arguments (the ones an expectation names). */
export function describeEvent(e: HookEvent, only?: readonly string[]): string {
  const args = only ? only.map((p) => `${p}=${formatValue(argAt(e.args, p) ?? null)}`).join(' ') : Object.entries(e.args).map(([k, v]) => `${k}=${formatValue(v)}`).join(' ');
  return `${e.hook}(${args})${e.ret !== undefined ? ` = ${e.ret}` : ''} [${e.comm} ${e.tgid}]`;
}

/** What the tracer saw during one step. */
export interface StepEvents {
  readonly events: readonly HookEvent[];
  /** Records lost on the way (kernel ring buffer, helper); a listing says so. */
  readonly dropped: number;
  /** Why there are no events at all (no tracer on this kernel, or it did not load), or a hook that is not traced. */
  readonly unavailable?: string;
  readonly notTraced: ReadonlyMap<string, string>;
}

/** How many events a failing step lists before it says how many more there were. */
const LISTED = 12;

/** The events of a step as a failure message lists them (after "hook events seen:"). */
export function listEvents(seen: StepEvents): string {
  if (seen.unavailable) return `  hook events: not traced (${seen.unavailable})`;
  const lines = seen.events.slice(0, LISTED).map((e) => `    ${describeEvent(e)}`);
  if (seen.events.length > LISTED) lines.push(`    ... and ${seen.events.length - LISTED} more`);
  const drops = seen.dropped ? ` (${seen.dropped} events lost on the way)` : '';
  return seen.events.length ? `  hook events seen${drops}:\n${lines.join('\n')}` : `  hook events seen: none${drops}`;
}

/** Why the step's expected events were not all seen, or undefined when they were. */
export function unmatchedEvents(expected: readonly ExpectedEvent[], seen: StepEvents): string | undefined {
  const missing = expected.filter((want) => !seen.events.some((e) => eventMatches(want, e)));
  if (!missing.length) return undefined;
  return missing
    .map((want) => {
      const why = seen.unavailable ?? (seen.notTraced.has(want.hook) ? `${want.hook} is not traced on this kernel: ${seen.notTraced.get(want.hook)}` : undefined);
      if (why) return `expected hook event ${describeExpectedEvent(want)}, but ${why}`;
      const same = seen.events.filter((e) => e.hook === want.hook);
      const named = Object.keys(want.args ?? {});
      const what = same.length ? `${same.length} ${want.hook} call(s): ${same.slice(0, 4).map((e) => describeEvent(e, named)).join('; ')}${same.length > 4 ? '; ...' : ''}` : `no ${want.hook} call`;
      return `expected hook event ${describeExpectedEvent(want)}, saw ${what}`;
    })
    .join('\n  ');
}

const SECTION = /SEC\(\s*"lsm(?:\.s)?\/([a-z0-9_]+)"\s*\)/g;

/** The hooks a run's tracer follows: every hook the files' expected events name and their probes attach to. */
export function tracedHooks(files: readonly ScenarioFile[]): string[] {
  const hooks = new Set<string>();
  for (const f of files) {
    for (const s of f.scenarios) for (const st of s.steps) for (const e of st.events ?? []) hooks.add(e.hook);
    for (const p of f.probes) {
      let text = '';
      try {
        text = readFileSync(resolve(dirname(f.path), p), 'utf8');
      } catch {
        continue; // the build says that the source is missing
      }
      for (const m of text.matchAll(SECTION)) hooks.add(m[1]);
    }
  }
  return [...hooks].sort();
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/**
 * The run's tracer on one kernel: a TracerSession on the runner's helper connection with fexit programs on the
 * given hooks and no syscall events. `observe` traces one process (and what it starts) around a step.
 */
export class StepTracer {
  private constructor(
    private readonly session: TracerSession,
    private readonly notTraced: ReadonlyMap<string, string>,
  ) {}

  /** Loads the tracer; hooks this kernel does not have are left out (an expectation naming one fails with that reason). */
  static async start(target: Target, client: HelperClient, hooks: readonly string[]): Promise<StepTracer> {
    const session = TracerSession.over(target, client);
    try {
      const state = await session.prepare({ hooks, attach: 'fexit', syscalls: false, skipUnknown: true });
      const reasons = new Map(state.notTraced.map((n) => [n.hook, n.reason]));
      const notTraced = new Map(hooks.filter((h) => !state.attached.includes(h)).map((h) => [h, reasons.get(h) ?? `${state.kernel} has no such hook`] as const));
      return new StepTracer(session, notTraced);
    } catch (err) {
      await session.dispose();
      throw err;
    }
  }

  /** The slot's counters after the last step: no process of this slot is traced between steps, so they are the next step's start. */
  private last: TracerCounters | undefined;

  /**
   * Runs `action` with process `pid` traced; events of `skipTgid` (the agent itself, for steps it only
   * starts) are left out. `children`: the step may start processes, which are waited for until they exit.
   */
  async observe<T>(pid: number, skipTgid: number | undefined, children: boolean, action: () => Promise<T>): Promise<{ result: T; seen: StepEvents }> {
    const s = this.session;
    const events: HookEvent[] = [];
    let records = 0;
    let helperAtStart: number | undefined;
    let helperDropped = 0;
    s.onEvents((batch, count, dropped) => {
      helperAtStart ??= dropped;
      helperDropped = dropped - helperAtStart;
      records += count;
      for (const e of batch) if (e.kind === 'hook' && e.tgid !== skipTgid) events.push(e);
    });
    try {
      const before = this.last ?? (await s.counters());
      let result: T;
      try {
        await s.traceProcess(pid);
        result = await action();
      } catch (error) {
        // A trace request that failed half way may still have put the process in the filter; the first
        // error is the one that says what went wrong.
        await s.untraceProcess(pid).catch(() => undefined);
        throw error;
      }
      await s.untraceProcess(pid);
      // Children the step started and left running are dropped from the filter as they exit.
      if (children) await until(async () => (await s.tracedCount()) === 0, 2_000);
      const after = await s.counters();
      this.last = after;
      const produced = after.records - before.records;
      await until(() => records + helperDropped >= produced, 5_000);
      const kernel = kernelDrops(before, after);
      return { result, seen: { events, dropped: kernel + helperDropped + Math.max(0, produced - records - helperDropped), notTraced: this.notTraced } };
    } finally {
      s.onEvents(undefined);
    }
  }

  /** Stops the trace and releases the tracer, so the run leaves no program attached (the connection is the runner's). */
  async close(): Promise<void> {
    const key = this.session.residentKey;
    await this.session.client.call('tracerRelease', key ? { key } : {}).catch(() => undefined);
    await this.session.dispose();
  }
}

/** A step as observed when there is no tracer to observe it with. */
export function untraced(reason: string): StepEvents {
  return { events: [], dropped: 0, unavailable: reason, notTraced: new Map() };
}

export function expectsEvents(step: Step): boolean {
  return (step.events?.length ?? 0) > 0;
}
