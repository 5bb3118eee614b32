// The helper daemon of the built-in VM (`node helper.js --daemon`, root, one per VM boot, started over ssh
// by the host the first time it needs a helper): serves helper sessions in this process on the VM's
// virtio-serial helper channels, so a session costs a FIFO write instead of a node start (1.5-2.3 s in a
// TCG guest). Layout and request line: ../shared/helperDaemon.ts.
//
// A session script (run over ssh by the host, after it connected to the channel's qemu socket) makes its
// stderr FIFO, writes "port token" to the control FIFO and copies the stderr FIFO to ssh until it ends. For
// each request the daemon opens the port (refusing a port an earlier session still holds), writes the token,
// and runs a HelperSession on it, logging to the session's FIFO. Each session owns what it created exactly
// as a helper process did: when the port reads its end (the host disconnected) the session tears down
// everything it owns except the resident tracer. Then the daemon writes the exit status and closes the FIFO,
// the script's `cat` ends and ssh exits, so "ssh exited" still means "the session is gone". If the daemon
// dies, every FIFO closes with it: the scripts end (exit DAEMON_GONE) and the kernel frees the sessions'
// objects with the daemon's file descriptors; the next client starts a new daemon.
//
// virtio_console facts this relies on: while the host end of a port is not connected a guest read returns 0
// at once, so a port is opened only once its host is connected (the host connects before it asks); a second
// open of a port fails with EBUSY; when the host disconnects, reads return 0 once buffered data is consumed.
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, constants, createReadStream, createWriteStream, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { NativeBinding } from '../../native/index';
import { DAEMON_DIR, NO_PORT, parseSessionRequest, PORT_BUSY, SessionRequest, sessionFifo } from '../shared/helperDaemon';
import { claimPidFile, readPidFile } from '../shared/pidFile';
import { pinToLastCpu } from './cpuPlacement';
import { CHECK_OBJECTS_FLAG, ObjectChecker } from './objectCheck';
import { HelperSession } from './session';
import { writeFileAtomic } from '../shared/atomicWrite';

/**
 * What a session over a VM channel may queue towards its client before its traces stop draining the kernel
 * rings (1 MiB elsewhere). The client runs on the VM's host, and on a host with no core to spare (the vCPUs
 * pinned, the CLI kept to the helper vCPU's core: see extension/core/vm/pinning.ts) it decodes behind the
 * traced program: with 1 MiB queued the 8 MiB ring overflowed (26-64k of trace_loop 20000's 280k records lost,
 * counted), with 64 MiB (of the guest's 2 GiB) none were, and the client caught up once the program ended.
 */
const VM_CHANNEL_BACKLOG = 64 << 20;

const CTL = join(DAEMON_DIR, 'ctl');
const PID = join(DAEMON_DIR, 'pid');
const READY = join(DAEMON_DIR, 'ready');

const writeAtomic = (file: string, text: string) => writeFileAtomic(file, text, 0o600);

/** The guest device of the virtio port with this name, e.g. /dev/vport0p3. */
function portDevice(name: string): string | undefined {
  let ports: string[];
  try {
    ports = readdirSync('/sys/class/virtio-ports');
  } catch {
    return undefined;
  }
  for (const p of ports) {
    try {
      if (readFileSync(`/sys/class/virtio-ports/${p}/name`, 'utf8').trim() === name) return `/dev/${p}`;
    } catch {
      // a port without a name
    }
  }
  return undefined;
}

/**
 * Session FIFOs left by a daemon that died: a session script may still wait in its `cat` for a writer that
 * will never come. Opening and closing each one ends that wait (the `cat` reads EOF, the script exits).
 */
function sweepSessionFifos(): void {
  for (const name of readdirSync(DAEMON_DIR)) {
    if (!/^s-[0-9a-f]{32}$/.test(name)) continue;
    const file = join(DAEMON_DIR, name);
    try {
      closeSync(openSync(file, constants.O_RDWR | constants.O_NONBLOCK));
    } catch {
      // gone meanwhile
    }
    rmSync(file, { force: true });
  }
}

export interface DaemonOptions {
  readonly loadNative: () => NativeBinding;
  /** The helper.js the daemon runs (its folder names the deployed version). */
  readonly helperJs: string;
  /** Who traced programs and object checks run as (SUDO_UID/SUDO_GID of the daemon). */
  readonly user: { uid: number; gid: number };
}

export class HelperDaemon {
  private readonly sessions = new Set<HelperSession>();
  private started = 0;
  private stopping: Promise<void> | undefined;
  /**
   * One object-check child for every session (not per session), started as soon as the daemon serves: a
   * node start costs 0.7-1.9 s in the TCG guest, which the first tracer acquire of a boot otherwise waited
   * for (check 870-1870 ms against 140-230 ms with the child running). Started at the first session's
   * hello instead, it was not ready yet when a client with its tracer cached sent the object 0.7 s later.
   */
  private readonly checker: ObjectChecker;
  private readonly version: string;

  constructor(private readonly opts: DaemonOptions) {
    this.version = basename(dirname(opts.helperJs));
    this.checker = new ObjectChecker({ program: process.execPath, args: [opts.helperJs, CHECK_OBJECTS_FLAG], uid: opts.user.uid, gid: opts.user.gid });
  }

  private log(line: string): void {
    try {
      process.stderr.write(`bpf-lsm helper daemon[${process.pid}]: ${line}\n`);
    } catch {
      // its log file is gone: nothing to say it with
    }
  }

