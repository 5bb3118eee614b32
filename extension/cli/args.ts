// A small, strict argument parser for the bpf-lsm subcommands: known flags only, `--` ends the options.

export interface FlagSpec {
  /** true: the flag takes a value (`--target vm` or `--target=vm`). */
  readonly value?: boolean;
}

export interface ParsedArgs {
  readonly flags: Map<string, string | true>;
  readonly positional: string[];
  /** Everything after `--`, untouched. */
  readonly rest: string[];
}

export class UsageError extends Error {}

export function parseArgs(argv: readonly string[], spec: Record<string, FlagSpec>): ParsedArgs {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      rest = argv.slice(i + 1);
      break;
    }
    if (!arg.startsWith('--')) {
      positional.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = spec[name];
    if (!flag) throw new UsageError(`unknown option --${name}`);
    if (!flag.value) {
      if (eq >= 0) throw new UsageError(`--${name} takes no value`);
      flags.set(name, true);
    } else if (eq >= 0) {
      flags.set(name, arg.slice(eq + 1));
    } else {
      const value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      flags.set(name, value);
    }
  }
  return { flags, positional, rest };
}
