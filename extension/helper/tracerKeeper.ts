// The keeper of a resident tracer: a detached helper process per tracer, started with it (residentTracer.ts),
// that wakes every second (every 5 s once the syscall programs are detached) and
//   - detaches the syscall programs (tr_sys_enter, tr_sys_exit) once no trace has started (and no session
//     ended) for SYSCALL_IDLE_MS and no live session has a process in the filter. Attached, they run on every syscall
//     of every process on the target, traced or not; they stay loaded (pinned as programs), so the next trace
//     attaches them again in milliseconds instead of loading them;
//   - releases the tracer once its idle time (a setting; 0 on the built-in VM: never) has passed that way.
// A trace puts its process into the filter through withSyscallLinks, which attaches them first, under the
// lock that the keeper's detach takes too: no process enters the filter while they are detached.
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeBinding } from '../../native/index';
import { claimPidFile, pidAlive, readPidFile } from '../shared/pidFile';
import { keeperRuns, KEY_PATTERN, openShared, startKeeper, PIN_ROOT, readMeta, releaseInBackground, STATE_ROOT, SYSCALL_PROGRAMS, touch, TRACED_MAP, withLock, type TracerMeta } from './residentTracer';

/** How long the syscall programs stay attached after a trace: back-to-back traces find them attached. */
export const SYSCALL_IDLE_MS = 10_000;
/** Taken by withSyscallLinks and the keeper's detach; a tracer load (seconds, under the tracer lock) does not hold it. */
const SYSCALL_LOCK = '.syscalls-lock';
/** A trace waits at most this long for the keeper's detach to finish. */
const SYSCALL_LOCK_MS = 30_000;

/**
 * Whether a live session has live processes in the tracer's filter: the idle clock alone cannot tell a long
 * trace (no request for minutes) from a connection left open with nothing traced. Entries of processes that
 * are gone are not counted (tr_exit misses the exits of the moments its link is away, in a release a trace
 * takes back); with `dropGone` they are deleted too, which only a caller holding the syscall lock may do: a
 * session adds a process under it, and a new process may have that pid again.
 */
async function tracing(native: NativeBinding, key: string, dropGone = false): Promise<boolean> {
  const bpf = openShared(() => native.BpfObject.openFile(join(STATE_ROOT, key, 'maps.bpf.o')), join(PIN_ROOT, key), []);
  try {
    await bpf.load(0, 1 << 16);
    const page = bpf.mapEntries(TRACED_MAP, null, 8192);
    const vs = page.count ? page.values.length / page.count : 0;
    let live = false;
    for (let i = 0; i < page.count; i++) {
      const key4 = page.keys.subarray(i * 4, i * 4 + 4);
      if (!pidAlive(key4.readUInt32LE(0))) {
        if (dropGone) bpf.mapDelete(TRACED_MAP, Buffer.from(key4));
        continue;
      }
      // struct tr_task: u32 root, u16 depth, u16 slot.
      if (pidAlive(readPidFile(join(STATE_ROOT, key, `slot-${page.values.readUInt16LE(i * vs + 6)}`)))) {
        live = true;
        if (!dropGone) break;
      }
    }
    return live;
  } finally {
    await bpf.close();
  }
}

/** A release of the tracer `key` is under way (its pin folder renamed away, still being unpinned). */
function releaseUnderWay(key: string): boolean {
  try {
    return readdirSync(PIN_ROOT).some((n) => n.startsWith(`release-${key}-`));
  } catch {
    return false;
  }
}

/** The syscall programs of the tracer that are pinned as programs (none for a tracer without syscall records). */
function syscallPrograms(key: string): string[] {
  const dir = join(PIN_ROOT, key);
  return SYSCALL_PROGRAMS.filter((p) => existsSync(join(dir, `prog_${p}`)));
}

/**
 * Runs `write` (an update of the tracer's filter) once the tracer's syscall programs are attached: when the
 * keeper detached them, they are attached again from their pinned programs first.
 */
