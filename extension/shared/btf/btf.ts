// BTF (BPF Type Format) reader in plain TypeScript: kernel BTF from /sys/kernel/btf/vmlinux, the `.BTF`
// section of a vmlinux or .bpf.o ELF file, or BTF bytes fetched from a target.
//
// Reading is lazy on purpose: the constructor walks the type section once to learn where each type
// starts (types have variable length, so ids cannot be computed otherwise) and which ids are functions;
// names and members are decoded only when asked for. A 6.x vmlinux has ~130k types, and the hook catalog
// needs a few hundred of them.
import { readBtfFile } from './readFile';
import { elfSection, isElf } from './elf';

export const BTF_MAGIC = 0xeb9f;

/** BTF_KIND_* from include/uapi/linux/btf.h. */
export const enum BtfKind {
  Unknown = 0,
  Int = 1,
  Ptr = 2,
  Array = 3,
  Struct = 4,
  Union = 5,
  Enum = 6,
  Fwd = 7,
  Typedef = 8,
  Volatile = 9,
  Const = 10,
  Restrict = 11,
  Func = 12,
  FuncProto = 13,
  Var = 14,
  Datasec = 15,
  Float = 16,
  DeclTag = 17,
  TypeTag = 18,
  Enum64 = 19,
}

const KIND_NAMES = [
  'UNKN', 'INT', 'PTR', 'ARRAY', 'STRUCT', 'UNION', 'ENUM', 'FWD', 'TYPEDEF', 'VOLATILE', 'CONST', 'RESTRICT',
  'FUNC', 'FUNC_PROTO', 'VAR', 'DATASEC', 'FLOAT', 'DECL_TAG', 'TYPE_TAG', 'ENUM64',
];

export function kindName(kind: number): string {
  return KIND_NAMES[kind] ?? `KIND_${kind}`;
}

export class BtfError extends Error {}

/** A named member of a struct/union, a parameter of a function prototype, or an enumerator. */
export interface BtfMember {
  readonly name: string;
  /** Referenced type id (0 = void, or a variadic `...` parameter when the name is empty too). */
  readonly type: number;
  /** Bit offset for struct/union members. */
  readonly bitOffset?: number;
}

export class Btf {
  /** Number of type ids, including the implicit void type 0. */
  readonly typeCount: number;
  private readonly view: DataView;
  private readonly little: boolean;
  private readonly typesStart: number;
  private readonly strStart: number;
  private readonly strLen: number;
  private readonly offsets: Uint32Array;
  private readonly kinds: Uint8Array;
  private readonly funcIds: number[] = [];
  private readonly nameCache = new Map<number, string>();

  /** Parses BTF from raw BTF bytes or from an ELF file that has a `.BTF` section. */
  static fromBuffer(data: Uint8Array, what = 'BTF data'): Btf {
    if (isElf(data)) {
      const section = elfSection(data, '.BTF');
      if (!section) throw new BtfError(`${what} is an ELF file without a .BTF section (build it with BTF, e.g. CONFIG_DEBUG_INFO_BTF=y or clang -g)`);
      // A copy, so that a kernel image (tens of MB) is not kept alive by the few MB of BTF inside it.
      return new Btf(Uint8Array.prototype.slice.call(section), `${what} (.BTF section)`);
    }
    return new Btf(data, what);
  }

  static fromFile(path: string): Btf {
    let data: Buffer;
    try {
      data = readBtfFile(path);
    } catch (err) {
      throw new BtfError((err as Error).message);
    }
    return Btf.fromBuffer(data, path);
  }

