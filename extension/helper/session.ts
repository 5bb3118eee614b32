// One helper session: the protocol over one byte stream, and ownership of everything created on behalf of
// the client (BPF objects with their programs, links and maps; trace sessions; spawned processes). When the
// stream ends for any reason, teardown() detaches and closes all of it and kills the processes. Only links
// the user pinned explicitly survive.
import type { Readable, Writable } from 'node:stream';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BpfObject, NativeBinding, NativeMap, NativeProgram, RingConsumer } from '../../native/index';
import {
  encodeEventBatch,
  encodeMessage,
  FrameDecoder,
  FrameKind,
  MAX_BLOB_BYTES,
  PROTOCOL_VERSION,
  ProtocolError,
  type AttachResult,
  type BtfTypeDesc,
  type Capabilities,
  type GlobalInfo,
  type HelperErrorCode,
  type HelperErrorPayload,
  type HelperMethod,
  type HelperNotification,
  type HelperNotifications,
  type JsonValue,
  type LoadedObjectInfo,
  type MapInfo,
  type ParamsOf,
  type ProgramInfo,
  type ResultOf,
  type TraceStats,
} from '../shared/helperProtocol';
import { validateClientMessage } from '../shared/helperSchema';
import { decodeValue, encodeValue, ValueError } from '../shared/helperValues';
import { probeCapabilities } from './capabilities';
import type { ObjectChecker } from './objectCheck';
import { ProcessTable } from './processes';
import { tracerHandlers } from './tracerHandlers';
import { version } from '../../package.json';

export const HELPER_VERSION: string = version;

export class HelperError extends Error {
  constructor(
    readonly code: HelperErrorCode,
    message: string,
    readonly extra: { remedy?: string; errno?: string; data?: { [k: string]: JsonValue } } = {},
  ) {
    super(message);
  }
  toPayload(): HelperErrorPayload {
    return { code: this.code, message: this.message, ...this.extra };
  }
}

export interface SessionOptions {
  input: Readable;
  output: Writable;
  /** Loads the libbpf addon; throws an actionable Error when it cannot. */
  loadNative: () => NativeBinding;
  /** Diagnostics (the helper's stderr). */
  log?: (line: string) => void;
  /** Bytes buffered towards the client before trace sessions stop polling (the kernel ring then absorbs). */
  highWaterBytes?: number;
  /** Opens each object in a disposable process first, so a libbpf crash fails the request, not the session. */
  objectChecker?: ObjectChecker;
}

interface OwnedObject {
  id: number;
  name: string;
  bpf: BpfObject;
  globals: GlobalInfo[];
  mapTypes: Map<string, { key: BtfTypeDesc | null; value: BtfTypeDesc | null }>;
  /** Operations on one object run one after another (the addon refuses concurrent use). */
  queue: Promise<unknown>;
  /** Runs before the object closes: a resident tracer's session gives its trace slot back. */
  release?: () => void;
  /** Runs on each map update: a resident tracer counts its idle time from the last trace started. */
  used?: () => void;
}

interface TraceSession {
  id: number;
  objectId: number;
  consumer: RingConsumer;
  counters: string[];
  maxBatchBytes: number;
  running: boolean;
  /** On stopTrace the rings are drained before the reply; on teardown they are not. */
  flush: boolean;
  loop: Promise<void>;
  stats: Omit<TraceStats, 'counters' | 'running' | 'sessionId'>;
  sequence: number;
}

type Handler<M extends HelperMethod> = (
  params: ParamsOf<M>,
  ctx: { signal: AbortSignal; blob?: Buffer },
) => Promise<{ result: ResultOf<M>; blob?: Buffer }>;

/**
 * ProgramInfo and MapInfo (the wire contract, extension/shared) mirror the addon's NativeProgram and
 * NativeMap (minus the BTF ids, which only mean something on the target). A field added on one side
 * only fails the type check here instead of going over the wire untyped or missing.
 */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export const wireTypesInStep: [Same<ProgramInfo, NativeProgram>, Same<MapInfo, Omit<NativeMap, 'btfKeyTypeId' | 'btfValueTypeId'>>] = [true, true];

