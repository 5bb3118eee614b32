// A connected target with the all-hooks tracer ready: the "warm" state of Trace Executable. Attaching ~230
// LSM programs costs seconds and detaching them tens of seconds on a small VM, so the tracer is resident on
// the target (extension/helper/residentTracer.ts): the first trace there loads, attaches and pins it; every
// later one, from this connection or another (CLI runs, the editor, two traces at once), reopens it, gets
// its own trace slot with its own ring buffer and counters, and only adds its process to the filter map.
// Disposing closes the helper stream: the slot is given back, the tracer stays for the next trace.
import { readBtfFile } from '../../shared/btf/readFile';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { Target } from '../target';
import type { KernelIdentity } from '../targets/kernel';
import { HelperClient } from '../helperClient';
import type { ResultOf } from '../../shared/helperProtocol';
import type { EventBatch } from '../../shared/helperFrames';
import { HelperRequestError } from '../helperClient';
import { TR_MAX_CPUS } from '../../shared/tracer/layout';
import { catalogFromBuffer, HookCatalog } from '../../shared/hooks/catalog';
import { generateTracer, FIXED_PROGRAMS } from '../../shared/tracer/generate';
import { CompiledTracer, compileTracer, hostSyscallTable } from '../../shared/tracer/compile';
import { planFile, readPlan, writePlan } from './tracerPlan';
import { TraceDecoder } from '../../shared/tracer/decoder';
import { COUNTERS_MAP, EVENTS_MAP, hasMaybeFlag, KNOBS, MAYBE_MAP, maybeFlag, NO_FLAG, TRACED_MAP, TracerCounters, tracedKey, tracedValue } from '../../shared/tracer/control';
import { cacheRoot } from '../vm/paths';
import { mark } from '../timings';
import type { TraceEvent } from '../../shared/traceEvent';

export type Progress = (message: string) => void;

export interface TracerSelection {
  /** Only hooks of these categories (file, inode, task, ...). Default: all. */
  readonly categories?: readonly string[];
  /** Only these hooks. Default: all. */
  readonly hooks?: readonly string[];
  /** Follow forks and clones into children (strace -f). Default: true. */
  readonly follow?: boolean;
  /** Programs on the hooks' entry, before any BPF LSM program (default), or fexit programs that see the BPF verdict (GenerateOptions.attach). */
  readonly attach?: 'entry' | 'fexit';
  /** Syscall enter/exit events of traced processes. Default: true. */
  readonly syscalls?: boolean;
  /** Leave out selected hooks this kernel does not have instead of failing (they are not in `attached`). */
  readonly skipUnknown?: boolean;
}

export interface TracerState {
  readonly kernel: string;
  /** Hooks of the target kernel (from its BTF). */
  readonly hookCount: number;
  /** Hook programs attached and firing. */
  readonly attached: readonly string[];
  /** Hooks not traced, each with the reason: not selected, disabled for BPF, refused by the kernel, ... */
  readonly notTraced: ReadonlyArray<{ hook: string; reason: string }>;
  /**
   * loadMs/attachMs: the helper's own load (or reopen) and attach of the tracer; acquireMs: the whole
   * request, round trips and the object's transfer included.
   */
  readonly timings: { readonly btfMs: number; readonly compileMs: number; readonly loadMs: number; readonly attachMs: number; readonly acquireMs: number; readonly helperPhases?: ReadonlyArray<{ phase: string; ms: number }> };
  readonly fromCache: boolean;
  /** The tracer was already resident on the target: nothing was loaded or attached for this trace. */
  readonly resident: boolean;
  /** The BTF came from this machine's cache (same kernel banner and BTF size) instead of the target. */
  readonly btfFromCache: boolean;
}

/** Directory of the tracer's hand-written BPF headers, next to the bundle or in the repository. */
export function tracerHeadersDir(): string {
  // dist/*.js, out/bench/*.js and out/test/<tier>/*.js bundles.
  const candidates = [join(__dirname, '..', 'bpf', 'tracer'), join(__dirname, '..', '..', 'bpf', 'tracer'), join(__dirname, '..', '..', '..', 'bpf', 'tracer')];
  const found = candidates.find((d) => existsSync(join(d, 'tracer_core.h')));
  if (!found) throw new Error('the tracer headers (bpf/tracer/tracer_core.h) are missing from this installation; reinstall the extension or rebuild');
  return found;
}