  /** Claims the daemon folder and reads requests; false when a live daemon already holds it. */
  start(): boolean {
    mkdirSync(DAEMON_DIR, { recursive: true, mode: 0o700 });
    chmodSync(dirname(DAEMON_DIR), 0o700);
    chmodSync(DAEMON_DIR, 0o700);
    if (!claimPidFile(PID)) {
      this.log(`another daemon (pid ${readPidFile(PID)}) serves this VM`);
      return false;
    }
    const pinned = pinToLastCpu();
    if (pinned) this.log(pinned);
    rmSync(READY, { force: true });
    rmSync(CTL, { force: true });
    sweepSessionFifos();
    // Node cannot make a FIFO itself.
    execFileSync('mkfifo', ['-m', '600', CTL]);
    // Read and write: the FIFO never reads EOF between two writers, and a writer never blocks on open.
    const ctl = openSync(CTL, constants.O_RDWR);
    let pending = '';
    createReadStream('', { fd: ctl, autoClose: false, encoding: 'utf8' }).on('data', (chunk: string | Buffer) => {
      pending += String(chunk);
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        const request = parseSessionRequest(line);
        if (request) void this.serve(request);
        else this.log(`ignored a request line that is not "<port> <token>": ${JSON.stringify(line.slice(0, 200))}`);
      }
      if (pending.length > 4096) pending = '';
    });
    writeAtomic(join(DAEMON_DIR, 'sessions'), '0\n');
    writeAtomic(READY, `${this.version} ${process.pid}\n`);
    this.log(`serving helper sessions of version ${this.version}`);
    this.checker.warm();
    return true;
  }

  private async serve(request: SessionRequest): Promise<void> {
    if (this.stopping) return;
    const fifo = sessionFifo(request.token);
    let errFd: number;
    try {
      // Only a FIFO the session script made in this root-only folder.
      if (!lstatSync(fifo).isFIFO()) return;
      // Read-write and non-blocking: never waits for the script's `cat`, never fails if it is not there yet.
      errFd = openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
    } catch {
      return;
    }
    const number = ++this.started;
    writeAtomic(join(DAEMON_DIR, 'sessions'), `${this.started}\n`);
    const log = (line: string) => {
      try {
        writeSync(errFd, `bpf-lsm helper[${process.pid} session ${number}]: ${line}\n`);
      } catch {
        // EAGAIN (nobody reads the FIFO) or gone: a log line is not worth blocking a session for
      }
    };
    const end = (status: number) => {
      try {
        writeFileSync(`${fifo}.rc`, `${status}\n`, { mode: 0o600 });
      } catch {
        // the script reads a missing status as "daemon gone", which is close enough
      }
      closeSync(errFd);
    };
    const device = portDevice(request.port);
    if (!device) {
      log(`no virtio port named ${request.port} in the VM`);
      return end(NO_PORT);
    }
    let port: number;
    try {
      port = openSync(device, constants.O_RDWR);
    } catch (err) {
      const busy = (err as NodeJS.ErrnoException).code === 'EBUSY';
      log(busy ? `${device} is still held by an earlier session` : `cannot open ${device}: ${(err as Error).message}`);
      return end(busy ? PORT_BUSY : 1);
    }
    try {
      writeSync(port, `${request.token}\n`);
    } catch (err) {
      log(`cannot write to ${device}: ${(err as Error).message}`);
      closeSync(port);
      return end(1);
    }
    // fs streams read and write the port on the thread pool, with backpressure (see helper.ts). The input
    // stream owns the descriptor: it closes it once no read is in progress (a fs stream's destroy closes
    // its fd whatever autoClose says, so exactly one of the two may own it).
    const input = createReadStream('', { fd: port, autoClose: true, highWaterMark: 256 * 1024 });
    const output = createWriteStream('', { fd: port, autoClose: false });
    const checker = this.checker;
    const session = new HelperSession({
      input,
      output,
      loadNative: this.opts.loadNative,
      log,
      objectChecker: { check: (bytes) => checker.check(bytes), warm: () => checker.warm(), close: () => undefined },
      sessionNumber: number,
      highWaterBytes: VM_CHANNEL_BACKLOG,
    });
    this.sessions.add(session);
    session.start();
    await session.finished;
    this.sessions.delete(session);
    // A read may still wait on the port in a pool thread (a session that ended before its host let go):
    // the descriptor closes when it returns, which is when the host disconnects.
    input.destroy();
    end(0);
  }

  /** Ends every session (each tears down what it owns) and gives up the folder. */
  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log(`stopping: ${reason}`);
      await Promise.all([...this.sessions].map((s) => s.teardown(`the helper daemon is stopping (${reason})`)));
      this.checker.close();
      if (readPidFile(PID) === process.pid) {
        rmSync(READY, { force: true });
        rmSync(CTL, { force: true });
        rmSync(PID, { force: true });
      }
    })();
    return this.stopping;
  }
}

/** `node helper.js --daemon`: runs until SIGTERM/SIGINT (or the VM stops). */
export function runDaemon(opts: DaemonOptions): void {
  const daemon = new HelperDaemon(opts);
  // Reads of the ports and of the control FIFO block pool threads, which exit() would wait for.
  const exit = (code: number) => {
    try {
      opts.loadNative().exitNow(code);
    } catch {
      process.exit(code);
    }
  };
  if (!daemon.start()) exit(0);
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.on(signal, () => void daemon.stop(`received ${signal}`).finally(() => exit(0)));
  // setsid left no terminal, but a hangup must not end the sessions of every client.
  process.on('SIGHUP', () => undefined);
  let failing = false;
  process.on('uncaughtException', (err) => {
    if (failing) return;
    failing = true;
    process.stderr.write(`bpf-lsm helper daemon[${process.pid}]: internal error: ${err.stack ?? err.message}\n`);
    void daemon.stop('internal error').finally(() => exit(70));
  });
}
