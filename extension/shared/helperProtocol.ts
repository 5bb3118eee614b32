// The client <-> privileged helper protocol's messages: requests, responses, notifications and the models
// they carry, travelling as frames of one byte stream (the helper's stdin/stdout; helperFrames.ts encodes and
// reads them). Both sides import this module; the helper is the only one that validates (it runs as root and
// must survive any input), the client trusts the helper it started.

export const PROTOCOL_VERSION = 1;
/** The bpffs folder of the links the policies pin (unpinLinks removes links there and nowhere else). */
export const POLICY_PIN_DIR = '/sys/fs/bpf/bpf-lsm-studio';

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