/** The build machine's syscall table does not change while the extension runs (clang -E: ~0.1 s). */
let syscallTable: Record<number, string> | undefined;

function hex(b: Uint8Array): { hex: string } {
  return { hex: Buffer.from(b).toString('hex') };
}

/** Sums one slot's counters as the helper returns them decoded: { cpu: [one object per CPU] }. */
export function sumCounterValue(value: unknown): TracerCounters {
  const sum = { records: 0, ringbufFull: 0, truncated: 0, nested: 0 };
  const cpus = (value as { cpu?: unknown } | null)?.cpu;
  if (!Array.isArray(cpus) || cpus.length !== TR_MAX_CPUS) throw new Error(`a tr_counters value did not come back as { cpu: [${TR_MAX_CPUS} counters] }`);
  for (const c of cpus as Array<Record<string, unknown>>) {
    sum.records += Number(c.records ?? 0);
    sum.ringbufFull += Number(c.ringbuf_full ?? 0);
    sum.truncated += Number(c.truncated ?? 0);
    sum.nested += Number(c.nested ?? 0);
  }
  return sum;
}

export interface TracerSessionOptions {
  /** Where target BTFs and compiled tracers are kept (default: the extension's cache folder). */
  readonly cacheDir?: string;
  /**
   * A tracer this session loads is released after this long without a trace. Default: never on the
   * built-in VM (it goes with the VM), 15 minutes elsewhere; BPF_LSM_TRACER_IDLE_MS overrides both.
   */
  readonly idleMs?: number;
  /**
   * A tracer this session loads detaches its hook programs after this long without a trace (0: never); the
   * next trace attaches them again. Default: the helper's (10 minutes); BPF_LSM_TRACER_HOOKS_IDLE_MS overrides.
   */
  readonly hooksIdleMs?: number;
  /**
   * A resident tracer this session reopens gets the programs its keeper detached while nothing was traced
   * attached again at once (loading ahead: `bpf-lsm tracer start`, the editor's connection), not at the
   * session's first trace.
   */
  readonly attachIdle?: boolean;
  /**
   * Sends the compiled tracer with the first request instead of after the helper says it has none resident:
   * one round trip less for a load that is expected (`bpf-lsm tracer start`, run by `vm up` after a boot); a
   * resident tracer is reused as ever, and the object only cost its transfer (~200 KB gzipped).
   */
  readonly objectFirst?: boolean;
}

export const DEFAULT_IDLE_MS = 15 * 60_000;

/** Milliseconds from the environment variable `name` when it holds a number, else `configured`. */
function msFrom(name: string, configured: number | undefined): number | undefined {
  const env = process.env[name];
  if (env !== undefined && env !== '' && Number.isFinite(Number(env))) return Math.max(0, Math.round(Number(env)));
  return configured === undefined ? undefined : Math.max(0, Math.round(configured));
}

export function tracerIdleMs(target: Target, configured?: number): number {
  return msFrom('BPF_LSM_TRACER_IDLE_MS', configured) ?? (target.ownedMachine ? 0 : DEFAULT_IDLE_MS);
}

export class TracerSession {
  private objectId: number | undefined;
  private slot = 0;
  private key: string | undefined;
  private decoder: TraceDecoder | undefined;
  private sessionId: number | undefined;
  private batchSink: ((batch: EventBatch) => void) | undefined;
  state: TracerState | undefined;

  private constructor(
    readonly target: Target,
    readonly client: HelperClient,
    private readonly cacheDir: string,
    private readonly identity: Promise<KernelIdentity | undefined>,
    private readonly idleMs: number,
    private readonly hooksIdleMs: number | undefined,
    private readonly ahead: Pick<TracerSessionOptions, 'attachIdle' | 'objectFirst'>,
    private readonly ownsClient = true,
  ) {}

  /**
   * A session on a helper connection the caller already has and keeps (e.g. the test runner's): no second
   * helper is started. Disposing it stops its trace; closing the connection stays the caller's.
   */
  static over(target: Target, client: HelperClient, options: TracerSessionOptions = {}): TracerSession {
    const identity = target.kernel.identity();
    return new TracerSession(target, client, options.cacheDir ?? cacheRoot(), identity, tracerIdleMs(target, options.idleMs), msFrom('BPF_LSM_TRACER_HOOKS_IDLE_MS', options.hooksIdleMs), options, false);
  }

