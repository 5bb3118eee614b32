// Schema combinators for messages that cross a trust boundary (client -> root helper in helperSchema.ts,
// webview -> extension host in panelProtocol.ts): exact types, no unknown fields, bounded strings, arrays,
// numbers and JSON depth. Each check returns the first problem as text, naming the field, or undefined.

export type Check = (value: unknown, path: string) => string | undefined;

export const MAX_NAME = 256;
export const MAX_PATH = 4096;

export const str = (opts: { max?: number; min?: number; pattern?: RegExp; what?: string } = {}): Check => (v, path) => {
  if (typeof v !== 'string') return `${path} must be a string`;
  if (v.length < (opts.min ?? 0)) return `${path} must not be empty`;
  if (v.length > (opts.max ?? MAX_NAME)) return `${path} is longer than ${opts.max ?? MAX_NAME} characters`;
  if (v.includes('\0')) return `${path} contains a NUL character`;
  if (opts.pattern && !opts.pattern.test(v)) return `${path} is not ${opts.what ?? `matching ${opts.pattern}`}`;
  return undefined;
};

export const int = (min: number, max: number): Check => (v, path) => {
  if (typeof v !== 'number' || !Number.isInteger(v)) return `${path} must be an integer`;
  if (v < min || v > max) return `${path} must be from ${min} to ${max}`;
  return undefined;
};

export const bool: Check = (v, path) => (typeof v === 'boolean' ? undefined : `${path} must be true or false`);

export const oneOf = (...allowed: ReadonlyArray<string | number>): Check => (v, path) =>
  allowed.includes(v as string | number) ? undefined : `${path} must be one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`;

export const list = (item: Check, max: number, min = 0): Check => (v, path) => {
  if (!Array.isArray(v)) return `${path} must be an array`;
  if (v.length > max) return `${path} has ${v.length} items; at most ${max} are allowed`;
  if (v.length < min) return `${path} needs at least ${min} item(s)`;
  for (let i = 0; i < v.length; i++) {
    const e = item(v[i], `${path}[${i}]`);
    if (e) return e;
  }
  return undefined;
};

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.getPrototypeOf(v) === Object.prototype;
}

export const record = (value: Check, maxKeys: number, key: Check = str()): Check => (v, path) => {
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
export const json = (maxDepth = 8, maxItems = 4096): Check => {
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

export type Shape = Record<string, { check: Check; optional?: boolean }>;
export const req = (check: Check) => ({ check });
export const opt = (check: Check) => ({ check, optional: true });

export const object = (shape: Shape): Check => (v, path) => {
  if (!isPlainObject(v)) return `${path} must be an object`;
  // hasOwnProperty, not `in`: "__proto__", "constructor" or "toString" are on every object's prototype.
  for (const k of Object.keys(v)) if (!Object.prototype.hasOwnProperty.call(shape, k)) return `${path} has an unknown field "${k}"`;
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
