// Addresses of kernel data the tracer reads, which the kernel's BTF does not give: the sequence words of
// rename_lock and mount_lock, which every rename and every mount change bump (the path cache,
// bpf/tracer/tracer_paths.h), and the per-CPU preempt count (the interrupt test, bpf/tracer/tracer_core.h).
// The helper, as root, finds them in /proc/kallsyms once per process and sets them as the tracer's globals
// before its load. Where the addresses are hidden (kptr_restrict, lockdown) or a name is missing or ambiguous,
// that group's globals stay 0 and the tracer does without: it walks every path, and tells interrupts by the
// stack.
import { readFile } from 'node:fs/promises';

/** Tracer global -> kernel symbol and its kallsyms types, in groups set all together or not at all. */
const GROUPS: ReadonlyArray<Record<string, { symbol: string; types: string }>> = [
  { tr_rename_lock: { symbol: 'rename_lock', types: 'bBdD' }, tr_mount_lock: { symbol: 'mount_lock', types: 'bBdD' } },
  // __preempt_count is per-CPU: x86_64 lists its offset in each CPU's area, as an absolute ("A") symbol.
  { tr_percpu_offsets: { symbol: '__per_cpu_offset', types: 'bBdD' }, tr_preempt_count: { symbol: '__preempt_count', types: 'AbBdD' } },
];

/** The globals only the helper sets: a client's values for them are dropped. */
export const SYMBOL_GLOBALS: readonly string[] = GROUPS.flatMap((g) => Object.keys(g));

/**
 * The globals from kallsyms text ("ffffffff82a0b0c0 D rename_lock" lines; module symbols end in "[module]" and
 * do not count) as "0x..." strings: each group whole, or left out when one of its symbols is missing, ambiguous
 * or shown as zero.
 */
export function tracerSymbolGlobals(kallsyms: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const group of GROUPS) {
    const found = Object.entries(group).map(([global, { symbol, types }]) => {
      const hits = [...kallsyms.matchAll(new RegExp(`^([0-9a-f]{8,16}) [${types}] ${symbol}$`, 'gm'))].map((m) => m[1]);
      return hits.length === 1 && !/^0+$/.test(hits[0]) ? [global, `0x${hits[0]}`] : undefined;
    });
    if (found.every((f) => f !== undefined)) Object.assign(out, Object.fromEntries(found as string[][]));
  }
  return out;
}

let pending: Promise<Record<string, string>> | undefined;

/** tracerSymbolGlobals of this kernel, read once per process (started early: the read takes a while under TCG). */
export function kernelSymbolGlobals(path = '/proc/kallsyms'): Promise<Record<string, string>> {
  pending ??= readFile(path, 'latin1').then(tracerSymbolGlobals, () => ({}));
  return pending;
}
