// Helper sessions from the built-in VM's helper daemon (../../helper/daemon.ts): the host connects to a free
// helper channel (./vmChannel.ts) and runs SESSION_SCRIPT over the shared ssh connection, which asks the
// daemon for a session on that port and then carries the session's stderr until the session ends. No node
// starts in the guest, and no deployment check runs: a daemon of the bundle's version was deployed and
// checksummed when it was started. When no daemon of this version runs (first trace of a VM boot, a new
// build, a killed daemon) the script says so at once; the helper is deployed, the daemon started (replacing
// one of another version) and the session asked for again.
import { DAEMON_DIR, daemonStartLine, NO_DAEMON, DAEMON_GONE, REQUEST_PRINTF } from '../../shared/helperDaemon';
import type { Target } from '../target';
import { ChannelOptions, ChannelResult, channelTransport } from './vmChannel';

/**
 * Runs in the guest as root: $1 version, $2 port name, $3 token. Only shell builtins on the way in but
 * mkfifo; the request goes through a read-write open of the control FIFO, which never blocks (a dead
 * daemon's request is lost with the FIFO's buffer, and the client's start timeout ends the wait).
 */
export const SESSION_SCRIPT = [
  `v=$1; port=$2; token=$3; d=${DAEMON_DIR}; f=$d/s-$token; pid=; have=`,
  '{ read -r have pid < "$d/ready"; } 2>/dev/null',
  `[ -n "$pid" ] && [ "$have" = "$v" ] && kill -0 "$pid" 2>/dev/null || { echo "no helper daemon of version $v runs in the VM" >&2; exit ${NO_DAEMON}; }`,
  'mkfifo -m 600 "$f" || exit 1',
  `{ exec 3<>"$d/ctl" && ${REQUEST_PRINTF} >&3 && exec 3>&-; } || { rm -f "$f"; exit ${NO_DAEMON}; }`,
  'cat "$f" >&2',
  `rc=${DAEMON_GONE}; { read -r rc < "$f.rc"; } 2>/dev/null`,
  'rm -f "$f" "$f.rc"',
  `[ "$rc" = ${DAEMON_GONE} ] && echo "the helper daemon (pid $pid) ended during the session" >&2`,
  'exit "$rc"',
].join('\n');

/**
 * Runs in the guest as root: $1 version, $2 helper.js, $3 uid, $4 gid of whom traced programs run as.
 * Leaves a running daemon of this version alone; stops one of another version (its sessions end);
 * starts the daemon in its own session with no terminal and waits until it reads requests.
 */
export const START_SCRIPT = [
  `v=$1; helper=$2; d=${DAEMON_DIR}; child=`,
  'ready() { have=; rpid=; { read -r have rpid < "$d/ready"; } 2>/dev/null; [ "$have" = "$v" ] && [ -n "$rpid" ] && kill -0 "$rpid" 2>/dev/null; }',
  'holder() { pid=; { read -r pid < "$d/pid"; } 2>/dev/null; [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }',
  'ready && exit 0',
  // A daemon of another version is stopped; one that is still starting (another client's) is waited for.
  'if holder && [ "$rpid" = "$pid" ]; then',
  '  kill -TERM "$pid"; i=0',
  '  while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done',
  '  kill -KILL "$pid" 2>/dev/null',
  'fi',
  'if ! holder; then',
  '  mkdir -p -m 700 "$d"',
  `  ${daemonStartLine('"$helper"', '$3', '$4')}`,
  '  child=$!',
  'fi',
  'i=0',
  'while [ $i -lt 600 ]; do',
  '  ready && exit 0',
  // Our daemon, or the one that won the race to the pid file, is still on its way.
  '  holder || { [ -n "$child" ] && kill -0 "$child" 2>/dev/null; } || break',
  '  sleep 0.05; i=$((i+1))',
  'done',
  'echo "the helper daemon did not start:" >&2; tail -n 5 "$d/log" >&2; exit 1',
].join('\n');

export interface DaemonSessionOptions extends Pick<ChannelOptions, 'sockets' | 'name' | 'what'> {
  readonly target: Target;
  /** ssh arguments that run `program args` in the guest as root. */
  readonly sshArgs: (program: string, args: readonly string[]) => string[];
  /** The bundle's version (the deployment folder's name). */
  readonly version: string;
  /** Deploys the helper (checksummed) and returns its path in the guest. */
  readonly deploy: () => Promise<string>;
  /** Whom traced programs run as. */
  readonly user: { readonly uid: number; readonly gid: number };
  /** Called when the daemon had to be started, with how long that took. */
  readonly onStart?: (ms: number) => void;
}

/** Starts the daemon of this version in the guest (deploying the helper first); throws what went wrong. */
async function startDaemon(opts: DaemonSessionOptions): Promise<void> {
  const helper = await opts.deploy();
  const r = await opts.target.exec('sh', ['-c', START_SCRIPT, 'helper-daemon', opts.version, helper, String(opts.user.uid), String(opts.user.gid)], { timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new Error(`the helper daemon did not start in ${opts.what} (exit ${r.exitCode}): ${r.stderr.trim()}`);
}

/**
 * A helper session from the daemon on a free channel; starts the daemon when none of this version runs.
 * Resolves without a transport (with the reason) when the daemon cannot serve one.
 */
export async function daemonTransport(opts: DaemonSessionOptions): Promise<ChannelResult> {
  const channel = { sockets: opts.sockets, name: opts.name, what: opts.what, launch: (port: string, token: string) => opts.sshArgs('sh', ['-c', SESSION_SCRIPT, 'helper-session', opts.version, port, token]) };
  const first = await channelTransport(channel);
  if (first.transport || first.exitCode !== NO_DAEMON) return first;
  const t0 = Date.now();
  try {
    await startDaemon(opts);
  } catch (err) {
    return { reason: (err as Error).message };
  }
  opts.onStart?.(Date.now() - t0);
  return channelTransport(channel);
}
