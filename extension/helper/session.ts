// One helper session: the protocol over one byte stream (framing, validation, dispatch, cancellation) and
// ownership of everything created on behalf of the client. The requests themselves are answered by the
// handler modules: objects.ts (load, attach, pin, unload), maps.ts (map entries and globals), traces.ts
// (ring buffer trace sessions), tracerHandlers.ts (the resident tracer) and processes.ts (programs spawned
// for a trace). When the stream ends for any reason, teardown() stops the traces, kills the processes and
// detaches and closes every object. Only links the user pinned explicitly survive.
import type { Readable, Writable } from 'node:stream';
import { readFileSync, realpathSync, statSync } from 'node:fs';
import type { NativeBinding } from '../../native/index';
import { PROTOCOL_VERSION, type Capabilities, type HelperMethod, type HelperNotification, type HelperNotifications, type ParamsOf } from '../shared/helperProtocol';
import { encodeMessage, FrameDecoder, FrameKind, MAX_BLOB_BYTES, MAX_FRAME_BYTES, ProtocolError } from '../shared/helperFrames';
import { validateClientMessage } from '../shared/helperSchema';
import { ValueError } from '../shared/helperValues';
import { probeCapabilities } from './capabilities';
import { mapHandlers } from './maps';
import type { ObjectChecker } from './objectCheck';
import { describeObject, loadFailure, objectHandlers, ObjectTable, openFailure, setGlobals } from './objects';
import { processHandlers, ProcessTable } from './processes';
import { HelperError, type Handler, type Handlers } from './request';
import { TraceTable } from './traces';
import { kernelSymbolGlobals } from './kernelSymbols';
import { reusableKeys } from './residentTracer';
import { tracerHandlers } from './tracerHandlers';
import { version } from '../../package.json';

export { HelperError } from './request';
export const HELPER_VERSION: string = version;

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
  objectChecker?: Pick<ObjectChecker, 'check' | 'warm' | 'close'>;
  /** The helper daemon's number of this session (hello reports it); absent for a helper process of its own. */
  sessionNumber?: number;
}

/** Bounds what one client can make the helper hold at once. */
const MAX_INFLIGHT = 256;

export class HelperSession {
  /** Batch frames are refused unread: a client's compressed batch is never inflated as root. */
  private readonly decoder = new FrameDecoder(MAX_FRAME_BYTES, false);
  private readonly objects = new ObjectTable();
  private readonly traces: TraceTable;
  private readonly inflight = new Map<number, AbortController>();
  private readonly processes: ProcessTable;
  private readonly handlers: Handlers<HelperMethod>;
  private handshakeDone = false;
  private native: NativeBinding | undefined;
  private nativeError: string | undefined;
  private capabilities: Capabilities | undefined;
  private tearingDown: Promise<void> | undefined;
  private readonly log: (line: string) => void;
  /** Resolves when the session is over and everything it owned is gone. */
  readonly finished: Promise<void>;
  private finish!: () => void;

