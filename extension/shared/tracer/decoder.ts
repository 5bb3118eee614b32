// Decodes tracer records (bpf/tracer/tracer.h + the generated per-hook structs) into TraceEvents.
// Runs anywhere (Node, webview): no Node APIs, only DataView/TextDecoder.
//
// Every layout comes from the generator's DecoderTables; the decoder compiles them once into closures
// per hook and per value type, so a record costs one header read and one small function per argument.
// Kernel bytes are untrusted: every offset is checked against the record, strings are bounded by the
// record (itself at most TR_REC_MAX), decoded leniently (invalid UTF-8 becomes U+FFFD) and control
// characters are shown escaped, so nothing from the kernel can inject terminal or markup control.
import {
  ADDRESS_FAMILIES, ATTR_FLAGS, CAPABILITIES, CAP_OPT_FLAGS, CLONE_FLAGS, FMODE_FLAGS, formatCapSet, formatDev, formatFlags,
  formatIpv4, formatIpv6, formatMmapFlags, formatMode, formatOpenFlags, formatSignal, formatSockType, FormatName, MAY_FLAGS,
  MOUNT_FLAGS, PROT_FLAGS, PTRACE_MODE_FLAGS,
} from './formats';
import { HDR, PathSource, RecordKind, Store, TR_F_TRUNCATED, TR_STR_CUT, TR_STR_LEN_MASK } from './layout';
import { syscallName } from './syscalls';
import type { ArgTable, DecoderTables, HookTable, ValueTable } from './tables';
import type { HookEvent, ProcessEvent, SyscallEnterEvent, SyscallExitEvent, TraceEvent, TraceValue } from '../traceEvent';

/** Bytes of the native RingConsumer's per-record frame header (u32 length, u16 ring, u16 zero). */
export const FRAME_HEADER = 8;

/** A record being decoded: the bytes, a view on them, and where the record starts and ends. */
interface Rec {
  b: Uint8Array;
  dv: DataView;
  start: number;
  end: number;
}

type Decode = (r: Rec, at: number) => TraceValue;

