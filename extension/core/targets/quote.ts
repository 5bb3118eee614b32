// Quoting for commands that pass through a remote POSIX shell (ssh joins its arguments with spaces and hands
// the result to the login shell), so `bpf-lsm vm ssh -- CMD ARGS...` runs CMD with exactly those arguments.

/** Characters that never need quoting. `=` is left out so a first word like `A=b` is never an assignment. */
const SAFE = /^[A-Za-z0-9_@%+:,./-]+$/;

export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new Error('an argument contains a NUL byte, which no program can receive; remove it');
  if (SAFE.test(arg)) return arg;
  // Inside single quotes nothing is special except the quote itself, which is closed, escaped and reopened.
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** One command line for a remote shell that runs `program` with exactly `args`. */
export function remoteCommand(program: string, args: readonly string[]): string {
  if (!program) throw new Error('no program given to run');
  return [program, ...args].map(shellQuote).join(' ');
}
