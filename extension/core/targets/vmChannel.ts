// The built-in VM's helper channels: virtio-serial ports whose host ends are unix sockets of qemu (see
// qemuArgs). A helper in the VM still speaks only over its stdin and stdout, but both are one of these
// ports instead of the ssh session, so its event stream leaves the guest without sshd's encryption, which
// is what limits it under TCG (~6 MB/s over ssh against ~100 MB/s over a port, measured in the 6.1 VM).
// ssh still starts the helper (or asks the VM's helper daemon for a session, ./vmDaemon.ts), carries its
// stderr, and its exit tells us the helper session is gone.
//
// Sharing: each channel is taken by one client at a time through a lock file next to its socket. A guest
// port opens once at a time, and a helper whose client has gone may still hold its port for a while
// (detaching a full tracer takes ~40 s under TCG), so the guest script refuses a busy port at once and the
// client moves on to another channel, starting from a random one. Bytes such a helper wrote late can still
// be in flight when the next client connects, so the guest script writes a fresh token before starting the
// helper, and everything before it is discarded.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { connect, Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import type { HelperTransport } from '../target';
import { carrierExit, endHelper } from './process';
import { claimPidFile } from '../../shared/pidFile';
import { NO_PORT, PORT_BUSY } from '../../shared/helperDaemon';

/** The guest script's exit status when the port is still held by an earlier helper. */
export const CHANNEL_BUSY = PORT_BUSY;

/**
 * Runs in the guest: finds the port by name, makes it stdin and stdout, writes the token and starts the
 * helper. Exit NO_PORT: no such port; CHANNEL_BUSY: an earlier helper still holds it.
 */
export const CHANNEL_SCRIPT = [
  'name=$1; token=$2; shift 2; dev=',
  'for p in /sys/class/virtio-ports/*; do [ "$(cat "$p/name" 2>/dev/null)" = "$name" ] && dev=/dev/${p##*/}; done',
  `[ -n "$dev" ] || { echo "no virtio port named $name in the VM" >&2; exit ${NO_PORT}; }`,
  `(: <>"$dev") 2>/dev/null || { echo "$dev is still held by an earlier helper" >&2; exit ${CHANNEL_BUSY}; }`,
  'exec <>"$dev" >&0',
  'printf "%s\\n" "$token"',
  'exec "$@"',
].join('\n');

export interface ChannelOptions {
  /** qemu's socket of each channel. */
  readonly sockets: readonly string[];
  /** The guest name of channel i. */
  readonly name: (i: number) => string;
  /**
   * ssh arguments of the command that starts a helper session on the port named `port` once the host is
   * connected: it writes `token` and a newline on the port first, exits CHANNEL_BUSY when the port is held.
   */
  readonly launch: (port: string, token: string) => string[];
  readonly what: string;
  readonly graceMs?: number;
  /** How long the guest may take to start the helper and write the token. */
  readonly startTimeoutMs?: number;
}

/**
 * Takes a free channel, trying them in order from `first` (wrapping around) and leaving out `skip`:
 * creates its lock file, or replaces one whose owner process is gone.
 */
export function lockChannel(sockets: readonly string[], first = 0, skip: ReadonlySet<number> = new Set()): { index: number; release: () => void } | undefined {
  for (let k = 0; k < sockets.length; k++) {
    const index = (first + k) % sockets.length;
    if (skip.has(index)) continue;
    const lock = `${sockets[index]}.lock`;
    let claimed: boolean;
    try {
      claimed = claimPidFile(lock);
    } catch {
      return undefined;
    }
    if (!claimed) continue;
    let released = false;
    return {
      index,
      release: () => {
        if (!released) rmSync(lock, { force: true });
        released = true;
      },
    };
  }
  return undefined;
}

/**
 * Feeds the first bytes of a channel: returns what follows the token line once it has been seen (possibly
 * empty), undefined before. Everything before the token (late bytes of an earlier helper) is dropped.
 */
export function tokenScanner(token: string): (chunk: Buffer) => Buffer | undefined {
  const marker = Buffer.from(`${token}\n`);
  let seen = Buffer.alloc(0);
  return (chunk) => {
    seen = Buffer.concat([seen, chunk]);
    const at = seen.indexOf(marker);
    if (at >= 0) return seen.subarray(at + marker.length);
    // Keep only what could be the start of the token.
    seen = seen.subarray(Math.max(0, seen.length - marker.length + 1));
    return undefined;
  };
}

