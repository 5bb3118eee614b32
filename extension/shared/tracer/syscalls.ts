// Syscall names by number. The table is generated, never typed in: from the `#define __NR_<name> <nr>`
// lines of the target architecture's asm/unistd_64.h as the C preprocessor sees them (see compile.ts,
// which asks clang for them), so it follows whatever kernel headers the build machine has.

/** Parses `#define __NR_read 0` lines (preprocessor -dM output or the header itself). */
export function parseSyscallDefines(text: string): Record<number, string> {
  const out: Record<number, string> = {};
  const re = /^#define\s+__NR_([A-Za-z0-9_]+)\s+(\d+)\s*$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const nr = Number(m[2]);
    // Aliases (__NR_syscalls, __NR_<x>_time64 on 32-bit) would shadow the real name; first wins.
    if (m[1] === 'syscalls' || nr in out) continue;
    out[nr] = m[1];
  }
  return out;
}

/** `openat`, or `syscall_435` for numbers the table does not know (newer than the headers). */
export function syscallName(table: Readonly<Record<number | string, string>>, nr: number): string {
  return table[nr] ?? `syscall_${nr}`;
}
