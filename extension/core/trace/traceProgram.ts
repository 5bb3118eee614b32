// One Trace Executable run on a prepared TracerSession: spawn the program stopped, put it in the
// tracer's filter, resume it, stream decoded events until it and every descendant have exited, then
// reconcile the counts: every record the kernel wrote is either delivered or counted as dropped where
// it was lost.
import { mark } from '../timings';
import type { TraceEvent } from '../../shared/traceEvent';
import { kernelDrops } from '../../shared/tracer/control';
import { TracerSession } from './tracerSession';

export interface TraceProgramOptions {
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly env?: Record<string, string>;
  /** Run the program as root instead of the user who started the helper. */
  readonly asRoot?: boolean;
  /** Aborting kills the traced program (and the trace ends when its descendants are gone). */
  readonly signal?: AbortSignal;
  /** The traced program's own output. */
  readonly onOutput?: (stream: 'stdout' | 'stderr', text: string) => void;
  /**
   * The program, already spawned stopped by spawnStopped() while the tracer was being prepared (a spawn
   * costs a fork and two execs in the guest, which then overlap the tracer's reopen).
   */
  readonly spawned?: Promise<{ pid: number }>;
}

/**
 * Starts the program stopped before its exec, before the session's tracer is ready; pass the result to
 * traceProgram as `spawned`. Nothing it does is lost: it runs only once traceProgram has put it in the filter.
 */
export function spawnStopped(session: TracerSession, options: Pick<TraceProgramOptions, 'argv' | 'cwd' | 'env' | 'asRoot'>): Promise<{ pid: number }> {
  const spawned = session.client.call('spawn', { argv: [...options.argv], cwd: options.cwd, env: options.env, asRoot: options.asRoot });
  // Whoever awaits it sees the failure; until then it must not count as unhandled.
  spawned.catch(() => undefined);
  return spawned;
}

export interface TraceSummary {
  readonly pid: number;
  readonly exitCode: number | null;
  readonly exitSignal: string | null;
  /** Records the kernel wrote for this trace, and how many arrived decoded. */
  readonly produced: number;
  readonly delivered: number;
  /** Bytes of records that arrived from the helper (framing included). */
  readonly bytes: number;
  /** What those bytes took on the way: fewer when the transport compresses event batches (ssh targets). */
  readonly wireBytes: number;
  /** `kernel` is `ringFull` (no room in the ring buffer) plus `nested` (a hook interrupted a record being built). */
  readonly drops: {
    readonly kernel: number;
    readonly ringFull: number;
    readonly nested: number;
    readonly helper: number;
    readonly undecodable: number;
    readonly unaccounted: number;
  };
  readonly perHook: ReadonlyMap<string, number>;
  readonly perCategory: ReadonlyMap<string, number>;
  readonly perSyscall: ReadonlyMap<string, number>;
  readonly processes: number;
  /** From resume to the last record, and from resume to the first. */
  readonly durationMs: number;
  readonly firstEventMs: number | undefined;
}

function bump(map: Map<string, number>, key: string | undefined): void {
  if (key) map.set(key, (map.get(key) ?? 0) + 1);
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline || signal?.aborted) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

export async function traceProgram(
  session: TracerSession,
  options: TraceProgramOptions,
  onEvents: (events: TraceEvent[]) => void,
): Promise<TraceSummary> {
  const { client } = session;
  const perHook = new Map<string, number>();
  const perCategory = new Map<string, number>();
  const perSyscall = new Map<string, number>();
  const tgids = new Set<number>();
  let records = 0;
  let bytes = 0;
  let wireBytes = 0;
  let helperDropped = 0;
  let helperDroppedAtStart: number | undefined;
  let firstEventAt: number | undefined;
  let lastEventAt = 0;
  const undecodableAtStart = session.decodeStats?.malformed ?? 0;

  session.onEvents((events, count, dropped, size, wire) => {
    helperDroppedAtStart ??= dropped;
    helperDropped = dropped - helperDroppedAtStart;
    records += count;
    bytes += size;
    wireBytes += wire;
    if (events.length === 0) return;
    firstEventAt ??= Date.now();
    lastEventAt = Date.now();
    for (const e of events) {
      tgids.add(e.tgid);
      if (e.kind === 'hook') {
        bump(perHook, e.hook);
        bump(perCategory, e.category);
      } else if (e.kind === 'syscall_enter') {
        bump(perSyscall, e.syscall);
      }
    }
    onEvents(events);
  });

  // The program is spawned stopped, so nothing it does can land between the two: one round trip, not two.
  mark('trace: counters read, program spawning');
  const [before, { pid }] = await Promise.all([
    session.counters(),
    options.spawned ?? spawnStopped(session, options),
  ]);
  const subscriptions = [
    client.onNotification('processOutput', (p) => {
      if (p.pid === pid) options.onOutput?.(p.stream, p.text);
    }),
  ];
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    subscriptions.push(client.onNotification('processExit', (p) => p.pid === pid && resolve({ code: p.code, signal: p.signal })));
  });
  const kill = () => void client.call('kill', { pid, signal: 'SIGKILL' }).catch(() => undefined);
  let placement: Promise<(() => Promise<void>) | undefined> | undefined;
  options.signal?.addEventListener('abort', kill, { once: true });
  try {
    mark(`trace: program spawned stopped (pid ${pid})`);
    // A program that cannot be put in the filter is not resumed untraced: it is killed, and its exit takes
    // it out of the filter if the request got that far. Meanwhile this process moves off the core the
    // program will run on, where the target asks for it (the built-in VM on a host it fills).
    placement = session.target?.placeTracingClient?.().catch(() => undefined);
    await session.traceProcess(pid).catch((error: unknown) => {
      kill();
      throw error;
    });
    await placement;
    const resumedAt = Date.now();
    await client.call('resume', { pid });
    mark('trace: program in the filter and resumed');
    const exit = await Promise.race([exited, client.closed.then((e) => Promise.reject(e))]);
    mark(`trace: program exited (first event ${firstEventAt === undefined ? 'none yet' : `${firstEventAt - resumedAt} ms after resume`})`);
    // Descendants may outlive the program (strace -f waits for them too); the kernel drops each from
    // the filter map as it exits.
    await until(async () => (await session.tracedCount()) === 0, Number.MAX_SAFE_INTEGER, options.signal);
    const after = await session.counters();
    const produced = after.records - before.records;
    // Everything the kernel wrote is in the ring buffer by now; wait until it has all come through.
    await until(() => records + helperDropped >= produced, 10_000);
    mark(`trace: descendants gone, ${produced} records drained`);
    const undecodable = (session.decodeStats?.malformed ?? 0) - undecodableAtStart;
    const kernel = kernelDrops(before, after);
    return {
      pid,
      exitCode: exit.code,
      exitSignal: exit.signal,
      produced,
      delivered: records - undecodable,
      bytes,
      wireBytes,
      drops: { kernel, ringFull: after.ringbufFull - before.ringbufFull, nested: after.nested - before.nested, helper: helperDropped, undecodable, unaccounted: Math.max(0, produced - records - helperDropped) },
      perHook,
      perCategory,
      perSyscall,
      processes: tgids.size,
      durationMs: (lastEventAt || Date.now()) - resumedAt,
      firstEventMs: firstEventAt === undefined ? undefined : firstEventAt - resumedAt,
    };
  } finally {
    options.signal?.removeEventListener('abort', kill);
    session.onEvents(undefined);
    for (const s of subscriptions) s.dispose();
    void placement?.then((giveBack) => giveBack?.());
  }
}
