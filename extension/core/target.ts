// What a target is to the rest of the product: a Linux kernel we can run commands on and start the
// privileged helper on, and that owns what is known about that kernel. Implementations (targets/): local
// (this box), ssh:<host> (system OpenSSH) and vm (the built-in QEMU VM, reached over ssh on 127.0.0.1).
// Callers never branch on the kind: they call ensureUp() before use, ask `kernel` for identity, BTF and the
// hook catalog, and read labels from the target. The helper client only ever sees a HelperTransport.
import type { Readable, Writable } from 'node:stream';
import type { TargetKernel } from './targets/kernel';

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
  /**
   * Event batches are worth compressing on this route: ssh encrypts every byte and may cross a network.
   * Not a local pipe, nor the VM's helper channel (measured there: compressing cost the helper as much
   * CPU as the channel saved).
   */
  readonly compressEvents?: boolean;
  /** Ends the transport: closes stdin (the helper then tears down everything it owns) and kills it after a grace period. */
  close(): Promise<void>;
}

export type Progress = (message: string) => void;

export interface Target {
  /** `local`, `vm` or `ssh:<host>`: what the user picks and what `--target` takes. */
  readonly id: string;
  /** For the targets module itself; the rest of the product asks the target instead of branching on this. */
  readonly kind: TargetKind;
  /** Short, for the status bar: `VM`, `local`, `ssh:box`. */
  readonly label: string;
  /** In sentences: "the built-in VM", "ssh host box", "this machine". */
  readonly description: string;
  /** Programs started there see this machine's files, so a working folder and environment carry over. */
  readonly sharesThisMachine: boolean;
  /** The target's kernel: identity, BTF (one identity-keyed cache) and hook catalog. */
  readonly kernel: TargetKernel;
  /** The product starts and stops this machine (the built-in VM): what is left resident on it goes with it. */
  readonly ownedMachine: boolean;
  /** True when the target is a machine this product starts (the built-in VM) and it is not running now. */
  stopped(): boolean;
  /** Brings the target up when it is this product's to start (boots the built-in VM); a no-op otherwise. */
  ensureUp(progress?: Progress): Promise<void>;
  /**
   * While a traced program runs: keeps this process off the host core that runs it, where the target is a
   * machine on this host with every core taken (the built-in VM with its vCPUs pinned). Resolves to what gives
   * the process its cores back, or undefined when it left the process alone. Absent for other targets.
   */
  placeTracingClient?(): Promise<(() => Promise<void>) | undefined>;
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
