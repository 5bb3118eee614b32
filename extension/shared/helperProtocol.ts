// The client <-> privileged helper protocol: one byte stream (the helper's stdin/stdout), carrying
// length-prefixed frames. Both sides import this module; the helper is the only one that validates (it runs
// as root and must survive any input), the client trusts the helper it started.
//
// Frame: 8-byte header (u32 LE body length, u8 kind, u8 0, u16 0) then the body.
//   kind 1 MESSAGE        body = UTF-8 JSON of one HelperMessage
//   kind 2 MESSAGE_BLOB   body = u32 LE JSON length, the JSON, then raw bytes (BPF objects, BTF)
//   kind 3 EVENT_BATCH    body = 32-byte batch header, then ring buffer records exactly as the addon
//                         returns them (u32 length, u16 ring, u16 0, payload, pad to 8), or those records
//                         brotli-compressed when the header's codec byte says so (startTrace's compress)
// A stream whose framing breaks (bad kind, oversized length, truncated header) cannot be resynchronised:
// the reader reports one ProtocolError and stops.
import { BatchCodec, compressRecords, unpackRecords } from './batchCodec';

export const PROTOCOL_VERSION = 1;
/** The bpffs folder of the links the policies pin (unpinLinks removes links there and nowhere else). */
export const POLICY_PIN_DIR = '/sys/fs/bpf/bpf-lsm-studio';
export const FRAME_HEADER_SIZE = 8;
export const BATCH_HEADER_SIZE = 32;
export const RECORD_HEADER_SIZE = 8;
/** Largest JSON part: requests are small; replies listing hundreds of programs stay far below this. */
export const MAX_JSON_BYTES = 4 << 20;
/** Largest blob: a BPF object or a kernel's BTF (vmlinux BTF is ~6 MiB on a distribution kernel). */
export const MAX_BLOB_BYTES = 64 << 20;
export const MAX_FRAME_BYTES = 4 + MAX_JSON_BYTES + MAX_BLOB_BYTES;

export const enum FrameKind {
  Message = 1,
  MessageBlob = 2,
  EventBatch = 3,
}

// ---------------------------------------------------------------------------------------------------------
// Messages

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** Error codes of failed requests; `remedy` in the error tells the user what to do. */
export type HelperErrorCode =
  | 'parse-error' // the frame's JSON could not be parsed
  | 'invalid-request' // not a request message, or a duplicate id
  | 'unknown-method'
  | 'invalid-params'
  | 'handshake-required' // a request before hello
  | 'unsupported-version' // no protocol version in common
  | 'cancelled'
  | 'not-found' // unknown object, map, program, session or process
  | 'busy'
  | 'load-failed' // the verifier (or libbpf) rejected the object; data.log holds the verifier log
  | 'kernel-refused' // EPERM/EACCES/EOPNOTSUPP from the kernel: BPF-LSM not enabled, lockdown, ...
  | 'native-unavailable' // the libbpf addon could not be loaded on the target
  | 'too-large'
  | 'os-error' // a system call failed; errno/code tell which
  | 'shutting-down'
  | 'internal';

export interface HelperErrorPayload {
  code: HelperErrorCode;
  message: string;
  remedy?: string;
  errno?: string;
  data?: { [key: string]: JsonValue };
}

/** Client -> helper: call `method`; the helper answers once with a ResponseMessage of the same id. */
export interface RequestMessage<M extends HelperMethod = HelperMethod> {
  type: 'request';
  id: number;
  method: M;
  params: HelperMethods[M]['params'];
}

/** Helper -> client: the answer to one request. */
export type ResponseMessage =
  | { type: 'response'; id: number; result: JsonValue | object }
  | { type: 'response'; id: number; error: HelperErrorPayload };

/** Client -> helper: stop working on request `id`; it then fails with code "cancelled" (if not done yet). */
export interface CancelMessage {
  type: 'cancel';
  id: number;
}

/** Helper -> client: something happened that no request waits for. */
export interface NotificationMessage<N extends HelperNotification = HelperNotification> {
  type: 'notification';
  method: N;
  params: HelperNotifications[N];
}

export type ClientMessage = RequestMessage | CancelMessage;
export type HelperMessage = ResponseMessage | NotificationMessage;

// ---------------------------------------------------------------------------------------------------------
// Capabilities: what the target can do, each missing piece with a remedy.