/** ssh arguments of CHANNEL_SCRIPT: a helper process of its own on the port. */
export function helperProcessLaunch(sshArgs: (program: string, args: readonly string[]) => string[], command: readonly string[]): ChannelOptions['launch'] {
  return (port, token) => sshArgs('sh', ['-c', CHANNEL_SCRIPT, 'helper-channel', port, token, ...command]);
}

export interface ChannelResult {
  readonly transport?: HelperTransport;
  readonly reason?: string;
  /** The launch command's exit status when it ended before the session started. */
  readonly exitCode?: number | null;
  /** True when every channel was taken (by this machine's clients or by earlier sessions). */
  readonly allBusy?: boolean;
}

/** Starts the helper on a free channel; resolves without a transport (with the reason) when none can carry it. */
export async function channelTransport(opts: ChannelOptions): Promise<ChannelResult> {
  const busy = new Set<number>();
  const first = Math.floor(Math.random() * opts.sockets.length);
  for (;;) {
    const lock = lockChannel(opts.sockets, first, busy);
    if (!lock) {
      return { allBusy: true, reason: busy.size ? `all ${opts.sockets.length} helper channels are in use (${busy.size} still held by earlier helpers)` : `all ${opts.sockets.length} helper channels are in use` };
    }
    const r = await startOnChannel(opts, lock);
    if (r !== 'busy') return r;
    busy.add(lock.index);
  }
}

async function startOnChannel(opts: ChannelOptions, lock: { index: number; release: () => void }): Promise<ChannelResult | 'busy'> {
  const socket = await new Promise<Socket | Error>((resolve) => {
    const s = connect(opts.sockets[lock.index]);
    s.once('connect', () => resolve(s));
    s.once('error', (err) => resolve(err));
  });
  if (socket instanceof Error) {
    lock.release();
    return { reason: `cannot connect to helper channel ${lock.index}: ${socket.message}` };
  }
  socket.on('error', () => undefined);
  const token = randomBytes(16).toString('hex');
  const child = spawn('ssh', opts.launch(opts.name(lock.index), token), {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = carrierExit(child, 'ssh', opts.what);
  // The helper is gone once ssh is: drop the channel (a helper cut off from ssh then reads the end of its
  // input and tears down) and hand it to the next client.
  // The helper's last bytes can still be on their way through qemu when ssh reports its exit; give them a
  // moment before the socket goes.
  void exited.then(() => {
    setTimeout(() => {
      socket.destroy();
      lock.release();
    }, 300).unref();
  });

  const scan = tokenScanner(token);
  const started = await new Promise<{ rest: Buffer } | { failed: string; code?: number | null }>((resolve) => {
    let stderr = '';
    const onStderr = (b: Buffer) => {
      stderr = (stderr + b.toString('utf8')).slice(-2000);
    };
    const finish = (r: { rest: Buffer } | { failed: string; code?: number | null }) => {
      clearTimeout(timer);
      socket.off('data', onData);
      child.stderr.off('data', onStderr);
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      const rest = scan(chunk);
      if (rest) finish({ rest });
    };
    const timeoutMs = opts.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => finish({ failed: `the helper did not start on channel ${lock.index} within ${timeoutMs / 1000} s` }), timeoutMs);
    socket.on('data', onData);
    child.stderr.on('data', onStderr);
    void exited.then((code) => finish({ failed: `the helper on channel ${lock.index} ended before it started (exit ${code}): ${stderr.trim()}`, code }));
  });
  if ('failed' in started) {
    child.kill('SIGTERM');
    const code = await exited;
    // The lock goes with the socket once ssh has exited (above); the next client may then try this channel.
    return code === CHANNEL_BUSY ? 'busy' : { reason: started.failed, exitCode: 'code' in started ? started.code : undefined };
  }
  // The token's reader took the socket's first bytes; the client reads what follows them.
  const output = new PassThrough();
  if (started.rest.length) output.write(started.rest);
  socket.pipe(output);

  let closing: Promise<void> | undefined;
  return {
    transport: {
      route: `VM channel ${lock.index}`,
      input: socket,
      output,
      stderr: child.stderr,
      exited,
      close() {
        closing ??= (async () => {
          // End of input: qemu drops the connection, the guest reads the end of its port, and the helper
          // tears down.
          await endHelper(() => socket.end(), child, exited, opts.graceMs ?? 3000);
          socket.destroy();
          child.stderr.destroy();
          lock.release();
        })();
        return closing;
      },
    },
  };
}