  constructor(private readonly opts: SessionOptions) {
    this.log = opts.log ?? (() => undefined);
    this.finished = new Promise((r) => (this.finish = r));
    this.processes = new ProcessTable(
      (pid, stream, text) => this.notify('processOutput', { pid, stream, text }),
      (pid, code, signal) => this.notify('processExit', { pid, code, signal }),
    );
    this.traces = new TraceTable({
      objects: this.objects,
      requireNative: () => this.requireNative(),
      output: opts.output,
      // Kept small on purpose: everything queued here delays replies and notifications behind it (over a
      // 1-2 MB/s ssh link, 16 MiB meant seconds of lag); a burst waits in the kernel ring instead.
      highWater: opts.highWaterBytes ?? 1 << 20,
      write: (buffers) => this.write(buffers),
      notify: (method, params) => this.notify(method, params),
    });
    this.handlers = {
      ...this.sessionHandlers(),
      ...objectHandlers({
        objects: this.objects,
        requireNative: () => this.requireNative(),
        capabilities: () => this.capabilities ?? this.probe(),
        objectChecker: opts.objectChecker,
        stopTracesOf: (objectId) => this.traces.stopTracesOf(objectId),
      }),
      ...mapHandlers(this.objects),
      ...this.traces.handlers(),
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
        loadFailure: (err) => loadFailure(err, 'the tracer', this.capabilities ?? this.probe()),
        setGlobals: (bpf, values, ifDeclared = {}) => {
          const globals = describeObject(bpf, 'the tracer').globals;
          const declared = Object.entries(ifDeclared).filter(([name]) => globals.some((g) => g.name === name));
          setGlobals(bpf, globals, { ...values, ...Object.fromEntries(declared) }, (name) => `the tracer has no global "${name}"`);
        },
        own: (bpf, hooks) => {
          const { btf, globals } = describeObject(bpf, 'the tracer');
          return this.objects.add('bpf-lsm-tracer', bpf, btf, globals, hooks).id;
        },
      }),
      ...processHandlers(this.processes),
    };
  }

  start(): void {
    const { input, output } = this.opts;
    input.on('data', (chunk: Buffer) => this.onData(chunk));
    input.once('end', () => void this.teardown('the client closed the stream'));
    input.once('close', () => void this.teardown('the client stream closed'));
    // `on`, not `once`: a second error (e.g. EPIPE after the first) must not become an uncaught exception.
    input.on('error', (err) => void this.teardown(`the client stream failed: ${err.message}`));
    output.on('drain', () => this.traces.wakeDrainWaiters());
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

  /** The requests about the session itself: handshake, capabilities, the kernel's BTF, listing, shutdown. */
  private sessionHandlers(): Handlers<'hello' | 'capabilities' | 'readBtf' | 'list' | 'shutdown'> {
    return {
      hello: async (params) => {
        if (!params.protocolVersions.includes(PROTOCOL_VERSION)) {
          throw new HelperError('unsupported-version', `this helper speaks protocol ${PROTOCOL_VERSION}; the client offered ${params.protocolVersions.join(', ')}`, {
            remedy: 'redeploy the helper from the same extension version as the client',
          });
        }
        this.handshakeDone = true;
        this.opts.objectChecker?.warm();
        const session = this.opts.sessionNumber;
        const capabilities = this.probe();
        // The kernel's LSM hooks are indexed on the thread pool while the client prepares its first load
        // (~0.1-0.2 s under TCG, once per process); a load that needs the index and finds it missing builds
        // it and reports why it could not.
        this.native?.indexLsmHooks().catch(() => undefined);
        const tracers = reusableKeys();
        // So is the kernel's kallsyms for the tracer's path cache (once per process; only root sees addresses),
        // when no tracer is resident: a trace that reuses one sets no globals, and a load waits for the read.
        if (capabilities.root.ok && tracers.length === 0) void kernelSymbolGlobals();
        return { result: { protocolVersion: PROTOCOL_VERSION, helperVersion: HELPER_VERSION, pid: process.pid, ...(session !== undefined ? { session } : {}), capabilities, tracers } };
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

      list: async () => ({
        result: {
          objects: this.objects.list(),
          traces: this.traces.list(),
          processes: this.processes.list(),
        },
      }),

      shutdown: async () => ({ result: {} }),
    };
  }

  // ------------------------------------------------------------------------------------------------------
  // Teardown

  /** Ends the session: cancels requests, stops traces, kills processes, detaches and closes every object. */
  teardown(reason: string): Promise<void> {
    if (this.tearingDown) return this.tearingDown;
    this.tearingDown = (async () => {
      this.log(`session ending: ${reason}`);
      for (const c of this.inflight.values()) c.abort();
      await this.traces.stopAll();
      await this.processes.killAll();
      this.opts.objectChecker?.close();
      const closed = await this.objects.closeAll(this.log);
      this.log(`session ended: ${closed} object(s) closed`);
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