export interface CapabilityCheck {
  ok: boolean;
  /** What was found, e.g. "lockdown,capability,landlock,yama,apparmor,bpf" or "1.1". */
  detail: string;
  /** Present when !ok: what to do about it. */
  remedy?: string;
}

export interface Capabilities {
  kernelRelease: string;
  arch: string;
  /** `bpf` is listed in /sys/kernel/security/lsm (kernel booted with lsm=...,bpf). */
  bpfLsmActive: CapabilityCheck;
  /** CONFIG_BPF_LSM=y in the kernel config (unknown when no config is readable). */
  configBpfLsm: CapabilityCheck & { known: boolean };
  /** /sys/kernel/btf/vmlinux is present. */
  btf: CapabilityCheck;
  /** The libbpf addon loaded; detail is libbpf's version. */
  libbpf: CapabilityCheck;
  clang: CapabilityCheck;
  bpftool: CapabilityCheck;
  /** The helper runs as root (it must). */
  root: CapabilityCheck;
  /** Every check needed to load and attach LSM programs passed. */
  canRunLsm: boolean;
}

// ---------------------------------------------------------------------------------------------------------
// Models carried by requests

/** A program of a loaded object (the addon's listing, field for field: native/index.d.ts uses this type). */
export interface ProgramInfo {
  name: string;
  section: string;
  /** libbpf's name of the program type, e.g. "lsm". */
  type: string;
  attachType: string;
  /** What the section names after its first slash: for lsm/file_open, the hook "file_open". */
  attachTarget: string;
  autoload: boolean;
  loaded: boolean;
  attached: boolean;
  pinned: boolean;
  instructions: number;
}

/** A map of a loaded object (the addon adds only its BTF type ids: native/index.d.ts extends this type). */
export interface MapInfo {
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  /** Backs global variables (.rodata, .bss, .data, .kconfig). */
  internal: boolean;
}

/** A BTF type as the helper describes it from the object's BTF (modifiers and typedefs resolved; shared/btf/describe.ts). */
export type BtfTypeDesc =
  | { kind: 'int'; name: string; size: number; signed: boolean; bool: boolean; char: boolean }
  | { kind: 'enum'; name: string; size: number; signed: boolean; values: Record<string, number> }
  | { kind: 'ptr'; size: number }
  | { kind: 'array'; length: number; size: number; elem: BtfTypeDesc }
  | { kind: 'struct' | 'union'; name: string; size: number; members: BtfMemberDesc[] }
  | { kind: 'float'; size: number }
  | { kind: 'void'; size: number }
  | { kind: 'opaque'; name?: string; size: number };

export interface BtfMemberDesc {
  name: string;
  offset: number;
  bitOffset: number;
  bitSize: number;
  type: BtfTypeDesc;
}

export interface GlobalInfo {
  name: string;
  section: string;
  offset: number;
  size: number;
  type: BtfTypeDesc;
}

export interface AttachResult {
  program: string;
  ok: boolean;
  code?: string;
  message?: string;
}

export interface LoadedObjectInfo {
  objectId: number;
  name: string;
  programs: ProgramInfo[];
  maps: MapInfo[];
  globals: GlobalInfo[];
}

export interface TraceStats {
  sessionId: number;
  records: number;
  bytes: number;
  batches: number;
  /** Records the helper dropped because the client did not keep up (its queue limit was hit). */
  helperDroppedRecords: number;
  /** Values of the object's counter globals named in startTrace (e.g. BPF-side reserve failures). */
  counters: Record<string, number>;
  running: boolean;
}

export interface ProcessInfo {
  pid: number;
  argv: string[];
  state: 'stopped' | 'running' | 'exited';
  uid: number;
}

/** One resident tracer on a target, as tracerStatus reports it. */
export interface ResidentTracerInfo {
  key: string;
  /**
   * "loading": a helper is loading and attaching it; "releasing": taken out of use, its programs are being
   * detached; "incomplete": its creator died.
   */
  state: 'resident' | 'loading' | 'releasing' | 'incomplete';
  links: number;
  /** Programs kept loaded with their links detached until a trace needs them (no trace for a while). */
  idle?: number;
  tracesRunning: number;
  /** Released after this long without a trace; 0: never (until the target reboots or the VM stops). */
  idleMs: number;
  idleForMs?: number;
  createdAt?: number;
}

