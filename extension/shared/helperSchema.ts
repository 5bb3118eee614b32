// Validation of client -> helper messages. The helper runs as root and reads whatever arrives on its
// stdin, so every request is checked here against a schema per method before any handler sees it:
// exact types, no unknown fields, bounded strings, arrays, numbers and JSON depth. The schemas mirror
// HelperMethods in helperProtocol.ts; `satisfies` below keeps the method lists in step.
import type { ClientMessage, HelperMethod, HelperMethods, RequestMessage } from './helperProtocol';

export type Validation<T> = { ok: true; value: T } | { ok: false; code: 'invalid-request' | 'unknown-method' | 'invalid-params'; message: string };

type Check = (value: unknown, path: string) => string | undefined;

const MAX_NAME = 256;
const MAX_PATH = 4096;

const str = (opts: { max?: number; min?: number; pattern?: RegExp; what?: string } = {}): Check => (v, path) => {
  if (typeof v !== 'string') return `${path} must be a string`;
  if (v.length < (opts.min ?? 0)) return `${path} must not be empty`;
  if (v.length > (opts.max ?? MAX_NAME)) return `${path} is longer than ${opts.max ?? MAX_NAME} characters`;
  if (v.includes('\0')) return `${path} contains a NUL character`;
  if (opts.pattern && !opts.pattern.test(v)) return `${path} is not ${opts.what ?? `matching ${opts.pattern}`}`;
  return undefined;
};

const int = (min: number, max: number): Check => (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `${path} must be an integer`;
  if (v < min || v > max) return `${path} must be from ${min} to ${max}`;
  return undefined;
};

const bool: Check = (v, path) => (typeof v === 'boolean' ? undefined : `${path} must be true or false`);

const oneOf = (...allowed: ReadonlyArray<string | number>): Check => (v, path) =>
  allowed.includes(v as string | number) ? undefined : `${path} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`;

const list = (item: Check, max: number, min = 0): Check => (v, path) => {
  if (!Array.isArray(v)) return `${path} must be an array`;
  if (v.length > max) return `${path} has ${v.length} items; at most ${max} are allowed`;
  if (v.length < min) return `${path} needs at least ${min} item(s)`;
  for (let i = 0; i < v.length; i++) {
    const e = item(v[i], `${path}[${i}]`);
    if (e) return e;
  }
  return undefined;
};

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

const record = (value: Check, maxKeys: number, key: Check = str()): Check => (v, path) => {
  if (!isPlainObject(v)) return `${path} must be an object`;
  const keys = Object.keys(v);
  if (keys.length > maxKeys) return `${path} has ${keys.length} keys; at most ${maxKeys} are allowed`;
  for (const k of keys) {
    const e = key(k, `${path} key`) ?? value(v[k], `${path}.${k}`);
    if (e) return e;
  }
  return undefined;
};

/** A JSON value of bounded depth and size, as map keys/values and globals are given. */
const json = (maxDepth = 8, maxItems = 4096): Check => {
  const walk = (v: unknown, path: string, depth: number, budget: { n: number }): string | undefined => {
    if (--budget.n < 0) return `${path} is too large (more than ${maxItems} items)`;
    if (v === null || typeof v === 'boolean' || typeof v === 'string') {
      return typeof v === 'string' && v.length > 65536 ? `${path} is a string longer than 65536` : undefined;
    }
    if (typeof v === 'number') return Number.isFinite(v) ? undefined : `${path} must be a finite number`;
    if (depth >= maxDepth) return `${path} is nested deeper than ${maxDepth}`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) {
        const e = walk(v[i], `${path}[${i}]`, depth + 1, budget);
        if (e) return e;
      }
      return undefined;
    }
    if (isPlainObject(v)) {
      for (const k of Object.keys(v)) {
        const e = walk(v[k], `${path}.${k}`, depth + 1, budget);
        if (e) return e;
      }
      return undefined;
    }
    return `${path} must be JSON`;
  };
  return (v, path) => walk(v, path, 0, { n: maxItems });
};

type Shape = Record<string, { check: Check; optional?: boolean }>;
const req = (check: Check) => ({ check });
const opt = (check: Check) => ({ check, optional: true });

const object = (shape: Shape): Check => (v, path) => {
  if (!isPlainObject(v)) return `${path} must be an object`;
  for (const k of Object.keys(v)) if (!(k in shape)) return `${path} has an unknown field "${k}"`;
  for (const [k, spec] of Object.entries(shape)) {
    if (v[k] === undefined) {
      if (!spec.optional) return `${path}.${k} is required`;
      continue;
    }
    const e = spec.check(v[k], `${path}.${k}`);
    if (e) return e;
  }
  return undefined;
};

const identifier = str({ min: 1, max: 128, pattern: /^[A-Za-z_.][A-Za-z0-9_.]*$/, what: 'a C identifier or section name' });
const id = int(1, 0x7fffffff);
const absolutePath = str({ min: 1, max: MAX_PATH, pattern: /^\/(?!.*(?:^|\/)\.\.(?:\/|$))/, what: 'an absolute path without ".."' });
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
    mapsObject: opt(str({ min: 4, max: 1 << 20, pattern: /^[A-Za-z0-9+/]+={0,2}$/, what: 'base64' })),
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
