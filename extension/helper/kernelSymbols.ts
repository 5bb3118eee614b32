// Addresses of the kernel data the tracer's path cache reads (bpf/tracer/tracer_paths.h, tr_path_seqs): the
// sequence words of rename_lock and mount_lock, which every rename and every mount change bump. Neither is in
// the kernel's BTF (it describes per-CPU variables only), so the helper, as root, finds them in /proc/kallsyms
// once per process and sets them as the tracer's globals before its load. Where the addresses are hidden
// (kptr_restrict, lockdown) or a name is missing or ambiguous, the globals stay 0 and the tracer walks every
// path as before.
import { readFile } from 'node:fs/promises';

/** Tracer global -> kernel symbol. */
const WANTED = { tr_rename_lock: 'rename_lock', tr_mount_lock: 'mount_lock' } as const;

/** The globals only the helper sets: a client's values for them are dropped. */
export const SYMBOL_GLOBALS: readonly string[] = Object.keys(WANTED);

/**
 * The globals from kallsyms text ("ffffffff82a0b0c0 D rename_lock" lines; module symbols end in "[module]" and
 * do not count): all of them as "0x..." strings, or none when one is missing, ambiguous or shown as zero.
 */
export function tracerSymbolGlobals(kallsyms: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [global, symbol] of Object.entries(WANTED)) {
    const found = [...kallsyms.matchAll(new RegExp(`^([0-9a-f]{8,16}) [bBdD] ${symbol}$`, 'gm'))].map((m) => m[1]);
    if (found.length !== 1 || /^0+$/.test(found[0])) return {};
    out[global] = `0x${found[0]}`;
  }
  return out;
}

let pending: Promise<Record<string, string>> | undefined;

/** tracerSymbolGlobals of this kernel, read once per process (started early: the read takes a while under TCG). */
export function kernelSymbolGlobals(path = '/proc/kallsyms'): Promise<Record<string, string>> {
  pending ??= readFile(path, 'latin1').then(tracerSymbolGlobals, () => ({}));
  return pending;
}
