// Client side of the helper protocol, shared by the VS Code client and the CLI. One HelperClient owns one
// helper process (through its HelperTransport): it performs the handshake, offers typed requests, delivers
// event batches to subscribers, and rejects every pending request as soon as the helper goes away.
import type { HelperTransport } from './target';
import { PROTOCOL_VERSION, type HelperErrorCode, type HelperErrorPayload, type HelperMethod, type HelperNotification, type HelperNotifications, type JsonValue, type ParamsOf, type ResultOf } from '../shared/helperProtocol';
import { encodeMessage, FrameDecoder, FrameKind, type EventBatch } from '../shared/helperFrames';

/** A request the helper answered with an error. */
export class HelperRequestError extends Error {
  readonly code: HelperErrorCode;
  readonly remedy: string | undefined;
  readonly errno: string | undefined;
  readonly data: { [k: string]: JsonValue } | undefined;
  constructor(
    readonly method: string,
    payload: HelperErrorPayload,
  ) {
    super(payload.message);
    this.name = 'HelperRequestError';
    this.code = payload.code;
    this.remedy = payload.remedy;
    this.errno = payload.errno;
    this.data = payload.data;
  }
}

/** The helper process ended (or its stream broke) while requests were pending or a new one was made. */
export class HelperGoneError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HelperGoneError';
  }
}

export interface Disposable {
  dispose(): void;
}

interface Pending {
  method: string;
  resolve: (v: { result: unknown; blob?: Buffer }) => void;
  reject: (e: Error) => void;
  cleanup: () => void;
}

/** Batches for a session nobody subscribed to yet are kept (up to this many bytes) until someone does. */
const UNCLAIMED_LIMIT = 64 << 20;

export class HelperClient implements Disposable {
  private readonly decoder = new FrameDecoder();
  private readonly pending = new Map<number, Pending>();
  private readonly batchListeners = new Map<number, Set<(b: EventBatch) => void>>();
  private readonly unclaimed = new Map<number, EventBatch[]>();
  private unclaimedBytes = 0;
  private readonly notificationListeners = new Map<string, Set<(p: unknown) => void>>();
  private nextId = 1;
  private gone: HelperGoneError | undefined;
  private stderrTail = '';
  /** Resolves with the reason once the helper is gone. */
  readonly closed: Promise<HelperGoneError>;
  private markClosed!: (e: HelperGoneError) => void;
  helper: ResultOf<'hello'> | undefined;

  private constructor(private readonly transport: HelperTransport) {
    this.closed = new Promise((r) => (this.markClosed = r));
    transport.output.on('data', (chunk: Buffer) => this.onData(chunk));
    transport.output.once('end', () => this.fail('the helper closed its output'));
    transport.output.on('error', (err) => this.fail(`reading from the helper failed: ${err.message}`));
    transport.input.on('error', (err) => this.fail(`writing to the helper failed: ${err.message}`));
    transport.stderr.setEncoding?.('utf8');
    transport.stderr.on('data', (text: string | Buffer) => {
      this.stderrTail = (this.stderrTail + text.toString()).slice(-4000);
    });
    void transport.exited.then(
      (code) => this.fail(`the helper exited${code === null ? ' (killed by a signal)' : ` with code ${code}`}`),
      (err: Error) => this.fail(`the helper could not run: ${err.message}`),
    );
  }