  static async connect(target: Target, progress: Progress = () => {}, options: TracerSessionOptions = {}): Promise<TracerSession> {
    progress(`starting the helper on ${target.id}`);
    // Asked over the target's exec channel while the helper starts, so the BTF cache lookup costs no round trip.
    const identity = target.kernel.identity();
    void identity.then(() => mark('kernel identity read (ssh, in parallel)'));
    const transport = await target.startHelper();
    mark(`helper session started (${transport.route ?? 'route unknown'})`);
    const client = await HelperClient.connect(transport, { client: 'bpf-lsm trace' });
    mark(`hello answered (helper pid ${client.helper?.pid}${client.helper?.session !== undefined ? `, daemon session ${client.helper.session}` : ''})`);
    const caps = client.capabilities;
    if (caps && !caps.canRunLsm) {
      const missing = [caps.bpfLsmActive, caps.btf, caps.root, caps.libbpf].filter((c) => !c.ok);
      await client.close().catch(() => undefined);
      throw new Error(
        `target ${target.id} (kernel ${caps.kernelRelease}) cannot run BPF-LSM programs:\n` +
          missing.map((c) => `  - ${c.detail}${'remedy' in c && c.remedy ? `\n    ${String(c.remedy)}` : ''}`).join('\n') +
          '\nRun "bpf-lsm check" for every remedy, or trace on the built-in VM with --target vm.',
      );
    }
    return new TracerSession(target, client, options.cacheDir ?? cacheRoot(), identity, tracerIdleMs(target, options.idleMs), msFrom('BPF_LSM_TRACER_HOOKS_IDLE_MS', options.hooksIdleMs), options);
  }

  get catalogKernel(): string | undefined {
    return this.state?.kernel;
  }