/** A value for a map key/value or a global: JSON shaped by the BTF type, or raw bytes as { hex }. */
export type TypedValue = JsonValue;

// ---------------------------------------------------------------------------------------------------------
// Methods: params and result of every request.

export interface HelperMethods {
  /** First request of a session: agree on a protocol version and learn what the target can do. */
  hello: {
    params: { protocolVersions: number[]; client: string };
    /**
     * `pid` is the helper process; in the built-in VM that is the helper daemon serving every session, and
     * `session` numbers this session among those it started (absent for a helper process of its own).
     * `tracers` are the keys of the resident tracers (and of those under release) at the time of the reply:
     * a client whose tracer is not among them sends its object with the first tracerAcquire.
     */
    result: { protocolVersion: number; helperVersion: string; pid: number; session?: number; capabilities: Capabilities; tracers?: string[] };
  };
  capabilities: { params: Record<string, never>; result: Capabilities };
  /** The target kernel's BTF (for the hook catalog), returned as the reply's blob. */
  readBtf: { params: { path?: string }; result: { path: string; size: number } };
  /** Opens the object (the request's blob), sets globals, loads it; the verifier log comes back on failure. */
  loadObject: {
    params: {
      name: string;
      globals?: Record<string, TypedValue>;
      /** Load only these programs (default: all). */
      programs?: string[];
      logLevel?: 0 | 1 | 2;
      logSize?: number;
    };
    result: LoadedObjectInfo & { logs: Record<string, string>; logTruncated: boolean };
  };
  /** Attaches each listed program (default: all loaded ones) independently; failures do not undo the rest. */
  attach: { params: { objectId: number; programs?: string[] }; result: { results: AttachResult[] } };
  detach: { params: { objectId: number; programs?: string[] }; result: { results: AttachResult[] } };
  /** Keeps an attached program's link after the session ends, pinned under /sys/fs/bpf. */
  pinLink: { params: { objectId: number; program: string; path: string }; result: Record<string, never> };
  /**
   * Removes links pinned in POLICY_PIN_DIR and answers once they are detached (a plain unlink may leave the
   * detach to the kernel for a moment). Paths with nothing pinned are skipped.
   */
  unpinLinks: { params: { paths: string[] }; result: { removed: number } };
  unloadObject: { params: { objectId: number }; result: Record<string, never> };
  /** Everything this helper owns right now. */
  list: {
    params: Record<string, never>;
    result: {
      objects: Array<LoadedObjectInfo>;
      traces: TraceStats[];
      processes: ProcessInfo[];
    };
  };
  mapLookup: { params: { objectId: number; map: string; key: TypedValue }; result: { found: boolean; value?: TypedValue } };
  mapUpdate: {
    params: { objectId: number; map: string; key: TypedValue; value: TypedValue; flags?: 'any' | 'noexist' | 'exist' };
    result: Record<string, never>;
  };
  mapDelete: { params: { objectId: number; map: string; key: TypedValue }; result: { found: boolean } };
  /** One page of entries; pass the last key of a page as `after` to get the next one. */
  mapEntries: {
    params: { objectId: number; map: string; limit?: number; after?: TypedValue };
    result: { entries: Array<{ key: TypedValue; value: TypedValue }>; more: boolean };
  };
  getGlobal: { params: { objectId: number; name: string }; result: { value: TypedValue } };
  /** After load only .bss/.data globals can change (written live). */
  setGlobal: { params: { objectId: number; name: string; value: TypedValue }; result: Record<string, never> };
  /** Streams the object's ring buffers to this client as EVENT_BATCH frames tagged with sessionId. */
  startTrace: {
    params: {
      objectId: number;
      ringBuffers: string[];
      /** Globals (e.g. "dropped") reported in TraceStats.counters. */
      counters?: string[];
      maxBatchBytes?: number;
      /** Large batches leave compressed (batchCodec.ts): for transports that pay per byte, such as ssh. */
      compress?: boolean;
    };
    result: { sessionId: number };
  };
  stopTrace: { params: { sessionId: number }; result: TraceStats };
  traceStats: { params: { sessionId: number }; result: TraceStats };
  /**
   * Starts argv stopped before exec (the pid is final: it execs in place on resume), as the user who
   * started the helper through sudo unless asRoot.
   */
  spawn: {
    params: { argv: string[]; cwd?: string; env?: Record<string, string>; asRoot?: boolean };
    result: { pid: number; uid: number };
  };
  resume: { params: { pid: number }; result: Record<string, never> };
  kill: { params: { pid: number; signal?: 'SIGTERM' | 'SIGKILL' | 'SIGINT' }; result: Record<string, never> };
  /**
   * This session's use of the target's resident tracer (extension/helper/residentTracer.ts): reopened when
   * a tracer with `key` is resident, else loaded from the request's blob, attached and pinned so that it
   * outlives the session. Without a blob and with no such tracer resident it fails with "not-found" and
   * data.needObject. The object (objectId) is the session's, with its own ring buffer (tr_events) routed
   * from trace slot `slot`; its processes go into tr_traced with that slot.
   */
  tracerAcquire: {
    params: {
      key: string;
      programs: string[];
      globals?: Record<string, TypedValue>;
      idleMs: number;
      /** The hook programs' links are detached after this long without a trace (0: never; absent: 10 minutes). */
      hooksIdleMs?: number;
      /** Attach now what the keeper detached while nothing was traced, instead of at the next trace (tracer start). */
      attachIdle?: boolean;
      /** With the blob: the tracer's maps-only object (base64), kept on the target to reopen the maps. */
      mapsObject?: string;
      /**
       * With the blob: 'gzip' when the blob is the object gzipped. The ~1.2 MB tracer moves to the built-in
       * VM's guest at ~3.3 MB/s through its helper channel (0.36 s); gzipped (~200 KB) it takes a sixth.
       */
      objectEncoding?: 'gzip';
    };
    result: { objectId: number; slot: number; reused: boolean; attached: string[]; refused: Array<{ program: string; message: string }>; loadMs: number; attachMs: number;
      /** The helper's own phases (check, open, load, attach, pin, state, slot; reopen when reused), in order. */
      phases?: Array<{ phase: string; ms: number }>;
    };
  };
  /** Resident tracers on the target (and those being released). */
  tracerStatus: { params: Record<string, never>; result: { tracers: ResidentTracerInfo[] } };
  /** Takes resident tracers (all, or `key`) out of use now; they are unpinned in the background. */
  tracerRelease: { params: { key?: string }; result: { released: string[] } };
  /** Tears down everything the helper owns, answers, then exits. */
  shutdown: { params: Record<string, never>; result: Record<string, never> };
}

