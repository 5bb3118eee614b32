// The privileged helper: `node dist/helper.js`, started as root on the target (sudo -n, over ssh or locally).
// It speaks only over stdin/stdout (never a listening socket) and owns everything it creates: when its
// stdin ends, the ssh connection drops, or it gets SIGTERM/SIGINT/SIGHUP, every program is detached, every
// object closed and every spawned process killed before it exits. (SIGKILL cannot be caught; the kernel
// then drops the links and maps with the last file descriptor, and only spawned processes may remain.)
import { createReadStream, createWriteStream, fstatSync, Stats } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isatty } from 'node:tty';
import { loadNative } from '../../native/index';
import { CHECK_OBJECTS_FLAG, ObjectChecker, runObjectCheckChild } from './objectCheck';
import { connectingUser } from './processes';
import { unpinFolder } from './residentTracer';
import { KEEPER_FLAG, RELEASE_FLAG } from './tracerProcesses';
import { keeperLog, runKeeper } from './tracerKeeper';
import { HelperSession } from './session';
import { runDaemon } from './daemon';
import { DAEMON_FLAG } from '../shared/helperDaemon';

// stderr travels over the same ssh channel as the protocol. Once the connection is cut, every write to it
// fails with EPIPE; unhandled, that error became an uncaught exception whose own log line failed again, a
// loop that kept a disconnected helper spinning at full CPU with its programs attached and its traced
// program running (found by the ssh-cut case of test/vm/hardening.test.ts). Logging stops instead.
let stderrGone = false;
process.stderr.on('error', () => {
  stderrGone = true;
});

function log(line: string): void {
  if (stderrGone || process.stderr.destroyed) return;
  try {
    process.stderr.write(`bpf-lsm helper[${process.pid}]: ${line}\n`);
  } catch {
    stderrGone = true;
  }
}

/** The protocol streams over stdin and stdout; `channel` when they are the VM's helper channel. */
function clientStreams(): { input: Readable; output: Writable; channel: boolean } {
  let out: Stats | undefined;
  let inp: Stats | undefined;
  try {
    out = fstatSync(1);
    inp = fstatSync(0);
  } catch {
    // fall back to process.stdin/stdout
  }
  // The built-in VM's helper channel: stdin and stdout are one virtio-serial port, a character device that
  // Node would write synchronously. fs streams read and write it on the thread pool, with backpressure
  // (a port takes at most 32 KiB per write; fs streams finish partial writes).
  if (out?.isCharacterDevice() && inp?.isCharacterDevice() && !isatty(0) && !isatty(1)) {
    return {
      input: createReadStream('', { fd: 0, autoClose: false, highWaterMark: 256 * 1024 }),
      output: createWriteStream('', { fd: 1, autoClose: false }),
      channel: true,
    };
  }
  // Node writes to pipes synchronously, which would stall the event loop (and every trace) whenever the
  // client reads slowly; a non-blocking socket over fd 1 gives real backpressure instead.
  if (out?.isFIFO() || out?.isSocket()) return { input: process.stdin, output: new Socket({ fd: 1, readable: false, writable: true }), channel: false };
  return { input: process.stdin, output: process.stdout, channel: false };
}

function main(): void {
  // Each running trace session keeps one libuv pool thread in a ring buffer poll; load/attach/detach
  // need threads too. The pool is created on first use, so this still takes effect here.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  if (isatty(0)) {
    process.stderr.write(
      'bpf-lsm helper: this program speaks a binary protocol on stdin/stdout and is started by the BPF-LSM Studio extension or the bpf-lsm CLI (through sudo or ssh); it is not meant for a terminal.\n',
    );
    process.exit(2);
  }
  const user = connectingUser();
  const objectChecker = new ObjectChecker({ program: process.execPath, args: [process.argv[1], CHECK_OBJECTS_FLAG], uid: user.uid, gid: user.gid });
  const { input, output, channel } = clientStreams();
  const session = new HelperSession({ input, output, loadNative, log, objectChecker });
  // On a VM channel, a thread-pool read stays blocked on the port until the host lets go, and exit() waits
  // for it (libuv joins its pool): end with _exit once the teardown, and with it every write, is done.
  const exit = (code: number) => {
    if (channel) {
      try {
        loadNative().exitNow(code);
      } catch {
        // no addon: nothing was loaded either; the plain exit below may wait for the host to disconnect
      }
    }
    process.exit(code);
  };
  session.start();
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => void session.teardown(`received ${signal}`));
  }
  let failing = false;
  process.on('uncaughtException', (err) => {
    // Once: a second failure during teardown must not start another round of logging and teardown.
    if (failing) return;
    failing = true;
    log(`internal error: ${err.stack ?? err.message}`);
    void session.teardown('internal error').finally(() => exit(70));
  });
  void session.finished.then(() => exit(0));
}

/** A tracer's keeper (tracerKeeper.ts): whatever ends it says so in the tracer's keeper log. */
function keeper(key: string): void {
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    process.on(signal, () => {
      keeperLog(key, `left: received ${signal}`);
      process.exit(0);
    });
  }
  runKeeper(loadNative(), key).then(
    () => process.exit(0),
    (err: Error) => {
      keeperLog(key, `failed: ${err.stack ?? err.message}`);
      process.exit(70);
    },
  );
}

if (process.argv[2] === CHECK_OBJECTS_FLAG) runObjectCheckChild(loadNative);
else if (process.argv[2] === KEEPER_FLAG) keeper(process.argv[3] ?? '');
else if (process.argv[2] === DAEMON_FLAG) {
  process.env.UV_THREADPOOL_SIZE ??= '32';
  runDaemon({ loadNative, helperJs: process.argv[1], user: connectingUser() });
} else if (process.argv[2] === RELEASE_FLAG) {
  unpinFolder(loadNative(), process.argv[3] ?? '').finally(() => process.exit(0));
} else main();
