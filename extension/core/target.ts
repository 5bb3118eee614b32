// What a target is to the rest of the product: a Linux kernel we can run commands on and start the
// privileged helper on. Implementations: local (this box), ssh:<host> (system OpenSSH) and vm (the built-in
// QEMU VM, reached over ssh on 127.0.0.1). The helper client only ever sees a HelperTransport.
import type { Readable, Writable } from 'node:stream';

export type TargetKind = 'local' | 'ssh' | 'vm';

export interface ExecResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
}

/** A running privileged helper: its stdin/stdout carry the helper protocol; stderr is diagnostics only. */
export interface HelperTransport {
  readonly input: Writable;
  readonly output: Readable;
  readonly stderr: Readable;
  /** Resolves with the exit code (or null when killed by a signal) once the helper process is gone. */
  readonly exited: Promise<number | null>;
  /** How the protocol travels, for messages and benchmarks (e.g. "ssh", "VM channel 2"). */
  readonly route?: string;
  /** Ends the transport: closes stdin (the helper then tears down everything it owns) and kills it after a grace period. */
  close(): Promise<void>;
}

export interface Target {
  /** `local`, `vm` or `ssh:<host>`: what the user picks and what `--target` takes. */
  readonly id: string;
  readonly kind: TargetKind;
  /** Runs a program on the target with exactly these arguments (each quoted for a remote shell when remote). */
  exec(program: string, args: readonly string[], options?: { input?: string | Buffer; timeoutMs?: number; root?: boolean }): Promise<ExecResult>;
  /** Copies local files to the target (creating the directory), keeping their mode. */
  copyTo(files: ReadonlyArray<{ local: string; remote: string }>): Promise<void>;
  /**
   * Deploys the helper bundle (dist/helper.js and the native addon) if the target lacks this exact version,
   * and starts it as root. Rejects with an actionable message when root is not available (e.g. sudo -n fails).
   */
  startHelper(): Promise<HelperTransport>;
}