export type HelperMethod = keyof HelperMethods;
export type ParamsOf<M extends HelperMethod> = HelperMethods[M]['params'];
export type ResultOf<M extends HelperMethod> = HelperMethods[M]['result'];

export interface HelperNotifications {
  /** Output of a spawned process (UTF-8, possibly split mid-line). */
  processOutput: { pid: number; stream: 'stdout' | 'stderr'; text: string };
  processExit: { pid: number; code: number | null; signal: string | null };
  /** A trace session ended without stopTrace (its poll failed or its object was unloaded). */
  traceEnded: { sessionId: number; reason: string; stats: TraceStats };
  /** Diagnostics worth showing in the output channel. */
  log: { level: 'info' | 'warning' | 'error'; message: string };
}
export type HelperNotification = keyof HelperNotifications;

// ---------------------------------------------------------------------------------------------------------
// Frames

export interface EventBatch {
  sessionId: number;
  /** Number of records in `records`. */
  count: number;
  /** Increments by one per batch of a session; a gap means batches were dropped (counted in helperDropped). */
  sequence: number;
  /** Records of this session dropped by the helper so far. */
  helperDropped: number;
  /** Framed records (see iterateRecords), as decoded when they travelled compressed. */
  records: Buffer;
  /** Bytes the records took on the wire when they travelled compressed. */
  compressedBytes?: number;
}

export type Frame =
  | { kind: FrameKind.Message; message: unknown; blob?: undefined }
  | { kind: FrameKind.MessageBlob; message: unknown; blob: Buffer }
  | { kind: FrameKind.EventBatch; batch: EventBatch };

export class ProtocolError extends Error {
  constructor(
    readonly code: 'frame-too-large' | 'bad-frame-kind' | 'bad-frame' | 'truncated' | 'parse-error',
    message: string,
  ) {
    super(message);
    this.name = 'ProtocolError';
  }
}