export async function withSyscallLinks(native: NativeBinding, key: string, write: () => void): Promise<void> {
  if (!KEY_PATTERN.test(key)) throw new Error(`"${key}" is not a tracer key`);
  await withLock(
    () => {
      const dir = join(PIN_ROOT, key);
      for (const p of syscallPrograms(key)) {
        const link = join(dir, `link_${p}`);
        if (!existsSync(link)) native.attachPinnedTracepoint(join(dir, `prog_${p}`), link);
      }
      write();
    },
    SYSCALL_LOCK_MS,
    SYSCALL_LOCK,
  );
  // Every trace makes sure its tracer has a keeper, whatever ended the last one.
  startKeeper(key);
}

function lastUsed(key: string, meta: TracerMeta): number {
  try {
    return Math.max(meta.createdAt, statSync(join(STATE_ROOT, key, 'last-used')).mtimeMs);
  } catch {
    return meta.createdAt; // never used since it was created
  }
}

/** Detaches the attached syscall programs unless a trace needs them; true when it did. */
async function detachIdleSyscalls(native: NativeBinding, key: string, meta: TracerMeta): Promise<boolean> {
  const dir = join(PIN_ROOT, key);
  return withLock(
    async () => {
      if (Date.now() - lastUsed(key, meta) < SYSCALL_IDLE_MS) return false;
      if (await tracing(native, key, true).catch(() => true)) {
        // A long trace: ask again after another idle period, not every second.
        touch(join(STATE_ROOT, key, 'last-used'));
        return false;
      }
      for (const p of SYSCALL_PROGRAMS) rmSync(join(dir, `link_${p}`), { force: true });
      return true;
    },
    SYSCALL_LOCK_MS,
    SYSCALL_LOCK,
  );
}

/**
 * Runs until the tracer is gone (released by anyone, or by this keeper after its idle time). A connection
 * kept open without tracing keeps neither the syscall programs attached nor the tracer resident.
 */
export async function runKeeper(native: NativeBinding, key: string): Promise<void> {
  if (!KEY_PATTERN.test(key)) return;
  const pidFile = join(STATE_ROOT, key, 'keeper');
  // A keeper killed earlier may have left its pid to another process.
  if (!keeperRuns(key)) rmSync(pidFile, { force: true });
  if (!claimPidFile(pidFile)) return;
  for (let wait = 1000; ; ) {
    await new Promise((r) => setTimeout(r, wait));
    if (!existsSync(join(PIN_ROOT, key))) {
      // Released: a trace may still take it back, and its folders (this keeper's pid file with them) return.
      if (releaseUnderWay(key)) continue;
      return;
    }
    // A tracer made again under this key has a keeper of its own. (No pid file or meta for a moment: a trace
    // is taking the tracer back, its state folder follows its pin folder.)
    const owner = readPidFile(pidFile);
    if (owner !== process.pid && owner > 0) return;
    const meta = readMeta(key);
    if (owner !== process.pid || !meta) continue;
    // A wakeup of node costs ~6 ms of the TCG guest's CPU (0.6% of a vCPU every second): once the syscall
    // programs are detached, every 5 s is soon enough, unless the idle release is due sooner.
    const attached = SYSCALL_PROGRAMS.some((p) => existsSync(join(PIN_ROOT, key, `link_${p}`)));
    wait = attached || (meta.idleMs > 0 && meta.idleMs < 60_000) ? 1000 : 5000;
    if (attached && Date.now() - lastUsed(key, meta) >= SYSCALL_IDLE_MS) await detachIdleSyscalls(native, key, meta).catch(() => false);
    if (meta.idleMs <= 0 || Date.now() - lastUsed(key, meta) < meta.idleMs) continue;
    if (await tracing(native, key).catch(() => false)) {
      touch(join(STATE_ROOT, key, 'last-used'));
      continue;
    }
    await withLock(() => releaseInBackground(key));
    return;
  }
}