const KERNEL_REFUSALS = new Set(['EPERM', 'EACCES', 'EOPNOTSUPP', 'ENOTSUPP']);
const ERRNO_NOT_SUPP = 524; // ENOTSUPP: kernel-internal, returned by BPF for unsupported attach types
/** Bounds what one client can make the helper hold at once. */
const MAX_INFLIGHT = 256;
/** Each trace session holds a pool thread while it polls (see helper.ts). */
const MAX_TRACES = 8;
/**
 * How long a ring buffer poll waits for a wakeup. Probes may batch their wakeups (the tracer wakes the
 * helper only once 256 KiB wait), so this is also how late a lone record can arrive.
 */
const POLL_MS = 25;
/**
 * Programs in one object. The tracer has ~240; attach/detach name at most 4096 programs per request, and
 * every program costs a verifier run as root, so an object with more is refused before its load.
 */
const MAX_PROGRAMS = 4096;
/** libbpf's own error codes (LIBBPF_ERRNO__*), which strerror() renders as "Unknown error 40xx". */
const LIBBPF_ERRORS: Record<string, string> = {
  '4000': 'libelf could not read it',
  '4001': 'not a valid BPF ELF object',
  '4002': 'kernel version section missing',
  '4003': 'byte order does not match this machine',
  '4004': 'libbpf internal error',
  '4005': 'relocation failed',
  '4006': 'load failed',
};

/** The addon's open error with libbpf's numeric codes spelled out. */
function openFailure(err: unknown): string {
  const message = (err as Error)?.message ?? String(err);
  return message.replace(/Unknown error (40\d\d)/g, (all, code: string) => (LIBBPF_ERRORS[code] ? `${LIBBPF_ERRORS[code]} (libbpf error ${code})` : all));
}

export class HelperSession {
  private readonly decoder = new FrameDecoder();
  private readonly objects = new Map<number, OwnedObject>();
  private readonly traces = new Map<number, TraceSession>();
  private readonly inflight = new Map<number, AbortController>();
  private readonly processes: ProcessTable;
  private nextObjectId = 1;
  private nextSessionId = 1;
  private handshakeDone = false;
  private native: NativeBinding | undefined;
  private nativeError: string | undefined;
  private capabilities: Capabilities | undefined;
  private tearingDown: Promise<void> | undefined;
  private drainWaiters: Array<() => void> = [];
  private readonly highWater: number;
  private readonly log: (line: string) => void;
  /** Resolves when the session is over and everything it owned is gone. */
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(private readonly opts: SessionOptions) {
    this.log = opts.log ?? (() => undefined);
    // Kept small on purpose: everything queued here delays replies and notifications behind it (over a
    // 1-2 MB/s ssh link, 16 MiB meant seconds of lag); a burst waits in the kernel ring instead.
    this.highWater = opts.highWaterBytes ?? 1 << 20;
    this.finished = new Promise((r) => (this.finish = r));
    this.processes = new ProcessTable(
      (pid, stream, text) => this.notify('processOutput', { pid, stream, text }),
      (pid, code, signal) => this.notify('processExit', { pid, code, signal }),
    );
  }

  start(): void {
    const { input, output } = this.opts;
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.once('end', () => void this.teardown('the client closed the stream'));
    input.once('close', () => void this.teardown('the client stream closed'));
    // `on`, not `once`: a second error (e.g. EPIPE after the first) must not become an uncaught exception.
    input.on('error', (err) => void this.teardown(`the client stream failed: ${err.message}`));
    output.on('drain', () => this.wakeDrainWaiters());
    output.on('error', (err) => void this.teardown(`writing to the client failed: ${err.message}`));
    output.once('close', () => void this.teardown('the client stopped reading'));
  }

  // ------------------------------------------------------------------------------------------------------
  // Stream

