// The privileged helper: `node dist/helper.js`, started as root on the target (sudo -n, over ssh or locally).
// It speaks only over stdin/stdout (never a listening socket) and owns everything it creates: when its
// stdin ends, the ssh connection drops, or it gets SIGTERM/SIGINT/SIGHUP, every program is detached, every
// object closed and every spawned process killed before it exits. (SIGKILL cannot be caught; the kernel
// then drops the links and maps with the last file descriptor, and only spawned processes may remain.)
import { fstatSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { loadNative } from '../../native/index';
import { CHECK_OBJECTS_FLAG, ObjectChecker, runObjectCheckChild } from './objectCheck';
import { connectingUser } from './processes';
import { HelperSession } from './session';

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

/**
 * Node writes to pipes synchronously, which would stall the event loop (and every trace) whenever the
 * client reads slowly; a non-blocking socket over fd 1 gives real backpressure instead.
 */
function clientOutput(): Writable {
  try {
    const st = fstatSync(1);
    if (st.isFIFO() || st.isSocket()) return new Socket({ fd: 1, readable: false, writable: true });
  } catch {
    // fall back to process.stdout
  }
  return process.stdout;
}

function main(): void {
  // Each running trace session keeps one libuv pool thread in a ring buffer poll; load/attach/detach
  // need threads too. The pool is created on first use, so this still takes effect here.
  process.env.UV_THREADPOOL_SIZE ??= '16';
  if (process.stdin.isTTY) {
    process.stderr.write(
      'bpf-lsm helper: this program speaks a binary protocol on stdin/stdout and is started by the BPF-LSM Studio extension or the bpf-lsm CLI (through sudo or ssh); it is not meant for a terminal.\n',
    );
    process.exit(2);
  }
  const user = connectingUser();
  const objectChecker = new ObjectChecker({ program: process.execPath, args: [process.argv[1], CHECK_OBJECTS_FLAG], uid: user.uid, gid: user.gid });
  const session = new HelperSession({ input: process.stdin, output: clientOutput(), loadNative, log, objectChecker });
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
    void session.teardown('internal error').finally(() => process.exit(70));
  });
  void session.finished.then(() => process.exit(0));
}

if (process.argv[2] === CHECK_OBJECTS_FLAG) runObjectCheckChild(loadNative);
else main();