  /** Reopens the target's resident tracer, or loads, attaches and pins it; later calls return the first state. */
  async prepare(selection: TracerSelection = {}, progress: Progress = () => {}): Promise<TracerState> {
    if (this.state) return this.state;
    const t0 = Date.now();
    const identity = await this.identity;
    let btfPath = identity && this.target.kernel.cachedBtf(identity, this.cacheDir);
    const btfFromCache = btfPath !== undefined;
    const banner = identity?.banner;
    const headersDir = tracerHeadersDir();
    const tracerCache = join(this.cacheDir, 'tracer');
    const cachedPlan = btfPath ? planFile(tracerCache, btfPath, banner, selection, headersDir) : undefined;
    let plan = cachedPlan ? readPlan(cachedPlan) : undefined;
    let compiled: CompiledTracer | undefined;
    let t1 = Date.now();
    if (!plan) {
      let btf: Buffer;
      if (btfPath) {
        btf = readBtfFile(btfPath);
      } else {
        const read = await this.target.kernel.btf({ identity: Promise.resolve(identity), read: () => this.client.readBtf(), cacheDir: this.cacheDir, progress });
        btf = read.bytes;
        btfPath = read.path;
      }
      const catalog: HookCatalog = catalogFromBuffer(btf, banner ? { kernel: banner } : {}, 'the target kernel\'s BTF');
      t1 = Date.now();
      const wanted = catalog.hooks
        .filter((h) => !selection.categories?.length || selection.categories.includes(h.category))
        .filter((h) => !selection.hooks?.length || selection.hooks.includes(h.name))
        .map((h) => h.name);
      if (selection.hooks?.length && !selection.skipUnknown) {
        const unknown = selection.hooks.filter((h) => !catalog.hooks.some((x) => x.name === h));
        if (unknown.length) throw new Error(`no such hook on kernel ${catalog.kernelLabel}: ${unknown.join(', ')} (bpf-lsm hooks lists them)`);
      }
      if (wanted.length === 0) throw new Error('the category/hook selection matches no hook of this kernel');
      progress(`generating and compiling the tracer for ${wanted.length} hooks`);
      syscallTable ??= hostSyscallTable();
      const gen = generateTracer(catalog, { syscalls: syscallTable, hooks: wanted, ...(selection.attach ? { attach: selection.attach } : {}) });
      compiled = compileTracer(gen, { btfPath, headersDir, cacheDir: tracerCache });
      plan = {
        generator: gen.generator,
        kernel: catalog.kernelLabel,
        hookCount: catalog.hooks.length,
        objectKey: compiled.cacheKey,
        objectPath: compiled.objectPath,
        mapsPath: compiled.mapsPath,
        hooks: gen.hooks.map((h) => ({ program: h.program, name: h.name })),
        fixedPrograms: gen.fixedPrograms,
        skipped: gen.skipped,
        tables: gen.tables,
      };
      writePlan(cachedPlan ?? planFile(tracerCache, btfPath, banner, selection, headersDir), plan);
    }
    const t2 = Date.now();
    mark(`tracer plan ready (${compiled ? 'generated and compiled' : 'cached'})`);

    // The compiled object's digest names the resident tracer: another hook set, kernel or tracer version
    // is another key, and the helper replaces the old one. Knobs are part of what was loaded.
    const follow = selection.follow !== false;
    const syscalls = selection.syscalls !== false;
    const key = `${plan.objectKey.slice(0, 32)}-f${follow ? 1 : 0}${syscalls ? '' : '-s0'}`;
    // Without syscall events the syscall programs stay unloaded: they would run on every syscall of the system.
    const fixed = syscalls ? plan.fixedPrograms : plan.fixedPrograms.filter((p) => p !== 'tr_sys_enter' && p !== 'tr_sys_exit');
    const programs = [...plan.hooks.map((h) => h.program), ...fixed];
    const params = {
      key,
      programs,
      globals: { [KNOBS.followForks]: follow, [KNOBS.syscalls]: syscalls },
      idleMs: this.idleMs,
      ...(this.hooksIdleMs !== undefined ? { hooksIdleMs: this.hooksIdleMs } : {}),
      ...(this.ahead.attachIdle ? { attachIdle: true } : {}),
    };
    const withObject = () => {
      const object = compiled?.object ?? readFileSync(plan.objectPath);
      const mapsObject = compiled?.mapsObject ?? readFileSync(plan.mapsPath);
      // Gzipped (level 1: ~10 ms here) the object is a sixth of its size on the wire (see objectEncoding).
      return this.client.tracerAcquire(gzipSync(object, { level: 1 }), { ...params, mapsObject: mapsObject.toString('base64'), objectEncoding: 'gzip' });
    };
    let acquired: ResultOf<'tracerAcquire'>;
    // A tracer the hello did not list is loaded from the object: sent at once, not after a refusal (a round
    // trip of ~0.15 s on a cold start in the VM). If it became resident meanwhile, the helper reuses it.
    const listed = this.client.helper?.tracers;
    if (this.ahead.objectFirst || (listed !== undefined && !listed.includes(key))) {
      progress(`loading and attaching ${programs.length} programs unless the tracer is resident`);
      acquired = await withObject();
    } else {
      try {
        acquired = await this.client.call('tracerAcquire', params);
      } catch (err) {
        if (!(err instanceof HelperRequestError && err.data?.needObject)) throw err;
        mark('tracer not resident on the target (helper asked for the object)');
        progress(`loading and attaching ${programs.length} programs (they stay attached for the next traces)`);
        acquired = await withObject();
      }
    }
    const helperPhases = (acquired.phases ?? []).map((p) => `${p.phase} ${p.ms}`).join(', ');
    mark(`tracer acquired (${acquired.reused ? 'resident, reopened' : 'loaded and attached'}; in the helper: ${helperPhases || `open+load ${acquired.loadMs}`} ms, slot ${acquired.slot})`);
    this.objectId = acquired.objectId;
    this.slot = acquired.slot;
    this.key = key;
    const t4 = Date.now();
    const fixedRefused = acquired.refused.filter((r) => (FIXED_PROGRAMS as readonly string[]).includes(r.program));
    if (fixedRefused.length) {
      throw new Error(`the tracer's own programs did not attach: ${fixedRefused.map((r) => `${r.program}: ${r.message}`).join('; ')}`);
    }
    const byProgram = new Map(plan.hooks.map((h) => [h.program, h.name]));
    const attached = acquired.attached.filter((p) => byProgram.has(p)).map((p) => byProgram.get(p)!);
    const notTraced = [
      ...plan.skipped.filter((s) => s.reason !== 'not selected').map((s) => ({ hook: s.hook, reason: s.reason })),
      ...acquired.refused.map((r) => ({ hook: byProgram.get(r.program) ?? r.program, reason: `refused by the kernel: ${r.message}` })),
    ];
    this.decoder = new TraceDecoder(plan.tables);
    const started = await this.client.startTrace({ objectId: acquired.objectId, ringBuffers: [EVENTS_MAP] }, (batch) => this.batchSink?.(batch));
    this.sessionId = started.sessionId;
    mark('trace session started on the ring buffer');
    this.state = {
      kernel: plan.kernel,
      hookCount: plan.hookCount,
      attached,
      notTraced,
      timings: { btfMs: t1 - t0, compileMs: t2 - t1, loadMs: acquired.loadMs, attachMs: acquired.attachMs, acquireMs: t4 - t2, ...(acquired.phases ? { helperPhases: acquired.phases } : {}) },
      fromCache: compiled?.fromCache ?? true,
      resident: acquired.reused,
      btfFromCache,
    };
    return this.state;
  }

