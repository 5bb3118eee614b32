// Conversion between JSON values and the bytes of BPF map keys/values and globals, driven by the BTF type
// the addon reports for them. Users (and the tracer) write `{ "pid": 42, "comm": "ls" }`, never offsets.
// Conventions: 64-bit integers decode to numbers when exact, else to decimal strings (and accept either);
// char arrays are strings; enums accept their enumerator names; `{ "hex": "..." }` gives raw bytes anywhere.
import type { BtfTypeDesc, JsonValue } from './helperProtocol';

export class ValueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ValueError';
  }
}

function isCharArray(t: BtfTypeDesc): boolean {
  return t.kind === 'array' && t.elem.kind === 'int' && t.elem.size === 1 && (t.elem.char || /char/.test(t.elem.name));
}

function hexBytes(v: unknown, size: number, path: string): Buffer | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || !('hex' in v)) return undefined;
  const hex = (v as { hex: unknown }).hex;
  if (typeof hex !== 'string' || !/^(?:[0-9a-fA-F]{2})*$/.test(hex)) throw new ValueError(`${path}: "hex" must be an even-length hexadecimal string`);
  const bytes = Buffer.from(hex, 'hex');
  if (bytes.length !== size) throw new ValueError(`${path}: "hex" gives ${bytes.length} bytes, the type is ${size} bytes`);
  return bytes;
}

function toBigInt(v: JsonValue, signed: boolean, size: number, path: string): bigint {
  let n: bigint;
  if (typeof v === 'number') {
    if (!Number.isInteger(v)) throw new ValueError(`${path}: ${v} is not an integer`);
    n = BigInt(v);
  } else if (typeof v === 'string' && /^-?(?:0x[0-9a-fA-F]+|\d+)$/.test(v)) {
    n = v.startsWith('-') ? -BigInt(v.slice(1)) : BigInt(v);
  } else if (typeof v === 'boolean') {
    n = v ? 1n : 0n;
  } else {
    throw new ValueError(`${path}: expected an integer, got ${JSON.stringify(v)?.slice(0, 40)}`);
  }
  const bits = BigInt(size * 8);
  const min = signed ? -(1n << (bits - 1n)) : 0n;
  const max = signed ? (1n << (bits - 1n)) - 1n : (1n << bits) - 1n;
  if (n < min || n > max) throw new ValueError(`${path}: ${n} does not fit in ${signed ? 'a signed' : 'an unsigned'} ${size * 8}-bit integer`);
  return n;
}

function writeInt(out: Buffer, at: number, n: bigint, size: number): void {
  const mask = (1n << BigInt(size * 8)) - 1n;
  let u = n & mask;
  for (let i = 0; i < size; i++) {
    out[at + i] = Number(u & 0xffn);
    u >>= 8n;
  }
}

function readInt(buf: Buffer, at: number, size: number, signed: boolean): bigint {
  let u = 0n;
  for (let i = size - 1; i >= 0; i--) u = (u << 8n) | BigInt(buf[at + i]);
  if (signed && size > 0 && u >> BigInt(size * 8 - 1)) u -= 1n << BigInt(size * 8);
  return u;
}

function intJson(n: bigint): JsonValue {
  return n >= BigInt(Number.MIN_SAFE_INTEGER) && n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : n.toString();
}

/** Encodes `value` as the bytes of type `t` (exactly t.size bytes). */
export function encodeValue(t: BtfTypeDesc | null, value: JsonValue, path = 'value', size?: number): Buffer {
  const total = t ? t.size : size ?? 0;
  const out = Buffer.alloc(total);
  if (!t) {
    const raw = hexBytes(value, total, path);
    if (raw) return raw;
    if (total > 0 && total <= 8) {
      writeInt(out, 0, toBigInt(value, false, total, path), total);
      return out;
    }
    throw new ValueError(`${path}: this map has no BTF type for it; give { "hex": "..." } of ${total} bytes`);
  }
  write(out, 0, t, value, path);
  return out;
}

