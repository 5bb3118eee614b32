// What a trace session does with a loaded tracer object besides decoding its ring buffer: the names of
// its maps, knobs and counters, and the bytes of their keys and values (struct tr_task, struct
// tr_counters of bpf/tracer/tracer.h; offsets from layout.ts, which the generated C asserts).
import { FIXED_STRUCTS, TR_MAX_CPUS, TR_SLOTS, TR_TGID_FLAGS } from './layout';

/**
 * The session's own ring buffer (give it to the native RingConsumer). Records reach it only once it is
 * put into RINGS_MAP at the session's slot.
 */
export const EVENTS_MAP = 'tr_events';
/** Array of maps: slot -> ring buffer of the trace that owns the slot. */
export const RINGS_MAP = 'tr_rings';
/** Hash map tgid -> struct tr_task: the processes being traced. */
export const TRACED_MAP = 'tr_traced';
/**
 * Array map tgid -> u8, the filter (bpf/tracer/tracer_maps.h): the process's trace slot + 1 while it is traced,
 * 0 otherwise. For tgids below TR_TGID_FLAGS (those that have one) the programs go by the flag alone: set it
 * (maybeFlag) after the process enters TRACED_MAP, and clear it (NO_FLAG) before the process leaves.
 */
export const MAYBE_MAP = 'tr_maybe';
/** Array map slot -> struct tr_slot_counters (one struct tr_counters per CPU). */
export const COUNTERS_MAP = 'tr_counters';
/** `const volatile bool` knobs, set before load (one byte each). */
export const KNOBS = { followForks: 'tr_follow_forks', syscalls: 'tr_syscalls' } as const;

/** The tracer's programs that run on every syscall of every process while attached (tracer_programs.h). */
export const SYSCALL_PROGRAMS: readonly string[] = ['tr_sys_enter', 'tr_sys_exit'];
/**
 * The hook programs of the hooks most processes call all the time (path lookups, opens, reads and writes,
 * mmap, capability checks, credentials, fork), by their calls in the 6.1 VM under a mix of ls -R, find,
 * cat, tar, ps and shell loops: 94% of the hook programs' runs for processes the tracer does not trace. Attached,
 * each call pays a BPF trampoline (~150 ns under TCG) that returns at the filter; the keeper detaches them
 * seconds after the last trace (HOT_HOOKS_IDLE_MS in helper/tracerKeeper.ts). Hooks a kernel lacks are skipped.
 */
export const HOT_HOOK_PROGRAMS: readonly string[] = [
  'inode_permission',
  'capable',
  'file_permission',
  'task_to_inode',
  'mmap_addr',
  'file_alloc_security',
  'file_free_security',
  'current_getsecid_subj',
  'file_open',
  'mmap_file',
  'inode_follow_link',
  'd_instantiate',
  'inode_alloc_security',
  'inode_free_security',
  'inode_getattr',
  'cred_prepare',
  'cred_free',
  'file_mprotect',
  'file_fcntl',
  'file_ioctl',
  'task_alloc',
  'task_free',
  // Hooks of newer kernels (6.10 and later; the 6.12 VM) that every open and every last close of a file call.
  'file_post_open',
  'file_release',
].map((hook) => `tr_${hook}`);
/** What the keeper detaches within seconds of the last trace; a trace attaches them again before its program runs. */
export const IDLE_DETACHED_PROGRAMS: readonly string[] = [...SYSCALL_PROGRAMS, ...HOT_HOOK_PROGRAMS];

const TASK = FIXED_STRUCTS.find((s) => s.name === 'tr_task')!;
const COUNTERS = FIXED_STRUCTS.find((s) => s.name === 'tr_counters')!;

/** Key of TRACED_MAP for a process. */
export function tracedKey(tgid: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, tgid, true);
  return b;
}

/** Whether a process has a MAYBE_MAP flag (set after adding it to TRACED_MAP, cleared before taking it out). */
export function hasMaybeFlag(tgid: number): boolean {
  return Number.isInteger(tgid) && tgid >= 0 && tgid < TR_TGID_FLAGS;
}

/** The MAYBE_MAP value of a process traced in `slot`. */
export function maybeFlag(slot: number): Uint8Array {
  if (!Number.isInteger(slot) || slot < 0 || slot >= TR_SLOTS) throw new Error(`trace slot ${slot} is out of range (0-${TR_SLOTS - 1})`);
  return Uint8Array.of(slot + 1);
}

/** The MAYBE_MAP value of a process that is not traced. */
export const NO_FLAG: Uint8Array = Uint8Array.of(0);

/** Value of TRACED_MAP for the root process of a trace (its children get root, slot and depth + 1 in BPF). */
export function tracedValue(root: number, slot = 0, depth = 0): Uint8Array {
  if (!Number.isInteger(slot) || slot < 0 || slot >= TR_SLOTS) throw new Error(`trace slot ${slot} is out of range (0-${TR_SLOTS - 1})`);
  const b = new Uint8Array(TASK.size);
  const dv = new DataView(b.buffer);
  dv.setUint32(TASK.offsets.root, root, true);
  dv.setUint16(TASK.offsets.depth, Math.min(depth, 0xffff), true);
  dv.setUint16(TASK.offsets.slot, slot, true);
  return b;
}

export function decodeTracedValue(b: Uint8Array): { root: number; depth: number; slot: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return { root: dv.getUint32(TASK.offsets.root, true), depth: dv.getUint16(TASK.offsets.depth, true), slot: dv.getUint16(TASK.offsets.slot, true) };
}

export interface TracerCounters {
  /** Records the tracer wrote to the ring buffer. */
  readonly records: number;
  /** Records lost because the ring buffer was full: report as a kernel-side DropEvent. */
  readonly ringbufFull: number;
  /** Records written with some strings left out or cut (TR_F_TRUNCATED). */
  readonly truncated: number;
  /** Hook calls not recorded because they interrupted a record being built on the same CPU. */
  readonly nested: number;
}

/** Sums the per-CPU counters of one slot: the raw value of COUNTERS_MAP (TR_MAX_CPUS structs). */
export function sumCounters(bytes: Uint8Array): TracerCounters {
  const expected = TR_MAX_CPUS * COUNTERS.size;
  if (bytes.length < expected) throw new Error(`a tr_counters value is ${bytes.length} bytes, expected ${expected}`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const o = COUNTERS.offsets;
  let records = 0;
  let ringbufFull = 0;
  let truncated = 0;
  let nested = 0;
  const u64 = (at: number): number => dv.getUint32(at + 4, true) * 0x100000000 + dv.getUint32(at, true);
  for (let cpu = 0; cpu < TR_MAX_CPUS; cpu++) {
    const base = cpu * COUNTERS.size;
    records += u64(base + o.records);
    ringbufFull += u64(base + o.ringbuf_full);
    truncated += u64(base + o.truncated);
    nested += u64(base + o.nested);
  }
  return { records, ringbufFull, truncated, nested };
}

/** Key of RINGS_MAP for a slot. */
export function slotKey(slot: number): Uint8Array {
  return tracedKey(slot);
}

/** Records lost in the kernel between two counter readings (ring buffer full plus nested calls). */
export function kernelDrops(before: TracerCounters, after: TracerCounters): number {
  return after.ringbufFull - before.ringbufFull + (after.nested - before.nested);
}