  async counters(): Promise<TracerCounters> {
    if (this.objectId === undefined) throw new Error('the tracer is not loaded');
    const r = await this.client.call('mapLookup', { objectId: this.objectId, map: COUNTERS_MAP, key: this.slot });
    if (!r.found) throw new Error(`the tracer has no counters for trace slot ${this.slot}`);
    return sumCounterValue(r.value);
  }

  /** Adds a process to the traced set (its children follow in the kernel). */
  async traceProcess(pid: number): Promise<void> {
    if (this.objectId === undefined) throw new Error('the tracer is not loaded');
    // The filter's flag after the entry (the programs go by the flag), in the same round trip: requests leave
    // in call order, and the helper runs one object's map requests in arrival order.
    const key = hex(tracedKey(pid));
    await Promise.all([
      this.client.call('mapUpdate', { objectId: this.objectId, map: TRACED_MAP, key, value: hex(tracedValue(pid, this.slot)) }),
      hasMaybeFlag(pid) ? this.client.call('mapUpdate', { objectId: this.objectId, map: MAYBE_MAP, key, value: hex(maybeFlag(this.slot)) }) : undefined,
    ]);
  }

  /** Takes a process out of the traced set (the children it started stay until they exit). */
  async untraceProcess(pid: number): Promise<void> {
    if (this.objectId === undefined) throw new Error('the tracer is not loaded');
    const key = hex(tracedKey(pid));
    await Promise.all([
      hasMaybeFlag(pid) ? this.client.call('mapUpdate', { objectId: this.objectId, map: MAYBE_MAP, key, value: hex(NO_FLAG) }) : undefined,
      this.client.call('mapDelete', { objectId: this.objectId, map: TRACED_MAP, key }),
    ]);
  }

  /** How many processes of this session's trace slot are still in the traced set (shared by every trace). */
  async tracedCount(): Promise<number> {
    if (this.objectId === undefined) return 0;
    const { entries } = await this.client.call('mapEntries', { objectId: this.objectId, map: TRACED_MAP, limit: 8192 });
    return entries.filter((e) => (e.value as { slot?: unknown } | null)?.slot === this.slot).length;
  }

  /**
   * Whether the tracer this session opened is still resident (not released by tracer stop, another
   * window or its idle time): a released one no longer sees anything, and the session must reconnect.
   */
  async stillResident(): Promise<boolean> {
    if (!this.key) return false;
    const { tracers } = await this.client.call('tracerStatus', {});
    return tracers.some((t) => t.key === this.key && t.state === 'resident');
  }

  /** The key of the resident tracer this session uses (the compiled tracer's digest and its knobs). */
  get residentKey(): string | undefined {
    return this.key;
  }

  /** The trace slot of this session on the resident tracer. */
  get traceSlot(): number {
    return this.slot;
  }

  /**
   * Routes decoded events of the tracer's ring buffer to `sink`, one call per helper batch, with the
   * batch's raw record count, the helper's running total of records it had to drop, the batch's bytes, and
   * the bytes it took on the way (fewer when it travelled compressed).
   */
  onEvents(sink: ((events: TraceEvent[], records: number, helperDropped: number, bytes: number, wireBytes: number) => void) | undefined): void {
    const decoder = this.decoder;
    this.batchSink =
      sink && decoder ? (batch) => sink(decoder.decodeBatch(batch.records), batch.count, batch.helperDropped, batch.records.length, batch.compressedBytes ?? batch.records.length) : undefined;
  }

  get decodeStats(): TraceDecoder['stats'] | undefined {
    return this.decoder?.stats;
  }

  get traceSessionId(): number | undefined {
    return this.sessionId;
  }

  /** Ends the connection; the helper gives the trace slot back (the resident tracer stays). */
  async dispose(): Promise<void> {
    this.batchSink = undefined;
    if (this.ownsClient) await this.client.close().catch(() => undefined);
    else if (this.sessionId !== undefined) await this.client.call('stopTrace', { sessionId: this.sessionId }).catch(() => undefined);
  }
}