  constructor(data: Uint8Array, what = 'BTF data') {
    if (data.length < 24) throw new BtfError(`${what} is too short to be BTF (${data.length} bytes)`);
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    let little = true;
    const magic = view.getUint16(0, true);
    if (magic !== BTF_MAGIC) {
      if (view.getUint16(0, false) === BTF_MAGIC) little = false;
      else throw new BtfError(`${what} is not BTF: bad magic 0x${magic.toString(16)} (expected 0xeb9f)`);
    }
    const version = data[2];
    if (version !== 1) throw new BtfError(`${what} has BTF version ${version}; only version 1 is understood`);
    const hdrLen = view.getUint32(4, little);
    const typeOff = view.getUint32(8, little);
    const typeLen = view.getUint32(12, little);
    const strOff = view.getUint32(16, little);
    const strLen = view.getUint32(20, little);
    if (hdrLen + typeOff + typeLen > data.length || hdrLen + strOff + strLen > data.length) {
      throw new BtfError(`${what} is truncated: its header describes ${hdrLen + Math.max(typeOff + typeLen, strOff + strLen)} bytes, ${data.length} present`);
    }
    this.view = view;
    this.little = little;
    this.typesStart = hdrLen + typeOff;
    this.strStart = hdrLen + strOff;
    this.strLen = strLen;

    // Pass 1: where each type starts. Sized generously, then trimmed.
    const end = this.typesStart + typeLen;
    let offsets = new Uint32Array(Math.max(16, (typeLen / 12) | 0) + 2);
    let kinds = new Uint8Array(offsets.length);
    let id = 1;
    let p = this.typesStart;
    while (p < end) {
      if (id >= offsets.length) {
        const grown = new Uint32Array(offsets.length * 2);
        grown.set(offsets);
        offsets = grown;
        const grownKinds = new Uint8Array(offsets.length);
        grownKinds.set(kinds);
        kinds = grownKinds;
      }
      const info = view.getUint32(p + 4, little);
      const kind = (info >>> 24) & 0x1f;
      const vlen = info & 0xffff;
      offsets[id] = p;
      kinds[id] = kind;
      if (kind === BtfKind.Func) this.funcIds.push(id);
      p += 12 + extraSize(kind, vlen, what, id);
      id++;
    }
    if (p !== end) throw new BtfError(`${what}: type section ends inside type ${id - 1} (corrupt BTF)`);
    this.typeCount = id;
    this.offsets = offsets;
    this.kinds = kinds;
  }

  private u32(o: number): number {
    return this.view.getUint32(o, this.little);
  }

  private check(id: number): void {
    if (!(id >= 0 && id < this.typeCount)) throw new BtfError(`BTF type id ${id} is out of range (0..${this.typeCount - 1})`);
  }