  /** Starts the session: sends hello and resolves once the helper agreed on the protocol. */
  static async connect(transport: HelperTransport, options: { client?: string; timeoutMs?: number } = {}): Promise<HelperClient> {
    const client = new HelperClient(transport);
    const timeoutMs = options.timeoutMs ?? 30000;
    let timer: NodeJS.Timeout | undefined;
    try {
      client.helper = await Promise.race([
        client.call('hello', { protocolVersions: [PROTOCOL_VERSION], client: options.client ?? 'bpf-lsm-studio' }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new HelperGoneError(`the helper did not answer the handshake within ${timeoutMs} ms${client.stderrHint()}`)), timeoutMs);
        }),
      ]);
      return client;
    } catch (err) {
      await client.close().catch(() => undefined);
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  get capabilities(): ResultOf<'hello'>['capabilities'] | undefined {
    return this.helper?.capabilities;
  }

  get isClosed(): boolean {
    return this.gone !== undefined;
  }

  private stderrHint(): string {
    const tail = this.stderrTail.trim();
    return tail ? `; its last messages:\n${tail}` : '';
  }

  private onData(chunk: Buffer): void {
    let frames;
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.fail(`the helper sent a malformed stream (${(err as Error).message})`);
      void this.transport.close();
      return;
    }
    for (const frame of frames) {
      if (frame.kind === FrameKind.EventBatch) {
        this.deliverBatch(frame.batch);
        continue;
      }
      const msg = frame.message as { type?: string; id?: number; result?: unknown; error?: HelperErrorPayload; method?: string; params?: unknown };
      if (msg?.type === 'response' && typeof msg.id === 'number') {
        const p = this.pending.get(msg.id);
        if (!p) {
          if (msg.error) this.emitNotification('log', { level: 'error', message: `helper: ${msg.error.message}` });
          continue;
        }
        this.pending.delete(msg.id);
        p.cleanup();
        if (msg.error) p.reject(new HelperRequestError(p.method, msg.error));
        else p.resolve({ result: msg.result, blob: frame.blob });
      } else if (msg?.type === 'notification' && typeof msg.method === 'string') {
        this.emitNotification(msg.method, msg.params);
      }
    }
  }

  private deliverBatch(batch: EventBatch): void {
    const listeners = this.batchListeners.get(batch.sessionId);
    if (listeners?.size) {
      for (const l of listeners) l(batch);
      return;
    }
    if (this.unclaimedBytes + batch.records.length > UNCLAIMED_LIMIT) return;
    const list = this.unclaimed.get(batch.sessionId) ?? [];
    list.push(batch);
    this.unclaimed.set(batch.sessionId, list);
    this.unclaimedBytes += batch.records.length;
  }

  private emitNotification(method: string, params: unknown): void {
    for (const l of this.notificationListeners.get(method) ?? []) l(params);
  }

  private fail(reason: string): void {
    if (this.gone) return;
    this.gone = new HelperGoneError(`${reason}${this.stderrHint()}`);
    for (const p of this.pending.values()) {
      p.cleanup();
      p.reject(this.gone);
    }
    this.pending.clear();
    this.markClosed(this.gone);
  }

  /** Sends a request; resolves with its result and the reply's blob (readBtf). */
  request<M extends HelperMethod>(
    method: M,
    params: ParamsOf<M>,
    options: { signal?: AbortSignal; blob?: Buffer } = {},
  ): Promise<{ result: ResultOf<M>; blob?: Buffer }> {
    if (this.gone) return Promise.reject(this.gone);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        // The helper answers a cancelled request with code "cancelled"; that reply settles the promise.
        if (!this.gone) this.transport.input.write(Buffer.concat(encodeMessage({ type: 'cancel', id })));
      };
      options.signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        method,
        resolve: resolve as Pending['resolve'],
        reject,
        cleanup: () => options.signal?.removeEventListener('abort', onAbort),
      });
      const frame = encodeMessage({ type: 'request', id, method, params }, options.blob);
      for (const b of frame) this.transport.input.write(b);
      if (options.signal?.aborted) onAbort();
    });
  }

  async call<M extends HelperMethod>(method: M, params: ParamsOf<M>, options: { signal?: AbortSignal } = {}): Promise<ResultOf<M>> {
    return (await this.request(method, params, options)).result;
  }

  // ------------------------------------------------------------------------------------------------------
  // Typed conveniences

  /** The target kernel's BTF blob (for the hook catalog). */
  async readBtf(path?: string): Promise<Buffer> {
    const { blob } = await this.request('readBtf', path ? { path } : {});
    if (!blob) throw new HelperGoneError('the helper answered readBtf without the BTF data');
    return blob;
  }

  loadObject(bytes: Buffer, params: ParamsOf<'loadObject'>, signal?: AbortSignal): Promise<ResultOf<'loadObject'>> {
    return this.request('loadObject', params, { blob: bytes, signal }).then((r) => r.result);
  }

  /** tracerAcquire with the compiled tracer, for when none with that key is resident on the target. */
  tracerAcquire(bytes: Buffer, params: ParamsOf<'tracerAcquire'>, signal?: AbortSignal): Promise<ResultOf<'tracerAcquire'>> {
    return this.request('tracerAcquire', params, { blob: bytes, signal }).then((r) => r.result);
  }

  /**
   * Starts streaming the object's ring buffers; `onBatch` gets every batch of this session, including any
   * that arrived before this call resolved. Batches travel compressed where the transport says it pays.
   */
  async startTrace(params: ParamsOf<'startTrace'>, onBatch: (batch: EventBatch) => void): Promise<{ sessionId: number; subscription: Disposable }> {
    const { sessionId } = await this.call('startTrace', { compress: this.transport.compressEvents === true, ...params });
    return { sessionId, subscription: this.onEvents(sessionId, onBatch) };
  }

  onEvents(sessionId: number, listener: (batch: EventBatch) => void): Disposable {
    let set = this.batchListeners.get(sessionId);
    if (!set) this.batchListeners.set(sessionId, (set = new Set()));
    set.add(listener);
    const early = this.unclaimed.get(sessionId);
    if (early) {
      this.unclaimed.delete(sessionId);
      for (const b of early) {
        this.unclaimedBytes -= b.records.length;
        listener(b);
      }
    }
    return { dispose: () => set?.delete(listener) };
  }

  onNotification<N extends HelperNotification>(method: N, listener: (params: HelperNotifications[N]) => void): Disposable {
    let set = this.notificationListeners.get(method);
    if (!set) this.notificationListeners.set(method, (set = new Set()));
    const l = listener as (p: unknown) => void;
    set.add(l);
    return { dispose: () => set?.delete(l) };
  }

  /** Asks the helper to tear everything down and exit, then closes the transport. */
  async close(): Promise<void> {
    if (!this.gone) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.call('shutdown', {}).catch(() => undefined),
        new Promise((r) => (timer = setTimeout(r, 10000))),
      ]);
      clearTimeout(timer);
    }
    await this.transport.close();
    this.fail('the client closed the session');
  }

  dispose(): void {
    void this.close();
  }
}
