// Storage of tracer record fields and the layout rules both sides follow.
//
// The hand-written part of the record format lives in bpf/tracer/tracer.h (header, string slots,
// syscall/fork/exit records). Its offsets are repeated here once, as data: the generator turns them
// into _Static_asserts in the generated C (so a mismatch does not compile) and a unit test checks them
// against the BTF of the compiled object. Per-hook layouts are not written anywhere by hand: the
// generator computes them from the value-type table with the C alignment rules below.

/** How one field is stored in a record. */
export type Store = 'u8' | 'u16' | 'u32' | 's32' | 'u64' | 's64' | 'str' | 'char16' | 'char32' | 'bytes16';

export const STORE_SIZE: Readonly<Record<Store, number>> = {
  u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8, str: 4, char16: 16, char32: 32, bytes16: 16,
};

export const STORE_ALIGN: Readonly<Record<Store, number>> = {
  u8: 1, u16: 2, u32: 4, s32: 4, u64: 8, s64: 8, str: 2, char16: 1, char32: 1, bytes16: 1,
};

/** The C declaration of a field of this store. */
export function storeDecl(store: Store, name: string): string {
  switch (store) {
    case 'u8': return `__u8 ${name}`;
    case 'u16': return `__u16 ${name}`;
    case 'u32': return `__u32 ${name}`;
    case 's32': return `__s32 ${name}`;
    case 'u64': return `__u64 ${name}`;
    case 's64': return `__s64 ${name}`;
    case 'str': return `struct tr_str ${name}`;
    case 'char16': return `char ${name}[16]`;
    case 'char32': return `char ${name}[32]`;
    case 'bytes16': return `__u8 ${name}[16]`;
  }
}

export function alignUp(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

export interface LaidOut<T> {
  readonly items: ReadonlyArray<T & { offset: number }>;
  readonly size: number;
  readonly align: number;
}

/** C struct layout: members in order, each at its natural alignment; size rounded to the largest. */
export function layoutStruct<T extends { size: number; align: number }>(members: readonly T[], start = 0, startAlign = 1): LaidOut<T> {
  let off = start;
  let align = startAlign;
  const items = members.map((m) => {
    off = alignUp(off, m.align);
    const placed = { ...m, offset: off };
    off += m.size;
    align = Math.max(align, m.align);
    return placed;
  });
  return { items, size: alignUp(off, align), align };
}

/** enum tr_kind. */
export const RecordKind = {
  hook: 1,
  sysEnter: 2,
  sysExit: 3,
  fork: 4,
  exit: 5,
  exec: 6,
} as const;

/** enum tr_flags. */
export const TR_F_TRUNCATED = 1;
/** struct tr_str .len bits. */
export const TR_STR_CUT = 0x8000;
export const TR_STR_LEN_MASK = 0x7fff;
export const TR_REC_MAX = 4096;
export const TR_COMM_LEN = 16;
export const TR_MAX_CPUS = 64;
/** Traces at once on one tracer object (tr_rings slots, tr_counters rows). */
export const TR_SLOTS = 8;
/** Processes (tgid) below this have a flag in tr_maybe, the filter's fast path. */
export const TR_TGID_FLAGS = 65536;

/** enum tr_path_src. */
export const PathSource = { none: 0, dpath: 1, mounts: 2, dentry: 3 } as const;

export interface FixedStruct {
  readonly name: string;
  readonly size: number;
  /** member -> byte offset; nested header members are not repeated. */
  readonly offsets: Readonly<Record<string, number>>;
}

/** struct tr_hdr. */
export const HDR: FixedStruct = {
  name: 'tr_hdr',
  size: 48,
  offsets: { time_ns: 0, pid: 8, tgid: 12, cpu: 16, kind: 20, id: 22, size: 24, flags: 26, ret: 28, comm: 32 },
};

export const FIXED_STRUCTS: readonly FixedStruct[] = [
  HDR,
  { name: 'tr_str', size: 4, offsets: { off: 0, len: 2 } },
  { name: 'tr_sys_enter', size: 104, offsets: { hdr: 0, nr: 48, args: 56 } },
  { name: 'tr_sys_exit', size: 64, offsets: { hdr: 0, nr: 48, ret: 56 } },
  { name: 'tr_fork', size: 64, offsets: { hdr: 0, child_pid: 48, child_tgid: 52, thread: 56, followed: 60 } },
  { name: 'tr_exit', size: 56, offsets: { hdr: 0, exit_code: 48, group_dead: 52 } },
  { name: 'tr_exec', size: 312, offsets: { hdr: 0, old_pid: 48, filename: 52 } },
  { name: 'tr_task', size: 8, offsets: { root: 0, depth: 4, slot: 6 } },
  { name: 'tr_counters', size: 32, offsets: { records: 0, ringbuf_full: 8, truncated: 16, nested: 24 } },
];

/** Constants of tracer.h the decoder relies on, asserted in the generated C. */
export const HEADER_CONSTANTS: Readonly<Record<string, number>> = {
  TR_KIND_HOOK: RecordKind.hook,
  TR_KIND_SYS_ENTER: RecordKind.sysEnter,
  TR_KIND_SYS_EXIT: RecordKind.sysExit,
  TR_KIND_FORK: RecordKind.fork,
  TR_KIND_EXIT: RecordKind.exit,
  TR_KIND_EXEC: RecordKind.exec,
  TR_F_TRUNCATED,
  TR_STR_CUT,
  TR_STR_LEN_MASK,
  TR_REC_MAX,
  TR_STR_MAX: 256,
  TR_COMM_LEN,
  TR_MAX_CPUS,
  TR_SLOTS,
  TR_TGID_FLAGS,
  TR_PATH_NONE: PathSource.none,
  TR_PATH_DPATH: PathSource.dpath,
  TR_PATH_MOUNTS: PathSource.mounts,
  TR_PATH_DENTRY: PathSource.dentry,
};