function write(out: Buffer, at: number, t: BtfTypeDesc, v: JsonValue, path: string): void {
  const raw = hexBytes(v, t.size, path);
  if (raw) {
    raw.copy(out, at);
    return;
  }
  switch (t.kind) {
    case 'int':
      writeInt(out, at, toBigInt(v, t.signed, t.size, path), t.size);
      return;
    case 'enum': {
      if (typeof v === 'string' && Object.prototype.hasOwnProperty.call(t.values, v)) {
        writeInt(out, at, BigInt(t.values[v]), t.size);
        return;
      }
      writeInt(out, at, toBigInt(v, t.signed, t.size, path), t.size);
      return;
    }
    case 'ptr':
      writeInt(out, at, toBigInt(v, false, t.size, path), t.size);
      return;
    case 'float':
      if (typeof v !== 'number') throw new ValueError(`${path}: expected a number`);
      if (t.size === 4) out.writeFloatLE(v, at);
      else if (t.size === 8) out.writeDoubleLE(v, at);
      else throw new ValueError(`${path}: ${t.size}-byte floats are not supported; use { "hex": "..." }`);
      return;
    case 'array': {
      if (isCharArray(t) && typeof v === 'string') {
        const bytes = Buffer.from(v, 'utf8');
        if (bytes.length > t.length) throw new ValueError(`${path}: "${v.slice(0, 40)}" is ${bytes.length} bytes; the array holds ${t.length}`);
        bytes.copy(out, at);
        return;
      }
      if (!Array.isArray(v)) throw new ValueError(`${path}: expected an array of up to ${t.length} items`);
      if (v.length > t.length) throw new ValueError(`${path}: ${v.length} items given; the array holds ${t.length}`);
      const stride = t.length ? t.size / t.length : 0;
      v.forEach((item, i) => write(out, at + i * stride, t.elem, item, `${path}[${i}]`));
      return;
    }
    case 'struct':
    case 'union': {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ValueError(`${path}: expected an object with fields of ${t.kind} ${t.name || '(anonymous)'}`);
      const keys = Object.keys(v);
      if (t.kind === 'union' && keys.length > 1) throw new ValueError(`${path}: a union takes one member, got ${keys.join(', ')}`);
      for (const k of keys) {
        const m = t.members.find((x) => x.name === k);
        if (!m) throw new ValueError(`${path}: ${t.kind} ${t.name || '(anonymous)'} has no member "${k}" (members: ${t.members.map((x) => x.name).join(', ')})`);
        if (m.bitSize) {
          writeBits(out, at, m.bitOffset, m.bitSize, toBigInt(v[k], false, 8, `${path}.${k}`));
        } else {
          write(out, at + m.offset, m.type, v[k], `${path}.${k}`);
        }
      }
      return;
    }
    default:
      throw new ValueError(`${path}: values of this type (${t.kind}) can only be given as { "hex": "..." }`);
  }
}

function writeBits(out: Buffer, at: number, bitOffset: number, bitSize: number, n: bigint): void {
  if (n >> BigInt(bitSize)) throw new ValueError(`value ${n} does not fit in a ${bitSize}-bit field`);
  for (let i = 0; i < bitSize; i++) {
    const bit = bitOffset + i;
    const byte = at + (bit >> 3);
    if ((n >> BigInt(i)) & 1n) out[byte] |= 1 << (bit & 7);
    else out[byte] &= ~(1 << (bit & 7));
  }
}

function readBits(buf: Buffer, at: number, bitOffset: number, bitSize: number): bigint {
  let n = 0n;
  for (let i = bitSize - 1; i >= 0; i--) {
    const bit = bitOffset + i;
    n = (n << 1n) | BigInt((buf[at + (bit >> 3)] >> (bit & 7)) & 1);
  }
  return n;
}

/** Decodes the bytes of type `t` into JSON (raw bytes without a type become { hex }). */
export function decodeValue(t: BtfTypeDesc | null, bytes: Buffer, at = 0): JsonValue {
  if (!t) return { hex: bytes.toString('hex') };
  if (at + t.size > bytes.length) throw new ValueError(`need ${t.size} bytes at offset ${at}, have ${bytes.length - at}`);
  switch (t.kind) {
    case 'int': {
      if (t.bool) return bytes[at] !== 0;
      return intJson(readInt(bytes, at, t.size, t.signed));
    }
    case 'enum': {
      const n = Number(readInt(bytes, at, t.size, t.signed));
      const name = Object.keys(t.values).find((k) => t.values[k] === n);
      return name ?? n;
    }
    case 'ptr':
      return '0x' + readInt(bytes, at, t.size, false).toString(16);
    case 'float':
      return t.size === 4 ? bytes.readFloatLE(at) : t.size === 8 ? bytes.readDoubleLE(at) : { hex: bytes.subarray(at, at + t.size).toString('hex') };
    case 'array': {
      if (isCharArray(t)) {
        const slice = bytes.subarray(at, at + t.length);
        const nul = slice.indexOf(0);
        return slice.subarray(0, nul < 0 ? slice.length : nul).toString('utf8');
      }
      const stride = t.length ? t.size / t.length : 0;
      return Array.from({ length: t.length }, (_, i) => decodeValue(t.elem, bytes, at + i * stride));
    }
    case 'struct':
    case 'union': {
      const out: { [k: string]: JsonValue } = {};
      for (const m of t.members) {
        const key = m.name || `@${m.offset}`;
        out[key] = m.bitSize ? intJson(readBits(bytes, at, m.bitOffset, m.bitSize)) : decodeValue(m.type, bytes, at + m.offset);
      }
      return out;
    }
    default:
      return { hex: bytes.subarray(at, at + t.size).toString('hex') };
  }
}
