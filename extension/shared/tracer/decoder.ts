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
  if (ascii) return String.fromCharCode.apply(null, b.subarray(start, stop) as unknown as number[]);
  return escapeControls(utf8.decode(b.subarray(start, stop)));
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

/** A tail string slot at `at`: offset/length checked against the record. */
function tailString(r: Rec, at: number): { start: number; end: number; cut: boolean } | undefined {
  const off = r.dv.getUint16(at, true);
  const raw = r.dv.getUint16(at + 2, true);
  const len = raw & TR_STR_LEN_MASK;
  if (off === 0 && len === 0) return undefined;
  const start = r.start + off;
  const end = Math.min(start + len, r.end);
  if (start >= r.end || start < r.start) return undefined;
  return { start, end, cut: (raw & TR_STR_CUT) !== 0 };
}

function decodeTailString(r: Rec, at: number): TraceValue {
  const s = tailString(r, at);
  if (!s) return null;
  const text = decodeText(r.b, s.start, s.end);
  return s.cut ? text + CUT_MARK : text;
}

/** A walked path: NUL-separated components, leaf first. */
function joinWalk(r: Rec, s: { start: number; end: number; cut: boolean }): string {
  const parts: string[] = [];
  let p = s.start;
  while (p < s.end && parts.length < 64) {
    let q = p;
    while (q < s.end && r.b[q] !== 0) q++;
    parts.push(decodeText(r.b, p, q));
    p = q + 1;
  }
  parts.reverse();
  // A walk that reached the root of the file system it started in.
  return s.cut ? `${CUT_MARK}/${parts.join('/')}` : `/${parts.join('/')}`;
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
      return (r, at) => formatMode(num(r, at));
    case 'dev':
      return (r, at) => formatDev(num(r, at));
    case 'ipv4':
      return (r, at) => formatIpv4(r.dv.getUint32(at, true));
    case 'caps':
      return (r, at) => formatCapSet(r.dv.getUint32(at, true), wide ? r.dv.getUint32(at + 4, true) : 0);
    case 'may':
      return (r, at) => formatFlags(num(r, at), MAY_FLAGS);
    case 'prot':
      return (r, at) => formatFlags(num(r, at), PROT_FLAGS, 'PROT_NONE');
    case 'mmap':
      return (r, at) => formatMmapFlags(num(r, at));
    case 'open':
      return (r, at) => formatOpenFlags(num(r, at));
    case 'fmode':
      return (r, at) => formatFlags(num(r, at), FMODE_FLAGS);
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
      return (r, at) => formatFlags(num(r, at), ATTR_FLAGS);
    case 'mount':
      return (r, at) => formatFlags(num(r, at), MOUNT_FLAGS);
    case 'cap':
      return (r, at) => CAPABILITIES[num(r, at)] ?? num(r, at);
    case 'signal':
      return (r, at) => formatSignal(num(r, at));
    case 'family':
      return (r, at) => ADDRESS_FAMILIES[num(r, at)] ?? num(r, at);
    case 'socktype':
      return (r, at) => formatSockType(num(r, at));
    default:
      if (fmt.startsWith('enum:')) {
        const names = tables.enums[fmt.slice(5)];
        if (names) return (r, at) => names[num(r, at)] ?? num(r, at);
      }
      return (r, at) => readNumber(store, r.dv, at);
  }
}

function valueDecoder(v: ValueTable, tables: DecoderTables): Decode {
  const fields = v.fields.filter((f) => f.fmt !== 'hidden' && f.fmt !== 'path' && f.fmt !== 'bytes');
  const decoders = fields.map((f) => ({ name: f.name, offset: f.offset, dec: scalarDecoder(f.store, f.fmt, tables) }));
  const pathField = v.fields.find((f) => f.fmt === 'path');
  const srcField = v.fields.find((f) => f.name === 'path_src');
  const bytesField = v.fields.find((f) => f.fmt === 'bytes');
  const cmdField = v.fields.find((f) => f.name === 'cmd');
  const present = v.present;
  if (present + 1 > v.size) throw new Error(`decoder tables: value ${v.key} has its present byte outside its ${v.size} bytes`);
  return (r, at) => {
    if (at + v.size > r.end) return null;
    if (r.b[at + present] === 0) return null;
    const o: Record<string, TraceValue> = {};
    if (pathField) {
      const s = tailString(r, at + pathField.offset);
      const src = srcField ? r.b[at + srcField.offset] : PathSource.none;
      if (s) {
        if (src === PathSource.dpath) o.path = decodeText(r.b, s.start, s.end) + (s.cut ? CUT_MARK : '');
        else if (src === PathSource.dentry) o.fs_path = joinWalk(r, s);
        else o.path = joinWalk(r, s);
      }
    }
    for (let i = 0; i < decoders.length; i++) o[decoders[i].name] = decoders[i].dec(r, at + decoders[i].offset);
    switch (v.post) {
      case 'sockaddr': {
        const fam = r.dv.getUint16(at + fields.find((f) => f.name === 'family')!.offset, true);
        const out: Record<string, TraceValue> = { family: o.family };
        if (fam === 2) out.addr = o.addr4;
        else if (fam === 10) out.addr = o.addr6;
        if (fam === 2 || fam === 10) out.port = o.port;
        if (fam === 1 && bytesField) {
          const s = tailString(r, at + bytesField.offset);
          if (s) {
            // Abstract names start with a NUL, shown as `@` the way ss(8) does.
            out.path = r.b[s.start] === 0 ? `@${decodeText(r.b, s.start + 1, s.end)}` : decodeText(r.b, s.start, s.end);
          }
        }
        return out;
      }
      case 'bpf_attr': {
        const which = cmdField ? r.b[at + cmdField.offset] : 0;
        if (which === 1) return { map_type: o.map_type, name: o.name };
        if (which === 2) return { prog_type: o.prog_type, name: o.name };
        return {};
      }
      default:
        return o;
    }
  };
}

interface CompiledHook {
  readonly table: HookTable;
  readonly args: ReadonlyArray<{ readonly name: string; readonly offset: number; readonly dec: Decode }>;
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
      this.hooks[h.id] = { table: h, args };
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
    const r: Rec = { b: bytes, dv, start: offset, end: offset + Math.min(length, size >= HDR.size ? size : length) };
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
        const args: Record<string, TraceValue> = {};
        for (let i = 0; i < h.args.length; i++) args[h.args[i].name] = h.args[i].dec(r, offset + h.args[i].offset);
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