function header(bodyLength: number, kind: FrameKind): Buffer {
  const h = Buffer.alloc(FRAME_HEADER_SIZE);
  h.writeUInt32LE(bodyLength, 0);
  h.writeUInt8(kind, 4);
  return h;
}

/** Encodes a message (and an optional blob) as one frame, as a list of buffers for a single writev. */
export function encodeMessage(message: ClientMessage | HelperMessage | object, blob?: Buffer): Buffer[] {
  const json = Buffer.from(JSON.stringify(message), 'utf8');
  if (json.length > MAX_JSON_BYTES) throw new ProtocolError('frame-too-large', `message of ${json.length} bytes exceeds ${MAX_JSON_BYTES}`);
  if (!blob) return [header(json.length, FrameKind.Message), json];
  if (blob.length > MAX_BLOB_BYTES) throw new ProtocolError('frame-too-large', `blob of ${blob.length} bytes exceeds ${MAX_BLOB_BYTES}`);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(json.length, 0);
  return [header(4 + json.length + blob.length, FrameKind.MessageBlob), len, json, blob];
}

/**
 * Encodes an event batch. `records` is passed through untouched (no per-record work on the hot path), or
 * compressed as a whole when `compress` is set and the batch is large enough to be worth it.
 */
export function encodeEventBatch(batch: EventBatch, compress = false): Buffer[] {
  const h = Buffer.alloc(BATCH_HEADER_SIZE);
  h.writeUInt32LE(batch.sessionId, 0);
  h.writeUInt32LE(batch.count, 4);
  h.writeBigUInt64LE(BigInt(batch.sequence), 8);
  h.writeBigUInt64LE(BigInt(batch.helperDropped), 16);
  let records = batch.records;
  const packed = compress ? compressRecords(records) : undefined;
  if (packed) {
    h.writeUInt8(BatchCodec.Brotli, 24);
    h.writeUInt32LE(records.length, 28);
    records = packed;
  }
  const body = BATCH_HEADER_SIZE + records.length;
  if (body > MAX_FRAME_BYTES) throw new ProtocolError('frame-too-large', `event batch of ${body} bytes exceeds ${MAX_FRAME_BYTES}`);
  return [header(body, FrameKind.EventBatch), h, records];
}