  private onData(chunk: Buffer): void {
    if (this.tearingDown) return;
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      // Framing is lost: say why, then end the session (everything owned is torn down).
      const message = err instanceof ProtocolError ? err.message : String(err);
      this.notify('log', { level: 'error', message: `protocol error, closing the session: ${message}` });
      void this.teardown(`protocol error: ${message}`);
      return;
    }
    for (const frame of frames) {
      if (frame.kind === FrameKind.EventBatch) {
        this.reply(0, new HelperError('invalid-request', 'event batches only flow from the helper to the client'));
        continue;
      }
      if (frame.message instanceof ProtocolError) {
        this.reply(0, new HelperError('parse-error', frame.message.message));
        continue;
      }
      const checked = validateClientMessage(frame.message, frame.blob);
      const rawId = (frame.message as { id?: unknown } | null)?.id;
      const replyId = typeof rawId === 'number' && Number.isInteger(rawId) && rawId > 0 ? rawId : 0;
      if (!checked.ok) {
        this.reply(replyId, new HelperError(checked.code, checked.message));
        continue;
      }
      const msg = checked.value;
      if (msg.type === 'cancel') {
        this.inflight.get(msg.id)?.abort();
        continue;
      }
      if (this.inflight.size >= MAX_INFLIGHT) {
        this.reply(msg.id, new HelperError('busy', `more than ${MAX_INFLIGHT} requests are in progress; wait for some to finish`));
        continue;
      }
      if (this.inflight.has(msg.id)) {
        this.reply(msg.id, new HelperError('invalid-request', `request id ${msg.id} is already in use`));
        continue;
      }
      void this.dispatch(msg.id, msg.method, msg.params, frame.blob);
    }
  }

  private write(buffers: Buffer[]): void {
    const out = this.opts.output;
    if (out.destroyed || out.writableEnded) return;
    out.cork();
    for (const b of buffers) out.write(b);
    out.uncork();
  }

  private reply(id: number, outcome: HelperError | { result: unknown; blob?: Buffer }): void {
    if (outcome instanceof HelperError) {
      this.write(encodeMessage({ type: 'response', id, error: outcome.toPayload() }));
    } else {
      this.write(encodeMessage({ type: 'response', id, result: outcome.result }, outcome.blob));
    }
  }

  private notify<N extends HelperNotification>(method: N, params: HelperNotifications[N]): void {
    this.write(encodeMessage({ type: 'notification', method, params }));
  }

  /** The next poll waits while more than about one batch is still queued towards the client. */
  private backlogged(t: TraceSession): boolean {
    return this.opts.output.writableLength > Math.max(this.highWater, t.maxBatchBytes);
  }

  private wakeDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private waitForDrain(): Promise<void> {
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  // ------------------------------------------------------------------------------------------------------
  // Requests

  private async dispatch(id: number, method: HelperMethod, params: unknown, blob: Buffer | undefined): Promise<void> {
    if (this.tearingDown) return this.reply(id, new HelperError('shutting-down', 'the helper is shutting down'));
    if (!this.handshakeDone && method !== 'hello') {
      return this.reply(id, new HelperError('handshake-required', `send "hello" before "${method}"`));
    }
    const controller = new AbortController();
    this.inflight.set(id, controller);
    try {
      const handler = this.handlers[method] as Handler<HelperMethod>;
      const outcome = await handler(params as ParamsOf<HelperMethod>, { signal: controller.signal, blob });
      if (controller.signal.aborted) throw new HelperError('cancelled', `${method} was cancelled`);
      this.reply(id, outcome);
    } catch (err) {
      this.reply(id, controller.signal.aborted && !(err instanceof HelperError) ? new HelperError('cancelled', `${method} was cancelled`) : this.toHelperError(err, method));
    } finally {
      this.inflight.delete(id);
    }
    if (method === 'shutdown') void this.teardown('the client asked the helper to shut down');
  }

  private toHelperError(err: unknown, method: string): HelperError {
    if (err instanceof HelperError) return err;
    if (err instanceof ValueError) return new HelperError('invalid-params', `${method}: ${err.message}`);
    const e = err as { message?: string; code?: string; errno?: number; log?: string; program?: string | null; truncated?: boolean; notFound?: boolean };
    const message = e?.message ?? String(err);
    if (e?.notFound) return new HelperError('not-found', message);
    if (e?.code === 'EBUSY') return new HelperError('busy', message, { errno: 'EBUSY' });
    if (e?.code === 'ENOENT' && method !== 'spawn') return new HelperError('not-found', message, { errno: 'ENOENT' });
    if (typeof e?.errno === 'number' && typeof e.code === 'string') return new HelperError('os-error', message, { errno: e.code });
    this.log(`internal error in ${method}: ${(err as Error)?.stack ?? message}`);
    return new HelperError('internal', `${method} failed: ${message}`);
  }

  private requireNative(): NativeBinding {
    if (this.native) return this.native;
    try {
      this.native = this.opts.loadNative();
      return this.native;
    } catch (err) {
      this.nativeError = (err as Error).message;
      throw new HelperError('native-unavailable', this.nativeError, {
        remedy: 'install libbpf on the target (Debian: apt-get install libbpf1 libelf1 zlib1g) and redeploy the helper',
      });
    }
  }

  private probe(): Capabilities {
    let nativeState: { ok: true; version: string } | { ok: false; error: string };
    try {
      nativeState = { ok: true, version: this.requireNative().libbpfVersion };
    } catch (err) {
      nativeState = { ok: false, error: (err as Error).message };
    }
    this.capabilities = probeCapabilities(nativeState);
    return this.capabilities;
  }

  private object(id: number): OwnedObject {
    const o = this.objects.get(id);
    if (!o) throw new HelperError('not-found', `no object ${id} is loaded by this helper (list shows what is)`);
    return o;
  }

  private serial<T>(o: OwnedObject, fn: () => Promise<T> | T): Promise<T> {
    const run = o.queue.then(fn, fn);
    o.queue = run.catch(() => undefined);
    return run;
  }

  /** The addon's program and map listings go on the wire as ProgramInfo and MapInfo, field for field. */
  private describe(o: OwnedObject): LoadedObjectInfo {
    return { objectId: o.id, name: o.name, programs: o.bpf.programs(), maps: o.bpf.maps().map(({ btfKeyTypeId: _k, btfValueTypeId: _v, ...m }) => m), globals: o.globals };
  }

  private mapTypes(o: OwnedObject, map: string): { key: BtfTypeDesc | null; value: BtfTypeDesc | null; keySize: number; valueSize: number } {
    const info = o.bpf.maps().find((m) => m.name === map || (m.internal && m.name.endsWith(map)));
    if (!info) throw new HelperError('not-found', `object ${o.name} has no map "${map}" (maps: ${o.bpf.maps().map((m) => m.name).join(', ')})`);
    let types = o.mapTypes.get(map);
    if (!types) {
      types = JSON.parse(o.bpf.mapTypesJson(map)) as { key: BtfTypeDesc | null; value: BtfTypeDesc | null };
      o.mapTypes.set(map, types);
    }
    const perCpu = /percpu/.test(info.type);
    if (perCpu) {
      // Per-CPU values come back as one slot per possible CPU; they are exposed raw, one { hex } per map value.
      return { key: types.key, value: null, keySize: info.keySize, valueSize: 0 };
    }
    return { ...types, keySize: info.keySize, valueSize: info.valueSize };
  }

  private global(o: OwnedObject, name: string): GlobalInfo {
    const g = o.globals.find((x) => x.name === name);
    if (!g) throw new HelperError('not-found', `object ${o.name} has no global "${name}" (globals: ${o.globals.map((x) => x.name).join(', ') || 'none'})`);
    return g;
  }

  private loadFailure(err: unknown, name: string): HelperError {
    const e = err as { message?: string; code?: string; errno?: number; log?: string; program?: string | null; truncated?: boolean };
    const caps = this.capabilities ?? this.probe();
    const data = { log: e.log ?? '', program: e.program ?? null, truncated: e.truncated ?? false };
    // The verifier also answers EACCES/EINVAL, but always with a log; a refusal without a log is the kernel
    // (or an LSM, or lockdown) saying no to BPF-LSM as a whole.
    if (!data.log && (KERNEL_REFUSALS.has(e.code ?? '') || e.errno === ERRNO_NOT_SUPP)) {
      const missing = [caps.bpfLsmActive, caps.configBpfLsm, caps.btf, caps.root].filter((c) => !c.ok);
      const remedy = missing.length
        ? missing.map((c) => c.remedy).join('; ')
        : 'the kernel refused BPF programs although BPF-LSM looks enabled: check kernel lockdown (/sys/kernel/security/lockdown) and that the helper runs as real root (not in a restricted container)';
      return new HelperError('kernel-refused', `the kernel of ${caps.kernelRelease} refused to load ${name}: ${e.message ?? e.code}`, { remedy, errno: e.code ?? 'EPERM', data });
    }
    return new HelperError('load-failed', e.message ?? `loading ${name} failed`, {
      remedy: data.program ? `the verifier rejected program ${data.program}; its log is attached` : 'see the libbpf messages above',
      ...(e.code ? { errno: e.code } : {}),
      data,
    });
  }

  private async attachChunked(o: OwnedObject, names: string[], signal: AbortSignal, detach: boolean): Promise<AttachResult[]> {
    // Chunks keep cancellation responsive on large attach lists (~230 LSM programs for the tracer).
    const results: AttachResult[] = [];
    for (let i = 0; i < names.length; i += 32) {
      if (signal.aborted && !detach) {
        for (const n of names.slice(i)) results.push({ program: n, ok: false, code: 'ECANCELED', message: 'not attached: the request was cancelled' });
        break;
      }
      const chunk = names.slice(i, i + 32);
      const r = await this.serial(o, () => (detach ? o.bpf.detach(chunk) : o.bpf.attach(chunk)));
      results.push(...r.map(({ errno: _errno, ...rest }) => rest));
    }
    return results;
  }

  private stats(t: TraceSession): TraceStats {
    const counters: Record<string, number> = {};
    const o = this.objects.get(t.objectId);
    for (const name of t.counters) {
      if (!o) continue;
      try {
        const g = this.global(o, name);
        const v = decodeValue(g.type, o.bpf.getGlobal(name));
        counters[name] = typeof v === 'number' ? v : Number(v);
      } catch {
        // A counter that cannot be read is left out rather than reported as 0.
      }
    }
    return { sessionId: t.id, ...t.stats, counters, running: t.running };
  }

  private async traceLoop(t: TraceSession): Promise<void> {
    try {
      // A batch is only queued on the socket here; the event loop writes it out while the next poll drains
      // the ring on a worker thread.
      let next: ReturnType<RingConsumer['poll']> | undefined = t.consumer.poll(POLL_MS, t.maxBatchBytes);
      while (next) {
        const { count, data } = await next;
        next = undefined;
        if (count > 0) this.sendBatch(t, count, data);
        while (t.running && this.backlogged(t)) {
          // Stop draining the kernel ring while the client is behind: the ring absorbs the burst and any
          // overflow is counted by the probe's own drop counter, so nothing is lost silently.
          await this.waitForDrain();
        }
        if (t.running) next = t.consumer.poll(POLL_MS, t.maxBatchBytes);
      }
      // Flush what is still in the rings so stopTrace's reply follows every record emitted before it
      // (bounded, in case a probe keeps emitting).
      for (let i = 0; t.flush && i < 256; i++) {
        const { count, data } = await t.consumer.poll(0, t.maxBatchBytes);
        if (count === 0) break;
        this.sendBatch(t, count, data);
      }
    } catch (err) {
      if (t.running) {
        t.running = false;
        this.notify('traceEnded', { sessionId: t.id, reason: (err as Error).message, stats: this.stats(t) });
      }
    } finally {
      t.consumer.close();
    }
  }

  private sendBatch(t: TraceSession, count: number, data: Buffer): void {
    t.stats.records += count;
    t.stats.bytes += data.length;
    t.stats.batches++;
    this.write(encodeEventBatch({ sessionId: t.id, count, sequence: t.sequence++, helperDropped: t.stats.helperDroppedRecords, records: data }));
  }

  private readonly handlers: { [M in HelperMethod]: Handler<M> } = {
    hello: async (params) => {
      if (!params.protocolVersions.includes(PROTOCOL_VERSION)) {
        throw new HelperError('unsupported-version', `this helper speaks protocol ${PROTOCOL_VERSION}; the client offered ${params.protocolVersions.join(', ')}`, {
          remedy: 'redeploy the helper from the same extension version as the client',
        });
      }
      this.handshakeDone = true;
      this.opts.objectChecker?.warm();
      return { result: { protocolVersion: PROTOCOL_VERSION, helperVersion: HELPER_VERSION, pid: process.pid, capabilities: this.probe() } };
    },

    capabilities: async () => ({ result: this.probe() }),

    readBtf: async (params) => {
      const path = params.path ?? '/sys/kernel/btf/vmlinux';
      // Checked before touching the file system, so the reply never reveals whether other paths exist.
      if (!path.startsWith('/sys/kernel/btf/')) throw new HelperError('invalid-params', `readBtf only reads files under /sys/kernel/btf (got ${path})`);
      let real: string;
      try {
        real = realpathSync(path);
      } catch {
        throw new HelperError('not-found', `${path} does not exist on the target`, { remedy: 'use a kernel built with CONFIG_DEBUG_INFO_BTF=y' });
      }
      if (!real.startsWith('/sys/kernel/btf/')) throw new HelperError('invalid-params', `readBtf only reads files under /sys/kernel/btf (got ${path})`);
      const size = statSync(real).size;
      const bytes = readFileSync(real);
      if (bytes.length > MAX_BLOB_BYTES) throw new HelperError('too-large', `${path} is ${size} bytes, more than the protocol carries`);
      return { result: { path: real, size: bytes.length }, blob: bytes };
    },

    loadObject: async (params, { blob, signal }) => {
      const native = this.requireNative();
      let bpf: BpfObject;
      try {
        await this.opts.objectChecker?.check(blob as Buffer);
        bpf = native.BpfObject.openBuffer(blob as Buffer, params.name);
      } catch (err) {
        throw new HelperError('invalid-params', `${params.name} is not a usable BPF object: ${openFailure(err)}`, {
          remedy: 'build it with clang -g -O2 -target bpf (the object needs BTF)',
        });
      }
      let owned = false;
      try {
        const programCount = bpf.programs().length;
        if (programCount > MAX_PROGRAMS) {
          throw new HelperError('too-large', `${params.name} has ${programCount} programs; the helper loads at most ${MAX_PROGRAMS} from one object`, {
            remedy: 'split the programs over several objects',
          });
        }
        const globals = JSON.parse(bpf.globalsJson()) as GlobalInfo[];
        if (params.programs) {
          const wanted = new Set(params.programs);
          const known = bpf.programs().map((p) => p.name);
          const unknown = params.programs.filter((p) => !known.includes(p));
          if (unknown.length) throw new HelperError('not-found', `${params.name} has no program(s) ${unknown.join(', ')}`);
          for (const p of known) bpf.setAutoload(p, wanted.has(p));
        }
        for (const [name, value] of Object.entries(params.globals ?? {})) {
          const g = globals.find((x) => x.name === name);
          if (!g) throw new HelperError('not-found', `${params.name} has no global "${name}" (globals: ${globals.map((x) => x.name).join(', ') || 'none'})`);
          bpf.setGlobal(name, encodeValue(g.type, value, `globals.${name}`));
        }
        let loaded;
        try {
          loaded = await bpf.load(params.logLevel ?? 0, params.logSize ?? 1 << 20);
        } catch (err) {
          throw this.loadFailure(err, params.name);
        }
        // A load cannot be interrupted; if the client gave up meanwhile, nobody will ever know this
        // object's id, so it is closed here rather than kept until the session ends.
        if (signal.aborted) throw new HelperError('cancelled', `loading ${params.name} was cancelled`);
        const o: OwnedObject = { id: this.nextObjectId++, name: params.name, bpf, globals, mapTypes: new Map(), queue: Promise.resolve() };
        this.objects.set(o.id, o);
        owned = true;
        return { result: { ...this.describe(o), logs: loaded.logs, logTruncated: loaded.truncated } };
      } finally {
        if (!owned) await bpf.close();
      }
    },

    attach: async (params, { signal }) => {
      const o = this.object(params.objectId);
      const names = params.programs ?? o.bpf.programs().filter((p) => p.loaded && !p.attached).map((p) => p.name);
      return { result: { results: await this.attachChunked(o, names, signal, false) } };
    },

    detach: async (params, { signal }) => {
      const o = this.object(params.objectId);
      const names = params.programs ?? o.bpf.programs().filter((p) => p.attached).map((p) => p.name);
      return { result: { results: await this.attachChunked(o, names, signal, true) } };
    },

    pinLink: async (params) => {
      const o = this.object(params.objectId);
      let parent: string;
      try {
        parent = realpathSync(dirname(params.path));
      } catch {
        throw new HelperError('not-found', `the folder of ${params.path} does not exist`, { remedy: 'create it under /sys/fs/bpf first' });
      }
      if (parent !== '/sys/fs/bpf' && !parent.startsWith('/sys/fs/bpf/')) {
        throw new HelperError('invalid-params', `links can only be pinned under /sys/fs/bpf (got ${params.path})`);
      }
      await this.serial(o, () => o.bpf.pinLink(params.program, params.path));
      return { result: {} };
    },

    unloadObject: async (params) => {
      const o = this.object(params.objectId);
      for (const t of [...this.traces.values()].filter((x) => x.objectId === o.id)) await this.stopTrace(t);
      this.objects.delete(o.id);
      await this.serial(o, () => {
        o.release?.();
        return o.bpf.close();
      });
      return { result: {} };
    },

    list: async () => ({
      result: {
        objects: [...this.objects.values()].map((o) => this.describe(o)),
        traces: [...this.traces.values()].map((t) => this.stats(t)),
        processes: this.processes.list(),
      },
    }),

    mapLookup: async (params) => {
      const o = this.object(params.objectId);
      const t = this.mapTypes(o, params.map);
      const value = await this.serial(o, () => o.bpf.mapLookup(params.map, encodeValue(t.key, params.key, 'key', t.keySize)));
      return { result: value ? { found: true, value: decodeValue(t.value, value) } : { found: false } };
    },

    mapUpdate: async (params) => {
      const o = this.object(params.objectId);
      const t = this.mapTypes(o, params.map);
      const flags = { any: 0, noexist: 1, exist: 2 }[params.flags ?? 'any'];
      const key = encodeValue(t.key, params.key, 'key', t.keySize);
      const value = encodeValue(t.value, params.value, 'value', t.valueSize);
      await this.serial(o, () => o.bpf.mapUpdate(params.map, key, value, flags));
      o.used?.();
      return { result: {} };
    },

    mapDelete: async (params) => {
      const o = this.object(params.objectId);
      const t = this.mapTypes(o, params.map);
      const found = await this.serial(o, () => o.bpf.mapDelete(params.map, encodeValue(t.key, params.key, 'key', t.keySize)));
      return { result: { found } };
    },

    mapEntries: async (params) => {
      const o = this.object(params.objectId);
      const t = this.mapTypes(o, params.map);
      const limit = params.limit ?? 1000;
      const after = params.after === undefined ? null : encodeValue(t.key, params.after, 'after', t.keySize);
      const page = await this.serial(o, () => o.bpf.mapEntries(params.map, after, limit));
      const vs = page.count ? page.values.length / page.count : 0;
      const entries = [];
      for (let i = 0; i < page.count; i++) {
        entries.push({
          key: decodeValue(t.key, page.keys.subarray(i * t.keySize, (i + 1) * t.keySize)),
          value: decodeValue(t.value, page.values.subarray(i * vs, (i + 1) * vs)),
        });
      }
      return { result: { entries, more: page.more } };
    },

    getGlobal: async (params) => {
      const o = this.object(params.objectId);
      const g = this.global(o, params.name);
      const bytes = await this.serial(o, () => o.bpf.getGlobal(params.name));
      return { result: { value: decodeValue(g.type, bytes) } };
    },

    setGlobal: async (params) => {
      const o = this.object(params.objectId);
      const g = this.global(o, params.name);
      if (g.section.startsWith('.rodata')) {
        throw new HelperError('invalid-params', `${params.name} is const volatile (.rodata) and frozen after load`, {
          remedy: 'pass it in loadObject\'s "globals" instead, or make it a plain global (.bss/.data) to change it live',
        });
      }
      const bytes = encodeValue(g.type, params.value, params.name);
      await this.serial(o, () => o.bpf.setGlobal(params.name, bytes));
      return { result: {} };
    },

    startTrace: async (params) => {
      const o = this.object(params.objectId);
      if (this.traces.size >= MAX_TRACES) {
        throw new HelperError('busy', `${MAX_TRACES} trace sessions are already running; stop one first`);
      }
      const native = this.requireNative();
      const maps = o.bpf.maps();
      for (const r of params.ringBuffers) {
        const m = maps.find((x) => x.name === r);
        if (!m) throw new HelperError('not-found', `object ${o.name} has no map "${r}"`);
        if (m.type !== 'ringbuf') throw new HelperError('invalid-params', `map ${r} is a ${m.type}, not a ringbuf`);
      }
      for (const c of params.counters ?? []) this.global(o, c);
      const consumer = await this.serial(o, () => new native.RingConsumer(o.bpf, params.ringBuffers));
      const t: TraceSession = {
        id: this.nextSessionId++,
        objectId: o.id,
        consumer,
        counters: params.counters ?? [],
        maxBatchBytes: params.maxBatchBytes ?? 1 << 20,
        running: true,
        flush: true,
        loop: Promise.resolve(),
        stats: { records: 0, bytes: 0, batches: 0, helperDroppedRecords: 0 },
        sequence: 0,
      };
      this.traces.set(t.id, t);
      t.loop = this.traceLoop(t);
      return { result: { sessionId: t.id } };
    },

    stopTrace: async (params) => {
      const t = this.traces.get(params.sessionId);
      if (!t) throw new HelperError('not-found', `no trace session ${params.sessionId}`);
      return { result: await this.stopTrace(t) };
    },

    traceStats: async (params) => {
      const t = this.traces.get(params.sessionId);
      if (!t) throw new HelperError('not-found', `no trace session ${params.sessionId}`);
      return { result: this.stats(t) };
    },

    spawn: async (params) => {
      try {
        return { result: await this.processes.spawnStopped(params) };
      } catch (err) {
        throw new HelperError('os-error', (err as Error).message);
      }
    },

    resume: async (params) => {
      this.processes.resume(params.pid);
      return { result: {} };
    },

    kill: async (params) => {
      this.processes.kill(params.pid, params.signal ?? 'SIGTERM');
      return { result: {} };
    },

    ...tracerHandlers({
      native: () => this.requireNative(),
      check: async (object) => {
        try {
          await this.opts.objectChecker?.check(object);
        } catch (err) {
          throw new HelperError('invalid-params', `the tracer is not a usable BPF object: ${openFailure(err)}`);
        }
      },
      fail: (code, message, extra) => new HelperError(code, message, extra),
      loadFailure: (err) => this.loadFailure(err, 'the tracer'),
      own: (bpf, hooks) => {
        const o: OwnedObject = { id: this.nextObjectId++, name: 'bpf-lsm-tracer', bpf, globals: JSON.parse(bpf.globalsJson()) as GlobalInfo[], mapTypes: new Map(), queue: Promise.resolve(), ...hooks };
        this.objects.set(o.id, o);
        return o.id;
      },
    }),

    shutdown: async () => ({ result: {} }),
  };

  private async stopTrace(t: TraceSession): Promise<TraceStats> {
    t.running = false;
    this.wakeDrainWaiters();
    await t.loop;
    this.traces.delete(t.id);
    return this.stats(t);
  }

  // ------------------------------------------------------------------------------------------------------
  // Teardown

  /** Ends the session: cancels requests, stops traces, kills processes, detaches and closes every object. */
  teardown(reason: string): Promise<void> {
    if (this.tearingDown) return this.tearingDown;
    this.tearingDown = (async () => {
      this.log(`session ending: ${reason}`);
      for (const c of this.inflight.values()) c.abort();
      for (const t of [...this.traces.values()]) {
        t.running = false;
        t.flush = false;
      }
      this.wakeDrainWaiters();
      await Promise.allSettled([...this.traces.values()].map((t) => t.loop));
      this.traces.clear();
      await this.processes.killAll();
      this.opts.objectChecker?.close();
      const objects = [...this.objects.values()];
      this.objects.clear();
      const closed = await Promise.allSettled(
        objects.map((o) =>
          o.queue.then(() => {
            o.release?.();
            return o.bpf.close();
          }),
        ),
      );
      closed.forEach((r, i) => {
        if (r.status === 'rejected') this.log(`closing ${objects[i].name} failed: ${(r.reason as Error)?.message}`);
      });
      this.log(`session ended: ${objects.length} object(s) closed`);
      const out = this.opts.output;
      if (!out.destroyed && !out.writableEnded) {
        // Let the last replies (e.g. to shutdown) reach the client, but never hang on a client gone silent.
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, 2000);
          out.end(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
    })().finally(() => this.finish());
    return this.tearingDown;
  }
}
