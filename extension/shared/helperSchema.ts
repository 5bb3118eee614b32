// Validation of client -> helper messages. The helper runs as root and reads whatever arrives on its
// stdin, so every request is checked here against a schema per method before any handler sees it:
// exact types, no unknown fields, bounded strings, arrays, numbers and JSON depth. The schemas mirror
// HelperMethods in helperProtocol.ts; `satisfies` below keeps the method lists in step.
import type { ClientMessage, HelperMethod, HelperMethods, RequestMessage } from './helperProtocol';
import { type Check, MAX_PATH, str, int, bool, oneOf, list, record, json, req, opt, object, isPlainObject } from './schema';

export type Validation<T> = { ok: true; value: T } | { ok: false; code: 'invalid-request' | 'unknown-method' | 'invalid-params'; message: string };

const identifier = str({ min: 1, max: 128, pattern: /^[A-Za-z_.][A-Za-z0-9_.]*$/, what: 'a C identifier or section name' });
const id = int(1, 0x7fffffff);

/**
 * An absolute path with no ".." component (also right after the root: "/../x") and no control characters
 * (a newline in a pin path would forge lines in bpftool output and logs).
 */
const absolutePath: Check = (v, path) => {
  const e = str({ min: 1, max: MAX_PATH })(v, path);
  if (e) return e;
  const p = v as string;
  if (!p.startsWith('/')) return `${path} is not an absolute path`;
  if (/[\x00-\x1f\x7f]/.test(p)) return `${path} contains a control character`;
  if (p.split('/').includes('..')) return `${path} has a ".." component`;
  return undefined;
};
const programList = list(identifier, 4096);

export const METHOD_PARAMS = {
  hello: object({ protocolVersions: req(list(int(1, 1000), 16, 1)), client: req(str({ max: 200 })) }),
  capabilities: object({}),
  readBtf: object({ path: opt(absolutePath) }),
  loadObject: object({
    name: req(str({ min: 1, max: 64, pattern: /^[A-Za-z0-9_.-]+$/, what: 'a file name (letters, digits, "_", ".", "-")' })),
    globals: opt(record(json(), 1024, identifier)),
    programs: opt(programList),
    logLevel: opt(oneOf(0, 1, 2)),
    logSize: opt(int(4096, 256 << 20)),
  }),
  attach: object({ objectId: req(id), programs: opt(programList) }),
  detach: object({ objectId: req(id), programs: opt(programList) }),
  pinLink: object({ objectId: req(id), program: req(identifier), path: req(absolutePath) }),
  unpinLinks: object({ paths: req(list(absolutePath, 64, 1)) }),
  unloadObject: object({ objectId: req(id) }),
  list: object({}),
  mapLookup: object({ objectId: req(id), map: req(identifier), key: req(json()) }),
  mapUpdate: object({ objectId: req(id), map: req(identifier), key: req(json()), value: req(json()), flags: opt(oneOf('any', 'noexist', 'exist')) }),
  mapDelete: object({ objectId: req(id), map: req(identifier), key: req(json()) }),
  mapEntries: object({ objectId: req(id), map: req(identifier), limit: opt(int(1, 100000)), after: opt(json()) }),
  getGlobal: object({ objectId: req(id), name: req(identifier) }),
  setGlobal: object({ objectId: req(id), name: req(identifier), value: req(json()) }),
  startTrace: object({
    objectId: req(id),
    ringBuffers: req(list(identifier, 64, 1)),
    counters: opt(list(identifier, 64)),
    maxBatchBytes: opt(int(4096, 16 << 20)),
    compress: opt(bool),
  }),
  stopTrace: object({ sessionId: req(id) }),
  traceStats: object({ sessionId: req(id) }),
  spawn: object({
    argv: req(list(str({ max: MAX_PATH }), 4096, 1)),
    cwd: opt(absolutePath),
    env: opt(record(str({ max: 65536 }), 1024, str({ min: 1, max: 256, pattern: /^[^=]+$/, what: 'an environment variable name' }))),
    asRoot: opt(bool),
  }),
  resume: object({ pid: req(int(2, 0x3fffffff)) }),
  kill: object({ pid: req(int(2, 0x3fffffff)), signal: opt(oneOf('SIGTERM', 'SIGKILL', 'SIGINT')) }),
  tracerAcquire: object({
    key: req(str({ min: 8, max: 80, pattern: /^[0-9a-z-]+$/, what: 'a tracer key (digits, lower-case letters, "-")' })),
    programs: req(programList),
    globals: opt(record(json(), 1024, identifier)),
    idleMs: req(int(0, 7 * 24 * 3600 * 1000)),
    hooksIdleMs: opt(int(0, 7 * 24 * 3600 * 1000)),
    attachIdle: opt(bool),
    mapsObject: opt(str({ min: 4, max: 1 << 20, pattern: /^[A-Za-z0-9+/]+={0,2}$/, what: 'base64' })),
    objectEncoding: opt(oneOf('gzip')),
  }),
  tracerStatus: object({}),
  tracerRelease: object({ key: opt(str({ min: 8, max: 80, pattern: /^[0-9a-z-]+$/, what: 'a tracer key' })) }),
  shutdown: object({}),
} satisfies Record<HelperMethod, Check>;

/** Methods that take a blob with the request, and whether it is required. */
export const BLOB_METHODS: Partial<Record<HelperMethod, { required: boolean; max: number }>> = {
  loadObject: { required: true, max: 64 << 20 },
  tracerAcquire: { required: false, max: 64 << 20 },
};

/** Validates one decoded client message (anything JSON.parse produced). */
export function validateClientMessage(raw: unknown, blob?: Buffer): Validation<ClientMessage> {
  if (!isPlainObject(raw)) return { ok: false, code: 'invalid-request', message: 'a message must be a JSON object' };
  if (raw.type === 'cancel') {
    const e = object({ type: req(oneOf('cancel')), id: req(id) })(raw, 'cancel');
    return e ? { ok: false, code: 'invalid-request', message: e } : { ok: true, value: raw as unknown as ClientMessage };
  }
  if (raw.type !== 'request') return { ok: false, code: 'invalid-request', message: `unknown message type ${JSON.stringify(raw.type)}; expected "request" or "cancel"` };
  const envelope = object({ type: req(oneOf('request')), id: req(id), method: req(str({ max: 64 })), params: opt((v, path) => (isPlainObject(v) ? undefined : `${path} must be an object`)) })(raw, 'request');
  if (envelope) return { ok: false, code: 'invalid-request', message: envelope };
  const method = raw.method as string;
  if (!Object.prototype.hasOwnProperty.call(METHOD_PARAMS, method)) {
    return { ok: false, code: 'unknown-method', message: `unknown method "${method.slice(0, 64)}"` };
  }
  const params = raw.params ?? {};
  const e = METHOD_PARAMS[method as HelperMethod](params, 'params');
  if (e) return { ok: false, code: 'invalid-params', message: `${method}: ${e}` };
  const blobRule = BLOB_METHODS[method as HelperMethod];
  if (blob && !blobRule) return { ok: false, code: 'invalid-params', message: `${method} does not take binary data` };
  if (blobRule?.required && !blob) return { ok: false, code: 'invalid-params', message: `${method} needs the object file as binary data` };
  if (blob && blobRule && blob.length > blobRule.max) return { ok: false, code: 'invalid-params', message: `${method}: binary data of ${blob.length} bytes exceeds ${blobRule.max}` };
  return { ok: true, value: { type: 'request', id: raw.id as number, method: method as HelperMethod, params } as RequestMessage };
}

export type { HelperMethods };
