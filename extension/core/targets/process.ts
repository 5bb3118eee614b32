// Running programs for targets (local, or ssh to a host or the VM) and wrapping a long-running helper
// process as a HelperTransport.
import { ChildProcess, spawn } from 'node:child_process';
import { execa } from 'execa';
import { ExecResult, HelperTransport } from '../target';

export interface RunOptions {
  readonly input?: string | Buffer;
  readonly timeoutMs?: number;
}

/** How long a program that was stopped for its timeout may keep its output pipes open before they are cut. */
const PIPE_GRACE_MS = 2000;

/**
 * Runs a program and collects its output. Never throws for a non-zero exit; does throw when it cannot start
 * or did not finish within `timeoutMs`. A timeout is final even when something else holds the program's
 * output pipes open: an ssh command through a shared master connection has handed its pipes to the master,
 * which keeps them until the remote side answers (never, when a guest hangs), and a background child of a
 * shell keeps them too. Waiting for those pipes to close would turn a 30 s timeout into minutes.
 */
export async function runProgram(program: string, args: readonly string[], opts: RunOptions = {}): Promise<ExecResult> {
  const child = execa(program, args, {
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: 'ignore' as const }),
    reject: false,
    stripFinalNewline: false,
    timeout: opts.timeoutMs,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  let cut = false;
  const guard =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          cut = true;
          child.kill('SIGKILL');
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, opts.timeoutMs + PIPE_GRACE_MS);
  const r = await child.finally(() => clearTimeout(guard));
  if (cut || (r.failed && r.exitCode === undefined)) {
    const cause = r.cause as NodeJS.ErrnoException | undefined;
    if (cause?.code === 'ENOENT') throw new Error(`${program} is not installed or not on PATH`);
    if (cut || r.timedOut) throw new Error(`${program} did not finish within ${opts.timeoutMs} ms and was stopped`);
    throw new Error(`${program} could not run: ${r.shortMessage}`);
  }
  return { stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? ''), exitCode: r.exitCode ?? 128 };
}

/**
 * ssh exits 255 when it could not connect or log in, which a remote program may also do; stderr tells which.
 * Connection problems become an error that says what failed, instead of an exit code the caller misreads.
 */
export function sshFailure(result: ExecResult, what: string): Error | undefined {
  if (result.exitCode !== 255) return undefined;
  const line = result.stderr.trim().split('\n').filter(Boolean).pop() ?? '';
  if (/^ssh:|Permission denied|Host key verification failed|Connection (refused|closed|reset|timed out)|Could not resolve|No route to host|kex_exchange|REMOTE HOST IDENTIFICATION/i.test(line)) {
    const hint = /Permission denied/.test(line)
      ? ' (BatchMode is on, so ssh cannot ask for a passphrase: load your key with ssh-add, or check the User and IdentityFile of this host in ~/.ssh/config)'
      : /Host key verification failed|REMOTE HOST IDENTIFICATION/.test(line)
        ? ' (connect once with ssh in a terminal to verify and accept the host key)'
        : '';
    return new Error(`cannot reach ${what} over ssh: ${line}${hint}`);
  }
  return undefined;
}

/**
 * The exit code of the process that carries a helper (ssh, sudo), or null when it was killed by a signal or
 * could not start; a start failure is said on its stderr, where the client looks for the reason.
 */
export function carrierExit(child: ChildProcess, program: string, what: string): Promise<number | null> {
  return new Promise<number | null>((resolve) => {
    child.on('exit', (code) => resolve(code));
    child.on('error', (err) => {
      child.stderr?.emit('data', Buffer.from(`${what}: could not start ${program}: ${err.message}\n`));
      resolve(null);
    });
  });
}

/**
 * Ends a helper's input and waits for its carrier to exit. The helper tears down what it owns once its
 * input closes; detaching ~230 LSM programs takes ~30 s in the kernel, so the user is not kept waiting:
 * after the grace period the carrier is stopped and the helper finishes its teardown on the target by itself.
 */
export async function endHelper(endInput: () => void, carrier: ChildProcess, exited: Promise<number | null>, graceMs: number): Promise<void> {
  endInput();
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), graceMs).unref());
  if ((await Promise.race([exited.then(() => 'exited' as const), timer])) === 'timeout') {
    carrier.kill('SIGTERM');
    await exited;
  }
}

/** Starts a helper process and exposes it as a HelperTransport (stdin/stdout carry the protocol). */
export function spawnTransport(program: string, args: readonly string[], what: string, graceMs = 3000): HelperTransport {
  const child = spawn(program, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = carrierExit(child, program, what);
  // A helper that goes away closes its pipes; writes after that must not crash the client.
  child.stdin.on('error', () => undefined);
  let closing: Promise<void> | undefined;
  return {
    input: child.stdin,
    output: child.stdout,
    stderr: child.stderr,
    exited,
    close() {
      closing ??= (async () => {
        await endHelper(() => child.stdin.end(), child, exited, graceMs);
        // An ssh mux client hands its stdio to the master connection, which keeps our pipe ends open until
        // the remote helper has finished; drop them so this process is not held alive by that teardown.
        child.stdout.destroy();
        child.stderr.destroy();
      })();
      return closing;
    },
  };
}
