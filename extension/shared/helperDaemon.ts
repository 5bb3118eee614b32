// The helper daemon of the built-in VM: one root helper process per VM boot that serves helper sessions on
// the VM's helper channels, so a trace after the first starts no node process in the guest (a node start
// costs 1.5-2.3 s under TCG). Host (core/targets/vmDaemon.ts) and guest (helper/daemon.ts) agree here on
// where it lives, the one line a client writes to it, and the exit statuses of the scripts around it.
//
// The daemon listens on nothing but the virtio ports and a FIFO in a root-only folder:
//   <DAEMON_DIR>/pid       the daemon's pid (a pid file: a dead daemon's is taken over)
//   <DAEMON_DIR>/ready     "<version> <pid>": the deployed helper version it runs, written once it reads
//                          requests (a dead daemon's is stale: scripts check that the pid lives)
//   <DAEMON_DIR>/ctl       the request FIFO (0600): one SessionRequest line per session
//   <DAEMON_DIR>/s-<token> a session's stderr FIFO (0600), made by the session script, read by its `cat`
//   <DAEMON_DIR>/s-<token>.rc   the session's exit status, written before its stderr FIFO closes
//   <DAEMON_DIR>/sessions  how many sessions it has started (for tests: no new process per session)
//   <DAEMON_DIR>/log       its own stderr

/** helper.js flag that runs the daemon. */
export const DAEMON_FLAG = '--daemon';

/** Root-only folder of the daemon (tmpfs: gone with the VM). */
export const DAEMON_DIR = '/run/bpf-lsm-studio/daemon';

/**
 * The shell line that starts the daemon in the background: its own session with no terminal, its stderr into
 * <DAEMON_DIR>/log, traced programs run as uid:gid. `helper`, `uid` and `gid` are shell words (literals, or
 * quoted variables of the script it goes into). Used by the host's start script and by the VM image's init.
 */
export function daemonStartLine(helper: string, uid: string, gid: string): string {
  return `SUDO_UID=${uid} SUDO_GID=${gid} setsid /usr/bin/node ${helper} ${DAEMON_FLAG} </dev/null >>${DAEMON_DIR}/log 2>&1 &`;
}

/** Session script: no daemon of this version is running (start one, then try again). */
export const NO_DAEMON = 96;
/** Session script: the daemon went away before the session ended (it was killed). */
export const DAEMON_GONE = 95;
/** The guest has no virtio port of that name. */
export const NO_PORT = 97;
/** The port is still held by an earlier session (the client moves on to another channel). */
export const PORT_BUSY = 98;

const PORT_NAME = /^org\.bpf-lsm-studio\.helper\.\d{1,2}$/;
const TOKEN = /^[0-9a-f]{32}$/;

/** What a session script asks the daemon: serve a session on this port, starting with this token. */
export interface SessionRequest {
  /** The virtio port's name (its host end is already connected). */
  readonly port: string;
  /** Written first on the port; the client drops every byte before it. Also names the stderr FIFO. */
  readonly token: string;
}

/**
 * The shell command that writes a request line from $port and $token (the session script runs it with the
 * control FIFO as its stdout; the unit test runs it as it is and reads back what it wrote).
 */
export const REQUEST_PRINTF = `printf '%s %s\\n' "$port" "$token"`;

/** A request line, or undefined for anything else (the FIFO is root-only, but a line is still checked). */
export function parseSessionRequest(line: string): SessionRequest | undefined {
  const [port, token, ...rest] = line.trim().split(' ');
  if (rest.length || !PORT_NAME.test(port ?? '') || !TOKEN.test(token ?? '')) return undefined;
  return { port, token };
}

/** The stderr FIFO of the session with this token. */
export const sessionFifo = (token: string) => `${DAEMON_DIR}/s-${token}`;
