// Addresses of kernel data the tracer reads, which the kernel's BTF does not give: the sequence words of
// rename_lock and mount_lock, which every rename and every mount change bump (the path cache,
// bpf/tracer/tracer_paths.h), and the per-CPU preempt count (the interrupt test, bpf/tracer/tracer_core.h).
// The helper, as root, finds them in /proc/kallsyms once per process and sets them as the tracer's globals
// before its load. Where the addresses are hidden (kptr_restrict, lockdown) or a name is missing or ambiguous,
// that group's globals stay 0 and the tracer does without: it walks every path, and tells interrupts by the
// stack.
import { readFile } from 'node:fs/promises';

interface Wanted {
  readonly symbol: string;
  /** The kallsyms type letters it may have. */
  readonly types: string;
}
type Group = Readonly<Record<string, Wanted>>;

const PERCPU_OFFSETS: Wanted = { symbol: '__per_cpu_offset', types: 'bBdD' };

/**
 * Tracer global -> kernel symbol, in groups set all together or not at all. A group may have alternatives:
 * the first one whose symbols are all there is taken.
 */
const GROUPS: ReadonlyArray<readonly Group[]> = [
  [{ tr_rename_lock: { symbol: 'rename_lock', types: 'bBdD' }, tr_mount_lock: { symbol: 'mount_lock', types: 'bBdD' } }],
  [
    // Per-CPU symbols: x86_64 lists their offset in each CPU's area, as absolute ("A") symbols.
    { tr_percpu_offsets: PERCPU_OFFSETS, tr_preempt_count: { symbol: '__preempt_count', types: 'AbBdD' } },
    // 6.2 to 6.14 keep the count in the per-CPU struct pcpu_hot; the tracer adds the member's offset (CO-RE).
    { tr_percpu_offsets: PERCPU_OFFSETS, tr_pcpu_hot: { symbol: 'pcpu_hot', types: 'AbBdD' } },
  ],
];

/** The globals only the helper sets: a client's values for them are dropped. */
export const SYMBOL_GLOBALS: readonly string[] = [...new Set(GROUPS.flat().flatMap((g) => Object.keys(g)))];

/** The kallsyms lines of the wanted symbols, by name: address and type letter (module symbols excluded). */
type Lines = ReadonlyMap<string, ReadonlyArray<{ address: string; type: string }>>;

const WANTED_LINE = new RegExp(`^([0-9a-f]{8,16}) ([A-Za-z]) (${[...new Set(GROUPS.flat().flatMap((g) => Object.values(g).map((w) => w.symbol)))].join('|')})$`, 'gm');

/** One pass over the text (several MB; a regular expression per symbol took 5x as long). */
function wantedLines(kallsyms: string): Lines {
  const out = new Map<string, Array<{ address: string; type: string }>>();
  for (const m of kallsyms.matchAll(WANTED_LINE)) {
    const hits = out.get(m[3]) ?? [];
    hits.push({ address: m[1], type: m[2] });
    out.set(m[3], hits);
  }
  return out;
}

/** Each global of `group` as "0x...", or undefined when one of its symbols is missing, ambiguous or zero. */
function resolve(lines: Lines, group: Group): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [global, { symbol, types }] of Object.entries(group)) {
    const hits = (lines.get(symbol) ?? []).filter((h) => types.includes(h.type));
    if (hits.length !== 1 || /^0+$/.test(hits[0].address)) return undefined;
    out[global] = `0x${hits[0].address}`;
  }
  return out;
}

/**
 * The globals from kallsyms text ("ffffffff82a0b0c0 D rename_lock" lines; module symbols end in "[module]" and
 * do not count): each group whole, or left out when none of its alternatives has all its symbols.
 */
export function tracerSymbolGlobals(kallsyms: string): Record<string, string> {
  const lines = wantedLines(kallsyms);
  const out: Record<string, string> = {};
  for (const alternatives of GROUPS) {
    for (const group of alternatives) {
      const found = resolve(lines, group);
      if (found) {
        Object.assign(out, found);
        break;
      }
    }
  }
  return out;
}

let pending: Promise<Record<string, string>> | undefined;

/** tracerSymbolGlobals of this kernel, read once per process (started early: the read takes a while under TCG). */
export function kernelSymbolGlobals(path = '/proc/kallsyms'): Promise<Record<string, string>> {
  pending ??= readFile(path, 'latin1').then(tracerSymbolGlobals, () => ({}));
  return pending;
}