/**
 * Incremental frame reader: feed chunks as they arrive, get whole frames. After a framing error every
 * later push throws the same error (a byte stream cannot be resynchronised).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private failure: ProtocolError | undefined;

  /**
   * `inflateBatches` false: batch frames come back with their body unread (the helper refuses any batch, so
   * a client's compressed one is never inflated there).
   */
  constructor(
    private readonly maxFrameBytes = MAX_FRAME_BYTES,
    private readonly inflateBatches = true,
  ) {}

  get pendingBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    if (chunk.length) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    while (this.buffered >= FRAME_HEADER_SIZE) {
      const head = this.peek(FRAME_HEADER_SIZE);
      const length = head.readUInt32LE(0);
      const kind = head.readUInt8(4);
      if (kind !== FrameKind.Message && kind !== FrameKind.MessageBlob && kind !== FrameKind.EventBatch) {
        this.fail(new ProtocolError('bad-frame-kind', `unknown frame kind ${kind}`));
      }
      if (head.readUInt8(5) !== 0 || head.readUInt16LE(6) !== 0) this.fail(new ProtocolError('bad-frame', 'reserved frame header bytes are not zero'));
      if (length > this.maxFrameBytes) {
        this.fail(new ProtocolError('frame-too-large', `frame of ${length} bytes exceeds the limit of ${this.maxFrameBytes}`));
      }
      // Decided from the header, so a peer cannot make us buffer ~68 MiB for a message that is refused anyway.
      if (kind === FrameKind.Message && length > MAX_JSON_BYTES) {
        this.fail(new ProtocolError('frame-too-large', `message of ${length} bytes exceeds ${MAX_JSON_BYTES}`));
      }
      if (this.buffered < FRAME_HEADER_SIZE + length) break;
      this.take(FRAME_HEADER_SIZE);
      const body = this.take(length);
      frames.push(this.decodeBody(kind as FrameKind, body));
    }
    return frames;
  }

  /** Call at end of stream: a partial frame left over is an error. */
  end(): void {
    if (this.failure) throw this.failure;
    if (this.buffered > 0) this.fail(new ProtocolError('truncated', `stream ended inside a frame (${this.buffered} bytes left over)`));
  }

  private decodeBody(kind: FrameKind, body: Buffer): Frame {
    if (kind === FrameKind.EventBatch) {
      if (body.length < BATCH_HEADER_SIZE) this.fail(new ProtocolError('bad-frame', `event batch of ${body.length} bytes is shorter than its header`));
      const records = this.inflateBatches ? this.batchRecords(body) : { records: body.subarray(BATCH_HEADER_SIZE) };
      return {
        kind,
        batch: {
          sessionId: body.readUInt32LE(0),
          count: body.readUInt32LE(4),
          sequence: Number(body.readBigUInt64LE(8)),
          helperDropped: Number(body.readBigUInt64LE(16)),
          ...records,
        },
      };
    }
    let json = body;
    let blob: Buffer | undefined;
    if (kind === FrameKind.MessageBlob) {
      if (body.length < 4) this.fail(new ProtocolError('bad-frame', 'blob frame is shorter than its JSON length field'));
      const jsonLength = body.readUInt32LE(0);
      if (jsonLength > body.length - 4 || jsonLength > MAX_JSON_BYTES) {
        this.fail(new ProtocolError('bad-frame', `blob frame declares ${jsonLength} bytes of JSON in a ${body.length}-byte body`));
      }
      json = body.subarray(4, 4 + jsonLength);
      blob = body.subarray(4 + jsonLength);
    } else if (body.length > MAX_JSON_BYTES) {
      this.fail(new ProtocolError('frame-too-large', `message of ${body.length} bytes exceeds ${MAX_JSON_BYTES}`));
    }
    let message: unknown;
    try {
      message = JSON.parse(json.toString('utf8'));
    } catch (err) {
      // Framing is intact, so the stream survives: the caller answers with a parse-error.
      message = new ProtocolError('parse-error', `frame is not valid JSON: ${(err as Error).message}`);
    }
    return blob ? { kind: FrameKind.MessageBlob, message, blob } : { kind: FrameKind.Message, message };
  }

  /** The records of a batch frame's body, inflated when they travelled compressed. */
  private batchRecords(body: Buffer): { records: Buffer; compressedBytes?: number } {
    try {
      return unpackRecords(body.readUInt32LE(24), body.readUInt32LE(28), body.subarray(BATCH_HEADER_SIZE), MAX_FRAME_BYTES);
    } catch (err) {
      this.fail(new ProtocolError('bad-frame', (err as Error).message));
    }
  }

  private fail(err: ProtocolError): never {
    this.failure = err;
    this.chunks = [];
    this.buffered = 0;
    throw err;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length >= n) return this.chunks[0].subarray(0, n);
    this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    const first = this.chunks[0];
    const out = first.subarray(0, n);
    if (first.length === n) this.chunks.shift();
    else this.chunks[0] = first.subarray(n);
    this.buffered -= n;
    return out;
  }
}

/** Walks the framed records of a batch; stops with an error on a malformed record instead of over-reading. */
export function* iterateRecords(records: Buffer): Generator<{ ring: number; data: Buffer }> {
  let at = 0;
  while (at < records.length) {
    if (records.length - at < RECORD_HEADER_SIZE) throw new ProtocolError('bad-frame', `record header truncated at offset ${at}`);
    const length = records.readUInt32LE(at);
    const ring = records.readUInt16LE(at + 4);
    const start = at + RECORD_HEADER_SIZE;
    if (length > records.length - start) throw new ProtocolError('bad-frame', `record at offset ${at} declares ${length} bytes, only ${records.length - start} remain`);
    yield { ring, data: records.subarray(start, start + length) };
    at = start + ((length + 7) & ~7);
  }
}

/** Frames records the way the addon does (used by tests and by anything producing batches in JS). */
export function frameRecords(records: ReadonlyArray<{ ring?: number; data: Buffer }>): Buffer {
  const size = records.reduce((n, r) => n + RECORD_HEADER_SIZE + ((r.data.length + 7) & ~7), 0);
  const out = Buffer.alloc(size);
  let at = 0;
  for (const r of records) {
    out.writeUInt32LE(r.data.length, at);
    out.writeUInt16LE(r.ring ?? 0, at + 4);
    r.data.copy(out, at + RECORD_HEADER_SIZE);
    at += RECORD_HEADER_SIZE + ((r.data.length + 7) & ~7);
  }
  return out;
}