  /** A string of the string section, by offset. */
  str(off: number): string {
    let s = this.nameCache.get(off);
    if (s !== undefined) return s;
    if (off >= this.strLen) throw new BtfError(`BTF string offset ${off} is out of range`);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + this.strStart, this.strLen);
    let e = off;
    while (e < bytes.length && bytes[e] !== 0) e++;
    s = Buffer.from(bytes.buffer, bytes.byteOffset + off, e - off).toString('utf8');
    this.nameCache.set(off, s);
    return s;
  }

  /** True when the name of type `id` starts with `prefix` (ASCII), without decoding the whole name. */
  private nameStartsWith(id: number, prefix: string): boolean {
    const off = this.u32(this.offsets[id]);
    const base = this.view.byteOffset + this.strStart + off;
    const bytes = new Uint8Array(this.view.buffer);
    if (off + prefix.length > this.strLen) return false;
    for (let i = 0; i < prefix.length; i++) if (bytes[base + i] !== prefix.charCodeAt(i)) return false;
    return true;
  }

  kind(id: number): BtfKind {
    this.check(id);
    return id === 0 ? BtfKind.Unknown : (this.kinds[id] as BtfKind);
  }

  /** The type's own name ('' for anonymous types and void). */
  name(id: number): string {
    this.check(id);
    if (id === 0) return '';
    return this.str(this.u32(this.offsets[id]));
  }

  /** kind_flag: for FWD, 1 means `union`; for struct/union, bitfield-sized members. */
  kindFlag(id: number): boolean {
    this.check(id);
    return id !== 0 && (this.u32(this.offsets[id] + 4) & 0x80000000) !== 0;
  }

  vlen(id: number): number {
    this.check(id);
    return id === 0 ? 0 : this.u32(this.offsets[id] + 4) & 0xffff;
  }

  /** size for INT/STRUCT/UNION/ENUM/FLOAT/DATASEC, referenced type id for the others. */
  sizeOrType(id: number): number {
    this.check(id);
    return id === 0 ? 0 : this.u32(this.offsets[id] + 8);
  }

  /** The referenced type of PTR, TYPEDEF, CONST, VOLATILE, RESTRICT, TYPE_TAG, FUNC, VAR; return type of FUNC_PROTO. */
  ref(id: number): number {
    return this.sizeOrType(id);
  }

  /** INT encoding: { bits, signed, char, bool }. */
  intInfo(id: number): { bits: number; offset: number; signed: boolean; char: boolean; bool: boolean } {
    const v = this.u32(this.offsets[id] + 12);
    const enc = (v >>> 24) & 0xf;
    return { bits: v & 0xff, offset: (v >>> 16) & 0xff, signed: (enc & 1) !== 0, char: (enc & 2) !== 0, bool: (enc & 4) !== 0 };
  }

  /** ARRAY: element type and element count. */
  arrayInfo(id: number): { type: number; indexType: number; count: number } {
    const o = this.offsets[id] + 12;
    return { type: this.u32(o), indexType: this.u32(o + 4), count: this.u32(o + 8) };
  }

  /** Members of a STRUCT/UNION, parameters of a FUNC_PROTO, enumerators of an ENUM (type = value). */
  members(id: number): BtfMember[] {
    const kind = this.kind(id);
    const n = this.vlen(id);
    const o = this.offsets[id] + 12;
    const out: BtfMember[] = [];
    switch (kind) {
      case BtfKind.Struct:
      case BtfKind.Union:
        for (let i = 0; i < n; i++) out.push({ name: this.str(this.u32(o + i * 12)), type: this.u32(o + i * 12 + 4), bitOffset: this.u32(o + i * 12 + 8) });
        return out;
      case BtfKind.FuncProto:
      case BtfKind.Enum:
        for (let i = 0; i < n; i++) out.push({ name: this.str(this.u32(o + i * 8)), type: this.u32(o + i * 8 + 4) });
        return out;
      default:
        throw new BtfError(`BTF type ${id} is a ${kindName(kind)}, which has no members`);
    }
  }

  /** Enumerators of an ENUM or ENUM64 with their values (signed when the kind flag says so). */
  enumValues(id: number): Array<{ name: string; value: number }> {
    const kind = this.kind(id);
    const n = this.vlen(id);
    const o = this.offsets[id] + 12;
    const signed = this.kindFlag(id);
    const out: Array<{ name: string; value: number }> = [];
    if (kind === BtfKind.Enum) {
      for (let i = 0; i < n; i++) {
        const raw = this.u32(o + i * 8 + 4);
        out.push({ name: this.str(this.u32(o + i * 8)), value: signed ? raw | 0 : raw });
      }
    } else if (kind === BtfKind.Enum64) {
      for (let i = 0; i < n; i++) {
        const value = (BigInt(this.u32(o + i * 12 + 8)) << 32n) | BigInt(this.u32(o + i * 12 + 4));
        out.push({ name: this.str(this.u32(o + i * 12)), value: Number(BigInt.asIntN(64, value)) });
      }
    } else {
      throw new BtfError(`BTF type ${id} is a ${kindName(kind)}, not an enum`);
    }
    return out;
  }

  /** The variables of a DATASEC: each VAR's type id, offset and size in the section. */
  datasecVars(id: number): Array<{ type: number; offset: number; size: number }> {
    const kind = this.kind(id);
    if (kind !== BtfKind.Datasec) throw new BtfError(`BTF type ${id} is a ${kindName(kind)}, not a DATASEC`);
    const n = this.vlen(id);
    const o = this.offsets[id] + 12;
    const out: Array<{ type: number; offset: number; size: number }> = [];
    for (let i = 0; i < n; i++) out.push({ type: this.u32(o + i * 12), offset: this.u32(o + i * 12 + 4), size: this.u32(o + i * 12 + 8) });
    return out;
  }

  /**
   * Size in bytes of a value of type `id` (libbpf's btf__resolve_size): typedefs, qualifiers and VARs are
   * looked through, arrays multiply; undefined for types without a size (void, functions, forward decls).
   */
  byteSize(id: number, pointerSize = 8): number | undefined {
    let cur = id;
    let count = 1;
    for (let guard = 0; guard < 64; guard++) {
      switch (this.kind(cur)) {
        case BtfKind.Int:
        case BtfKind.Struct:
        case BtfKind.Union:
        case BtfKind.Enum:
        case BtfKind.Enum64:
        case BtfKind.Datasec:
        case BtfKind.Float:
          return count * this.sizeOrType(cur);
        case BtfKind.Ptr:
          return count * pointerSize;
        case BtfKind.Typedef:
        case BtfKind.Volatile:
        case BtfKind.Const:
        case BtfKind.Restrict:
        case BtfKind.TypeTag:
        case BtfKind.Var:
          cur = this.ref(cur);
          break;
        case BtfKind.Array: {
          const a = this.arrayInfo(cur);
          count *= a.count;
          cur = a.type;
          break;
        }
        default:
          return undefined;
      }
    }
    return undefined;
  }

  /** Ids of every FUNC whose name starts with `prefix`. */
  funcsWithPrefix(prefix: string): number[] {
    return this.funcIds.filter((id) => this.nameStartsWith(id, prefix));
  }

  /** The first type of `kind` named `name`, or undefined. Linear, so callers cache what they look up. */
  find(kind: BtfKind, name: string): number | undefined {
    if (kind === BtfKind.Func) return this.funcIds.find((id) => this.nameStartsWith(id, name) && this.name(id) === name);
    for (let id = 1; id < this.typeCount; id++) {
      if (this.kinds[id] === kind && this.nameStartsWith(id, name) && this.name(id) === name) return id;
    }
    return undefined;
  }

  /** Skips typedefs and qualifiers: the type a value really has. */
  resolve(id: number): number {
    let cur = id;
    for (let guard = 0; guard < 64; guard++) {
      const k = this.kind(cur);
      if (k === BtfKind.Typedef || k === BtfKind.Const || k === BtfKind.Volatile || k === BtfKind.Restrict || k === BtfKind.TypeTag) cur = this.ref(cur);
      else return cur;
    }
    throw new BtfError(`BTF type ${id} is part of a typedef/qualifier loop`);
  }
}

function extraSize(kind: number, vlen: number, what: string, id: number): number {
  switch (kind) {
    case BtfKind.Int:
      return 4;
    case BtfKind.Array:
      return 12;
    case BtfKind.Struct:
    case BtfKind.Union:
      return 12 * vlen;
    case BtfKind.Enum:
      return 8 * vlen;
    case BtfKind.FuncProto:
      return 8 * vlen;
    case BtfKind.Var:
      return 4;
    case BtfKind.Datasec:
      return 12 * vlen;
    case BtfKind.DeclTag:
      return 4;
    case BtfKind.Enum64:
      return 12 * vlen;
    case BtfKind.Ptr:
    case BtfKind.Fwd:
    case BtfKind.Typedef:
    case BtfKind.Volatile:
    case BtfKind.Const:
    case BtfKind.Restrict:
    case BtfKind.Func:
    case BtfKind.Float:
    case BtfKind.TypeTag:
      return 0;
    default:
      throw new BtfError(`${what}: type ${id} has unknown BTF kind ${kind}; this BTF is newer than this reader`);
  }
}