export interface DecodeStats {
  records: number;
  /** Records shorter than their layout, with an unknown kind or hook id: skipped, counted. */
  malformed: number;
  /** Records the kernel marked TR_F_TRUNCATED (some strings left out or cut). */
  truncated: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const CUT_MARK = '…';

function escapeControls(s: string): string {
  // C0, DEL and C1 controls: shown, never interpreted.
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Bytes [start, end) as display text; stops at the first NUL. */
export function decodeText(b: Uint8Array, start: number, end: number): string {
  let ascii = true;
  let stop = end;
  for (let i = start; i < end; i++) {
    const c = b[i];
    if (c === 0) {
      stop = i;
      break;
    }
    if (c < 0x20 || c > 0x7e) ascii = false;
  }
  if (stop === start) return '';
  if (!ascii) return escapeControls(utf8.decode(b.subarray(start, stop)));
  return interned(b, start, stop);
}

// Kernel strings repeat (comm, path components, library paths, fs types): a small direct-mapped cache
// keyed by the bytes turns most decodes into a hash and a compare, with no allocation, which is most of
// the decoder's cost otherwise (V8's GC, not the parsing, dominated an uncached profile).
const INTERN_SLOTS = 4096;
const INTERN_MAX = 128;
const internBytes: Array<Uint8Array | undefined> = new Array(INTERN_SLOTS);
const internText: string[] = new Array(INTERN_SLOTS);

function interned(b: Uint8Array, start: number, stop: number): string {
  const len = stop - start;
  if (len > INTERN_MAX) return String.fromCharCode.apply(null, b.subarray(start, stop) as unknown as number[]);
  let h = len * 0x9e3779b1;
  for (let i = start; i < stop; i++) h = Math.imul(h ^ b[i], 0x01000193);
  const slot = (h >>> 0) & (INTERN_SLOTS - 1);
  const cached = internBytes[slot];
  if (cached !== undefined && cached.length === len) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cached[i] !== b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return internText[slot];
  }
  let text = '';
  for (let i = start; i < stop; i++) text += String.fromCharCode(b[i]);
  internBytes[slot] = b.slice(start, stop);
  internText[slot] = text;
  return text;
}

/** Caches a formatter of small integers (modes, masks, flags repeat across records). */
function memo(fn: (v: number) => string): (v: number) => string {
  const cache = new Map<number, string>();
  return (v) => {
    let s = cache.get(v);
    if (s === undefined) {
      s = fn(v);
      if (cache.size > 4096) cache.clear();
      cache.set(v, s);
    }
    return s;
  };
}

function u64(dv: DataView, at: number): number | string {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  if (hi < 0x200000) return hi * 0x100000000 + lo;
  return (BigInt(hi) * 0x100000000n + BigInt(lo)).toString();
}

function s64(dv: DataView, at: number): number | string {
  const hi = dv.getInt32(at + 4, true);
  const lo = dv.getUint32(at, true);
  if (hi >= -0x200000 && hi < 0x200000) return hi * 0x100000000 + lo;
  return dv.getBigInt64(at, true).toString();
}

function hex64(dv: DataView, at: number): string {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  return hi ? `0x${hi.toString(16)}${lo.toString(16).padStart(8, '0')}` : `0x${lo.toString(16)}`;
}

/** Reads the integer of a store as a JS number (u64 values above 2^53 lose their low bits). */
function readNumber(store: Store, dv: DataView, at: number): number {
  switch (store) {
    case 'u8': return dv.getUint8(at);
    case 'u16': return dv.getUint16(at, true);
    case 'u32': return dv.getUint32(at, true);
    case 's32': return dv.getInt32(at, true);
    case 'u64': return dv.getUint32(at + 4, true) * 0x100000000 + dv.getUint32(at, true);
    case 's64': return dv.getInt32(at + 4, true) * 0x100000000 + dv.getUint32(at, true);
    default: return 0;
  }
}

// Where the last tailString() found its bytes (module state instead of a result object: this runs for
// every string of every record and allocation is what the decoder's time goes to).
let tailEnd = 0;
let tailCut = false;

/** A tail string slot at `at`: its start, or -1 when empty or outside the record; sets tailEnd/tailCut. */
function tailString(r: Rec, at: number): number {
  const off = r.dv.getUint16(at, true);
  const raw = r.dv.getUint16(at + 2, true);
  const len = raw & TR_STR_LEN_MASK;
  if (off === 0 && len === 0) return -1;
  const start = r.start + off;
  if (start >= r.end || start < r.start) return -1;
  tailEnd = Math.min(start + len, r.end);
  tailCut = (raw & TR_STR_CUT) !== 0;
  return start;
}

function decodeTailString(r: Rec, at: number): TraceValue {
  const start = tailString(r, at);
  if (start < 0) return null;
  const cut = tailCut;
  const text = decodeText(r.b, start, tailEnd);
  return cut ? text + CUT_MARK : text;
}

const walkBytes: Array<Uint8Array | undefined> = new Array(1024);
const walkText: string[] = new Array(1024);

/** A walked path: NUL-separated components, leaf first. Cached by its bytes (paths repeat). */
function joinWalk(r: Rec, start: number, end: number, cut: boolean): string {
  const len = end - start;
  let h = (len + (cut ? 1 : 0)) * 0x9e3779b1;
  for (let i = start; i < end; i++) h = Math.imul(h ^ r.b[i], 0x01000193);
  const slot = (h >>> 0) & 1023;
  const cached = walkBytes[slot];
  if (cached !== undefined && cached.length === len + 1 && cached[len] === (cut ? 1 : 0)) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (cached[i] !== r.b[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return walkText[slot];
  }
  const parts: string[] = [];
  let p = start;
  while (p < end && parts.length < 64) {
    let q = p;
    while (q < end && r.b[q] !== 0) q++;
    parts.push(decodeText(r.b, p, q));
    p = q + 1;
  }
  parts.reverse();
  // Without a cut the walk reached a root (of the mount tree, or of the file system for fs_path).
  const text = cut ? `${CUT_MARK}/${parts.join('/')}` : `/${parts.join('/')}`;
  const key = new Uint8Array(len + 1);
  key.set(r.b.subarray(start, end));
  key[len] = cut ? 1 : 0;
  walkBytes[slot] = key;
  walkText[slot] = text;
  return text;
}

function scalarDecoder(store: Store, fmt: FormatName, tables: DecoderTables): Decode {
  if (store === 'char16' || store === 'char32') {
    const n = store === 'char16' ? 16 : 32;
    return (r, at) => decodeText(r.b, at, at + n);
  }
  if (store === 'bytes16') return fmt === 'ipv6' ? (r, at) => formatIpv6(r.b, at) : (r, at) => Array.from(r.b.subarray(at, at + 16));
  if (store === 'str') return fmt === 'str' ? decodeTailString : (r, at) => decodeTailString(r, at);
  const wide = store === 'u64' || store === 's64';
  const num = (r: Rec, at: number): number => readNumber(store, r.dv, at);
  switch (fmt) {
    case 'dec':
      if (store === 'u64') return (r, at) => u64(r.dv, at);
      if (store === 's64') return (r, at) => s64(r.dv, at);
      return (r, at) => readNumber(store, r.dv, at);
    case 'hex':
      return wide ? (r, at) => hex64(r.dv, at) : (r, at) => `0x${(num(r, at) >>> 0).toString(16)}`;
    case 'bool':
      return (r, at) => num(r, at) !== 0;
    case 'oct':
      return (r, at) => `0${num(r, at).toString(8)}`;
    case 'mode':
      { const f = memo(formatMode); return (r, at) => f(num(r, at)); }
    case 'dev':
      { const f = memo(formatDev); return (r, at) => f(num(r, at)); }
    case 'ipv4':
      { const f = memo(formatIpv4); return (r, at) => f(r.dv.getUint32(at, true)); }
    case 'caps':
      return (r, at) => formatCapSet(r.dv.getUint32(at, true), wide ? r.dv.getUint32(at + 4, true) : 0);
    case 'may':
      { const f = memo((v) => formatFlags(v, MAY_FLAGS)); return (r, at) => f(num(r, at)); }
    case 'prot':
      { const f = memo((v) => formatFlags(v, PROT_FLAGS, 'PROT_NONE')); return (r, at) => f(num(r, at)); }
    case 'mmap':
      { const f = memo(formatMmapFlags); return (r, at) => f(num(r, at)); }
    case 'open':
      { const f = memo(formatOpenFlags); return (r, at) => f(num(r, at)); }
    case 'fmode':
      { const f = memo((v) => formatFlags(v, FMODE_FLAGS)); return (r, at) => f(num(r, at)); }
    case 'clone': {
      // The low byte of clone flags is the exit signal.
      return (r, at) => {
        const v = num(r, at);
        const sig = v & 0xff;
        const rest = formatFlags(v & ~0xff, CLONE_FLAGS, '');
        return sig ? (rest ? `${rest}|${formatSignal(sig)}` : formatSignal(sig)) : rest || '0';
      };
    }
    case 'ptrace_mode':
      return (r, at) => formatFlags(num(r, at), PTRACE_MODE_FLAGS);
    case 'cap_opt':
      return (r, at) => formatFlags(num(r, at), CAP_OPT_FLAGS, 'CAP_OPT_NONE');
    case 'attr':
      { const f = memo((v) => formatFlags(v, ATTR_FLAGS)); return (r, at) => f(num(r, at)); }
    case 'mount':
      return (r, at) => formatFlags(num(r, at), MOUNT_FLAGS);
    case 'cap':
      return (r, at) => CAPABILITIES[num(r, at)] ?? num(r, at);
    case 'signal':
      return (r, at) => formatSignal(num(r, at));
    case 'family':
      return (r, at) => ADDRESS_FAMILIES[num(r, at)] ?? num(r, at);
    case 'socktype':
      { const f = memo(formatSockType); return (r, at) => f(num(r, at)); }
    default:
      if (fmt.startsWith('enum:')) {
        const names = tables.enums[fmt.slice(5)];
        if (names) return (r, at) => names[num(r, at)] ?? num(r, at);
      }
      return (r, at) => readNumber(store, r.dv, at);
  }
}

interface Part {
  readonly name: string;
  readonly offset: number;
  readonly dec: Decode;
}

// Objects built key by key in a loop get a different hidden class per hook and make every property
// store megamorphic: a mix of hooks decoded 3-5x slower than any one hook alone. Where the runtime
// allows code generation (Node, the extension host; not a webview under a CSP without unsafe-eval),
// each value type and hook gets its own tiny function with an object literal of fixed keys, so every
// site stays monomorphic. Otherwise the same objects are built by a loop. Keys come from BTF parameter
// names and the value table; anything that is not a plain identifier falls back to the loop.
const canGenerate = ((): boolean => {
  try {
    return new Function('return 1')() === 1;
  } catch {
    return false;
  }
})();

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** (r, at) => { [part.name]: part.dec(r, at + part.offset), ... } */
function objectBuilder(parts: readonly Part[]): (r: Rec, at: number) => Record<string, TraceValue> {
  if (canGenerate && parts.every((p) => IDENT.test(p.name) && Number.isInteger(p.offset))) {
    const body = parts.map((p, i) => `${p.name}: D[${i}](r, at + ${p.offset})`).join(', ');
    return new Function('D', `return function (r, at) { return { ${body} }; };`)(parts.map((p) => p.dec));
  }
  return (r, at) => {
    const o: Record<string, TraceValue> = {};
    for (let i = 0; i < parts.length; i++) o[parts[i].name] = parts[i].dec(r, at + parts[i].offset);
    return o;
  };
}

/** The path string of a value's path slot at `at`; its path_src byte is `srcDelta` bytes away. */
function pathDecoder(srcDelta: number | undefined): Decode {
  return (r, at) => {
    const start = tailString(r, at);
    if (start < 0) return null;
    const src = srcDelta === undefined ? PathSource.none : r.b[at + srcDelta];
    if (src === PathSource.dpath) return tailCut ? decodeText(r.b, start, tailEnd) + CUT_MARK : decodeText(r.b, start, tailEnd);
    return joinWalk(r, start, tailEnd, tailCut);
  };
}

function valueDecoder(v: ValueTable, tables: DecoderTables): Decode {
  const present = v.present;
  if (present + 1 > v.size) throw new Error(`decoder tables: value ${v.key} has its present byte outside its ${v.size} bytes`);
  const srcField = v.fields.find((f) => f.name === 'path_src');
  const parts: Part[] = [];
  for (const f of v.fields) {
    if (f.fmt === 'hidden' || f.fmt === 'bytes') continue;
    if (f.offset + 1 > v.size) throw new Error(`decoder tables: ${v.key}.${f.name} lies outside its value`);
    const dec = f.fmt === 'path' ? pathDecoder(srcField ? srcField.offset - f.offset : undefined) : scalarDecoder(f.store, f.fmt, tables);
    parts.push({ name: f.name, offset: f.offset, dec });
  }
  const build = objectBuilder(parts);
  const size = v.size;
  const plain: Decode = (r, at) => (at + size > r.end || r.b[at + present] === 0 ? null : build(r, at));
  switch (v.post) {
    case 'sockaddr': {
      const familyOffset = v.fields.find((f) => f.name === 'family')!.offset;
      const bytesField = v.fields.find((f) => f.fmt === 'bytes');
      return (r, at): TraceValue => {
        const o = plain(r, at) as Record<string, TraceValue> | null;
        if (!o) return null;
        const fam = r.dv.getUint16(at + familyOffset, true);
        if (fam === 2) return { family: o.family, addr: o.addr4, port: o.port };
        if (fam === 10) return { family: o.family, addr: o.addr6, port: o.port };
        if (fam === 1 && bytesField) {
          const start = tailString(r, at + bytesField.offset);
          // Abstract names start with a NUL, shown as `@` the way ss(8) does.
          if (start >= 0) return { family: o.family, path: r.b[start] === 0 ? `@${decodeText(r.b, start + 1, tailEnd)}` : decodeText(r.b, start, tailEnd) };
        }
        return { family: o.family };
      };
    }
    case 'bpf_attr': {
      const cmdOffset = v.fields.find((f) => f.name === 'cmd')!.offset;
      return (r, at): TraceValue => {
        const o = plain(r, at) as Record<string, TraceValue> | null;
        if (!o) return null;
        const which = r.b[at + cmdOffset];
        if (which === 1) return { map_type: o.map_type, name: o.name };
        if (which === 2) return { prog_type: o.prog_type, name: o.name };
        return {};
      };
    }
    case 'path': {
      // Sockets and pipes live on internal mounts that no walk (and no d_path) can name; the kernel
      // itself calls them socket:[ino] and pipe:[ino] (sockfs_dname, pipefs_dname), so do the same.
      const mode = v.fields.find((f) => f.name === 'i_mode' && f.store === 'u16');
      const ino = v.fields.find((f) => f.name === 'ino');
      const hasPath = v.fields.some((f) => f.name === 'path');
      if (!mode || !ino || !hasPath) return plain;
      return (r, at): TraceValue => {
        const o = plain(r, at) as Record<string, TraceValue> | null;
        if (!o || o.path !== null) return o;
        const type = r.dv.getUint16(at + mode.offset, true) & 0o170000;
        if (type === 0o140000) o.path = `socket:[${o.ino}]`;
        else if (type === 0o010000) o.path = `pipe:[${o.ino}]`;
        return o;
      };
    }
    default:
      return plain;
  }
}

interface CompiledHook {
  readonly table: HookTable;
  readonly args: (r: Rec, at: number) => Record<string, TraceValue>;
}

function argDecoder(a: ArgTable, values: ReadonlyMap<string, Decode>, tables: DecoderTables): Decode | undefined {
  switch (a.how) {
    case 'value': {
      const d = values.get(a.value);
      if (!d) throw new Error(`decoder tables: argument ${a.name} uses value type ${a.value}, which the tables lack`);
      return d;
    }
    case 'scalar':
      return scalarDecoder(a.store, a.fmt, tables);
    case 'string':
      return decodeTailString;
    case 'present':
      return (r, at) => r.b[at] !== 0;
    default:
      return undefined;
  }
}

export class TraceDecoder {
  readonly stats: DecodeStats = { records: 0, malformed: 0, truncated: 0 };
  private readonly hooks: Array<CompiledHook | undefined> = [];
  /** Thread id -> the syscall it is in (from sys_enter, cleared by sys_exit). */
  private readonly inSyscall = new Map<number, string>();
  private readonly syscallNames: Array<string | undefined> = [];
  private readonly rec: Rec = { b: new Uint8Array(0), dv: new DataView(new ArrayBuffer(0)), start: 0, end: 0 };

  constructor(readonly tables: DecoderTables) {
    const values = new Map<string, Decode>();
    for (const [key, v] of Object.entries(tables.values)) values.set(key, valueDecoder(v, tables));
    for (const h of tables.hooks) {
      const args = [];
      for (const a of h.args) {
        const dec = argDecoder(a, values, tables);
        if (!dec) continue;
        if (a.offset < HDR.size || a.offset >= h.size) throw new Error(`decoder tables: ${h.name}.${a.name} at ${a.offset} lies outside the ${h.size}-byte record`);
        args.push({ name: a.name, offset: a.offset, dec });
      }
      this.hooks[h.id] = { table: h, args: objectBuilder(args) };
    }
    for (const [nr, name] of Object.entries(tables.syscalls)) this.syscallNames[Number(nr)] = name;
  }

  private syscall(nr: number): string {
    return (nr >= 0 && this.syscallNames[nr]) || syscallName(this.tables.syscalls, nr);
  }

  /** Forgets which syscall each thread is in (e.g. between trace sessions). */
  reset(): void {
    this.inSyscall.clear();
  }

  /** One record: `bytes[offset, offset+length)` as the BPF program wrote it. */
  decode(bytes: Uint8Array, offset = 0, length = bytes.length - offset, view?: DataView): TraceEvent | undefined {
    const dv = view ?? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.stats.records++;
    if (length < HDR.size || offset + length > bytes.length) {
      this.stats.malformed++;
      return undefined;
    }
    const size = dv.getUint16(offset + HDR.offsets.size, true);
    // The kernel's size wins when it is smaller (ring records are padded); never read past either.
    const r = this.rec;
    r.b = bytes;
    r.dv = dv;
    r.start = offset;
    r.end = offset + Math.min(length, size >= HDR.size ? size : length);
    const kind = dv.getUint16(offset + HDR.offsets.kind, true);
    const flags = dv.getUint16(offset + HDR.offsets.flags, true);
    if (flags & TR_F_TRUNCATED) this.stats.truncated++;
    const time = dv.getUint32(offset + 4, true) * 0x100000000 + dv.getUint32(offset, true);
    const pid = dv.getUint32(offset + HDR.offsets.pid, true);
    const tgid = dv.getUint32(offset + HDR.offsets.tgid, true);
    const cpu = dv.getUint32(offset + HDR.offsets.cpu, true);
    const comm = decodeText(bytes, offset + HDR.offsets.comm, offset + HDR.offsets.comm + 16);
    switch (kind) {
      case RecordKind.hook: {
        const h = this.hooks[dv.getUint16(offset + HDR.offsets.id, true)];
        if (!h || r.end - r.start < h.table.size) {
          this.stats.malformed++;
          return undefined;
        }
        const args = h.args(r, offset);
        const ev: HookEvent = {
          kind: 'hook',
          time,
          cpu,
          pid,
          tgid,
          comm,
          hook: h.table.name,
          category: h.table.category,
          args,
          ret: h.table.hasRet ? dv.getInt32(offset + HDR.offsets.ret, true) : undefined,
          syscall: this.inSyscall.get(pid),
        };
        return ev;
      }
      case RecordKind.sysEnter: {
        if (r.end - r.start < 104) break;
        const nr = Number(s64(dv, offset + 48));
        const args: number[] = [];
        for (let i = 0; i < 6; i++) args.push(Number(s64(dv, offset + 56 + i * 8)));
        const name = this.syscall(nr);
        this.inSyscall.set(pid, name);
        const ev: SyscallEnterEvent = { kind: 'syscall_enter', time, cpu, pid, tgid, comm, syscall: name, nr, args };
        return ev;
      }
      case RecordKind.sysExit: {
        if (r.end - r.start < 64) break;
        const nr = Number(s64(dv, offset + 48));
        this.inSyscall.delete(pid);
        const ev: SyscallExitEvent = { kind: 'syscall_exit', time, cpu, pid, tgid, comm, syscall: this.syscall(nr), nr, ret: Number(s64(dv, offset + 56)) };
        return ev;
      }
      case RecordKind.fork: {
        if (r.end - r.start < 64) break;
        const ev: ProcessEvent = {
          kind: 'process',
          what: 'fork',
          time,
          cpu,
          pid,
          tgid,
          comm,
          child: dv.getUint32(offset + 48, true),
        };
        return ev;
      }
      case RecordKind.exit: {
        if (r.end - r.start < 56) break;
        this.inSyscall.delete(pid);
        const ev: ProcessEvent = { kind: 'process', what: 'exit', time, cpu, pid, tgid, comm, exitCode: dv.getInt32(offset + 48, true) };
        return ev;
      }
      case RecordKind.exec: {
        if (r.end - r.start < 312) break;
        const ev: ProcessEvent = { kind: 'process', what: 'exec', time, cpu, pid, tgid, comm, filename: decodeText(bytes, offset + 52, offset + 308) };
        return ev;
      }
      default:
        break;
    }
    this.stats.malformed++;
    return undefined;
  }

  /**
   * A batch from the native RingConsumer: per record u32 length, u16 ring index, u16 zero, payload,
   * zero padding to a multiple of 8. Undecodable records are counted in `stats`, not thrown.
   */
  decodeBatch(data: Uint8Array, out: TraceEvent[] = []): TraceEvent[] {
    const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let p = 0;
    while (p + FRAME_HEADER <= data.length) {
      const len = dv.getUint32(p, true);
      const start = p + FRAME_HEADER;
      if (len === 0 || start + len > data.length) {
        this.stats.malformed++;
        break;
      }
      const ev = this.decode(data, start, len, dv);
      if (ev) out.push(ev);
      p = start + ((len + 7) & ~7);
    }
    return out;
  }
}
