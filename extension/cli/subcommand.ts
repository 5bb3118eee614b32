// The shape every `bpf-lsm <name>` subcommand has; cli.ts lists them.

export interface Subcommand {
  readonly name: string;
  /** One line for `bpf-lsm --help`. */
  readonly summary: string;
  /** Full usage for `bpf-lsm <name> --help`. */
  readonly usage: string;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}
