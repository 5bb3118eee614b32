// BPF object types for the helper's value codec, read from the object's own BTF with the shared parser:
// the type of a map's key and value, and the object's global variables (.bss, .data, .rodata and their
// named variants). The addon hands over the raw BTF (BpfObject.rawBtf); nothing in C++ describes types.
import type { BtfMemberDesc, BtfTypeDesc, GlobalInfo } from '../helperProtocol';
import { Btf, BtfKind } from './btf';

// An object's BTF is the client's: a description is bounded in depth and in nodes (a crafted BTF can nest a
// struct of 65535 members 12 levels deep, or chain typedefs in a loop), and whatever is past a bound is
// described as opaque bytes of its size, which the codec shows raw.
const MAX_DEPTH = 12;
const MAX_NODES = 20_000;
const MAX_TYPEDEF_CHAIN = 64;

/** How many type nodes one description (a map's key and value, or all globals) may still use. */
export interface NodeBudget {
  nodes: number;
}

function isQualifierOrTypedef(kind: BtfKind): boolean {
  return kind === BtfKind.Typedef || kind === BtfKind.Const || kind === BtfKind.Volatile || kind === BtfKind.Restrict || kind === BtfKind.TypeTag;
}

/** The value type of type `id`: typedefs and qualifiers looked through, an anonymous type named by its typedef. */
export function describeType(btf: Btf, id: number, depth = 0, budget: NodeBudget = { nodes: 0 }): BtfTypeDesc {
  if (depth > MAX_DEPTH || ++budget.nodes > MAX_NODES) return { kind: 'opaque', size: btf.byteSize(id) ?? 0 };
  let typedefName = '';
  let cur = id;
  for (let hops = 0; cur !== 0 && isQualifierOrTypedef(btf.kind(cur)); hops++) {
    if (hops === MAX_TYPEDEF_CHAIN) return { kind: 'opaque', size: 0 };
    if (btf.kind(cur) === BtfKind.Typedef && !typedefName) typedefName = btf.name(cur);
    cur = btf.ref(cur);
  }
  if (cur === 0) return { kind: 'void', size: 0 };
  const kind = btf.kind(cur);
  const name = btf.name(cur) || typedefName;
  const size = btf.byteSize(cur) ?? 0;
  switch (kind) {
    case BtfKind.Int: {
      const info = btf.intInfo(cur);
      return { kind: 'int', name, size, signed: info.signed, bool: info.bool, char: info.char };
    }
    case BtfKind.Enum:
    case BtfKind.Enum64: {
      const values: Record<string, number> = {};
      for (const e of btf.enumValues(cur)) values[e.name] = e.value;
      return { kind: 'enum', name, size, signed: btf.kindFlag(cur), values };
    }
    case BtfKind.Ptr:
      return { kind: 'ptr', size };
    case BtfKind.Array: {
      const a = btf.arrayInfo(cur);
      return { kind: 'array', length: a.count, size, elem: describeType(btf, a.type, depth + 1, budget) };
    }
    case BtfKind.Struct:
    case BtfKind.Union: {
      const bitfields = btf.kindFlag(cur);
      const members: BtfMemberDesc[] = btf.members(cur).map((m) => {
        const raw = m.bitOffset ?? 0;
        const bitOffset = bitfields ? raw & 0xffffff : raw;
        const bitSize = bitfields ? raw >>> 24 : 0;
        return { name: m.name, offset: Math.floor(bitOffset / 8), bitOffset, bitSize, type: describeType(btf, m.type, depth + 1, budget) };
      });
      return { kind: kind === BtfKind.Struct ? 'struct' : 'union', name, size, members };
    }
    case BtfKind.Float:
      return { kind: 'float', size };
    default:
      return { kind: 'opaque', name, size };
  }
}

/** Sections whose variables are the object's globals (what libbpf maps as .bss/.data/.rodata maps). */
export function isGlobalSection(name: string): boolean {
  return name === '.rodata' || name === '.bss' || name === '.data' || name.startsWith('.rodata.') || name.startsWith('.data.');
}

/** The map facts globals need: libbpf's internal maps hold the sections, by their DATASEC type id. */
export interface SectionMap {
  readonly internal: boolean;
  readonly btfValueTypeId: number;
  /** The section's storage in bytes. */
  readonly valueSize: number;
}

/**
 * The object's global variables: each VAR of a global section that libbpf backs with an internal map.
 * A variable that runs past its section's storage is never offered: its offset comes from the object's
 * symbols, which a crafted object sets freely (the addon refuses to read or write it, too).
 */
export function objectGlobals(btf: Btf, maps: readonly SectionMap[]): GlobalInfo[] {
  const out: GlobalInfo[] = [];
  const budget: NodeBudget = { nodes: 0 };
  for (let id = 1; id < btf.typeCount; id++) {
    if (btf.kind(id) !== BtfKind.Datasec) continue;
    const section = btf.name(id);
    if (!isGlobalSection(section)) continue;
    const owner = maps.filter((m) => m.internal && m.btfValueTypeId === id).pop();
    if (!owner) continue;
    for (const v of btf.datasecVars(id)) {
      if (v.type === 0 || v.type >= btf.typeCount || btf.kind(v.type) !== BtfKind.Var) continue;
      if (v.offset > owner.valueSize || v.size > owner.valueSize - v.offset) continue;
      out.push({ name: btf.name(v.type), section, offset: v.offset, size: v.size, type: describeType(btf, btf.ref(v.type), 0, budget) });
    }
  }
  return out;
}

/** The key and value types of a map, by its BTF type ids (0: the map has no BTF for it). */
export function mapTypes(btf: Btf, map: { readonly btfKeyTypeId: number; readonly btfValueTypeId: number }): { key: BtfTypeDesc | null; value: BtfTypeDesc | null } {
  const budget: NodeBudget = { nodes: 0 };
  return {
    key: map.btfKeyTypeId ? describeType(btf, map.btfKeyTypeId, 0, budget) : null,
    value: map.btfValueTypeId ? describeType(btf, map.btfValueTypeId, 0, budget) : null,
  };
}
